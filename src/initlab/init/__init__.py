"""Initial parameters: the scheme catalogue, gains, truncated normals, LSUV, building a network.

(The submodules ``catalogue`` and ``lsuv`` are not shadowed by functions of the same name here:
``initlab.init.catalogue.catalogue()`` and ``initlab.init.lsuv.lsuv()``, or ``initlab.lsuv``.)
"""

from initlab.init.build import init_network, init_parameters, init_population
from initlab.init.catalogue import available, compute_fans, get, variance_scaling
from initlab.init.gains import calculate_gain

__all__ = [
    "available",
    "calculate_gain",
    "compute_fans",
    "get",
    "init_network",
    "init_parameters",
    "init_population",
    "variance_scaling",
]
