r"""Random streams: every random draw in initlab comes from an explicit generator.

Two streams exist.

``"default"``
    ``numpy.random.default_rng(seed)``: NumPy's recommended PCG64 generator.
``"legacy"``
    a private ``numpy.random.RandomState(seed)``. Drawing
    ``rng.standard_normal((n_l, n_prev))`` layer after layer from it gives exactly the
    numbers of published code that called ``np.random.seed(seed)`` and then
    ``np.random.randn(n_l, n_prev)`` per layer, without touching NumPy's global state.

Initializers only call methods that both generator types share (``standard_normal``,
``uniform``, ``normal``, ``random`` and ``permutation`` with a ``size`` argument), so one
initializer serves both streams.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

RNG: TypeAlias = np.random.Generator | np.random.RandomState
"""A random generator accepted by every random function in initlab."""

STREAMS = ("default", "legacy")


def make_rng(seed: int | RNG | None, stream: str = "default") -> RNG:
    """Return a generator for `seed` on the named `stream`.

    Parameters
    ----------
    seed : int, Generator, RandomState or None
        An integer seed (``>= 0``), or a generator, returned unchanged. ``None`` draws
        fresh entropy from the operating system (results are then not reproducible).
    stream : {"default", "legacy"}
        ``"default"`` gives ``numpy.random.default_rng(seed)``; ``"legacy"`` gives a
        private ``numpy.random.RandomState(seed)`` (see the module docstring).

    Returns
    -------
    Generator or RandomState
    """
    if isinstance(seed, np.random.Generator | np.random.RandomState):
        return seed
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}; got {stream!r}")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise ValueError(f"seed must be a non-negative integer or None; got {seed!r}")
    if stream == "legacy":
        if seed is not None and seed >= 2**32:
            raise ValueError(f"the legacy stream needs a seed below 2**32; got {seed}")
        return np.random.RandomState(seed)
    return np.random.default_rng(seed)


def child_seeds(seed: int, n: int) -> list[int]:
    """Return `n` independent integer seeds derived from `seed` (``SeedSequence.spawn``).

    Used where one user seed must give several independent runs, e.g. a data split and
    the model's initialization, or N repetitions of a run.
    """
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
