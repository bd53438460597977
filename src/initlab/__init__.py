"""initlab: study how parameter initialization shapes neural-network training.

Array layout everywhere: ``X`` is ``(n_features, n_examples)``, ``Y`` is ``(1, n_examples)``,
``W_l`` is ``(K, n_l, n_{l-1})`` with a leading population axis (see :mod:`initlab.network`).
"""

from ._rng import make_rng
from ._validation import DataError, InitlabError, SpecError
from .network import Network, gradient_check, init_network, init_population
from .training import History, train

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "History",
    "InitlabError",
    "Network",
    "SpecError",
    "__version__",
    "gradient_check",
    "init_network",
    "init_population",
    "make_rng",
    "train",
]
