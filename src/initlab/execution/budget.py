r"""Will a population fit in memory? An estimate made before anything is allocated.

A run whose arrays cannot fit would otherwise be stopped by the system (the OOM killer) or
die with a ``MemoryError`` deep inside NumPy. :func:`check_fits` refuses it up front, with the
estimate and the memory available.

The estimate (bytes, :math:`s` the dtype's size, :math:`K` members, layer widths
:math:`n_0, \dots, n_L`, :math:`b` examples per step, :math:`m` training and :math:`m'`
held-out examples, :math:`T` recorded steps):

.. math::

    s K \Big[(3 + o) \sum_l n_l (n_{l-1} + 1) + 4 b \sum_{l \ge 1} n_l
    + 2 (m + m') n_1\Big] + 8 K T

- parameters: the initial copy, the trained copy, one gradient buffer, and :math:`o`
  optimizer state arrays (0 for gd/sgd, 1 for momentum, 2 for Adam);
- activations of one step: :math:`Z_l`, :math:`A_l`, :math:`dZ_l` and one temporary;
- the first layer's pre-activations on the training and held-out data (the sample engine's
  :math:`Z_1(0)` and :math:`C`), plus the sample engine's Gram matrix :math:`m^2 s`;
- the cost history, float64.

It leaves out the data themselves (already loaded) and small per-member vectors, so it is
a lower bound up to those; what matters is its order of magnitude.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from initlab import _limits

OPTIMIZER_STATES = {"gd": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
"""Arrays of optimizer state per parameter."""


def estimate_bytes(
    sizes: Sequence[int],
    K: int,
    *,
    m: int,
    m_test: int = 0,
    batch: int | None = None,
    steps: int,
    itemsize: int = 8,
    optimizer: str = "gd",
    engine: str = "direct",
    populations: int = 1,
) -> int:
    """Estimated peak bytes of training `K` members of ``sizes = [n_0, ..., n_L]``, split
    into `populations` trained at once (each with its own Gram matrix)."""
    params = sum(n * (n_prev + 1) for n_prev, n in itertools.pairwise(sizes))
    b = m if batch is None else min(batch, m)
    per_member = (3 + OPTIMIZER_STATES.get(optimizer, 2)) * params
    per_member += 4 * b * sum(sizes[1:]) + 2 * (m + m_test) * sizes[1]
    total = itemsize * K * per_member + 8 * K * steps
    if engine != "direct":
        total += populations * itemsize * m * (m + m_test)
    return int(total)


def available_bytes() -> int | None:
    """Memory the system can give now (:func:`initlab._limits.available_bytes`)."""
    return _limits.available_bytes()


def check_fits(need: int, what: str, available: int | None = None) -> None:
    """Raise an :class:`InitlabError` naming `what` if `need` bytes exceed what is available."""
    _limits.check_memory(
        need, what, "Use narrower layers, fewer runs per population, fewer iterations, or "
        "float32", available=available_bytes() if available is None else available,
    )  # fmt: skip
