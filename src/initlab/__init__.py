"""initlab: study how parameter initialization shapes neural-network training.

Array layout everywhere: ``X`` is ``(n_features, n_examples)``, ``Y`` is
``(n_outputs, n_examples)``,
``W_l`` is ``(K, n_l, n_{l-1})`` with a leading population axis (see :mod:`initlab.nn.network`).

The package is laid out by the flow of data, each stage importing only the stages before it::

    nn -> init -> data -> analysis -> results -> specs -> execution -> studies
       -> report -> torch -> playground -> cli
"""

from initlab._rng import make_rng
from initlab._validation import DataError, InitlabError, SpecError
from initlab._version import __version__
from initlab.init.build import init_network, init_population
from initlab.init.catalogue import get as get_initializer
from initlab.init.catalogue import variance_scaling
from initlab.init.gains import calculate_gain
from initlab.init.lsuv import lsuv
from initlab.nn.network import Network, gradient_check
from initlab.nn.training import History, train

__all__ = [
    "DataError",
    "History",
    "InitlabError",
    "Network",
    "SpecError",
    "__version__",
    "calculate_gain",
    "get_initializer",
    "gradient_check",
    "init_network",
    "init_population",
    "lsuv",
    "make_rng",
    "train",
    "variance_scaling",
]
