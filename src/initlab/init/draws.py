r"""A population's weights as drawn, before a parametrization scales them, each seed once.

Member :math:`k` of a population draws its layers in order from its own generator
``make_rng(seeds[k])`` (:func:`initlab.init.parametrization.init_model`), straight into the
stacked arrays (:meth:`~initlab.init.base.Initializer.draw_into`). Its weights are a function
of its seed alone, so members of one seed have the same weights bit for bit: each distinct
seed is drawn once, into its first member, and copied into the others (a learning-rate
transfer's population is the rates times the seeds: 16 members, 2 seeds, 2 draws).

The draws do not depend on the parametrization either (its factors multiply them afterwards),
so the populations of SP, NTK and muP at one width can start from one draw
(:func:`draw_weights`, then ``init_model(..., weights=...)``; the coordinate check does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from initlab._rng import make_rng
from initlab._validation import InitlabError, check_number
from initlab.init import catalogue as _initializers
from initlab.init.base import Initializer


def layer_shapes(
    sizes: Sequence[int], depth: int = 1, branch_layers: int = 1
) -> list[tuple[int, int]]:
    """The weight shapes of :func:`~initlab.init.parametrization.init_model`'s network, in
    drawing order: ``W_in`` (n, d), the blocks' ``V`` (n, n) each, ``W_out`` (d_out, n)."""
    d, n, d_out = (int(check_number(k, v, low=1, integer=True))
                   for k, v in zip(("d", "width", "d_out"), sizes, strict=True))  # fmt: skip
    J = int(check_number("branch_layers", branch_layers, low=1, integer=True))
    L = int(check_number("depth", depth, low=0, integer=True))
    return [(n, d), *[(n, n)] * (L * J), (d_out, n)]


def draw_stacked(
    initializer: Initializer,
    shapes: Sequence[tuple[int, ...]],
    seeds: Sequence[int],
    dtype: Any,
    out: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """One array ``(K, *shape)`` per shape (`out`'s, when given: every number is written
    again): member k's layers drawn in order from ``make_rng(seeds[k])``; a seed met again is
    copied from its first member (the same bits: an initializer is a function of its
    generator)."""
    if out is None:
        Ws = [np.empty((len(seeds), *shape), dtype=dtype) for shape in shapes]
    else:
        Ws = check_weights(out, shapes, len(seeds), dtype)
    first: dict[int, int] = {}
    for k, seed in enumerate(seeds):
        if seed in first:
            for W in Ws:
                W[k] = W[first[seed]]
            continue
        first[seed] = k
        rng = make_rng(seed)
        for W in Ws:
            initializer.draw_into(W[k], rng)
    return Ws


def draw_weights(
    sizes: Sequence[int],
    seeds: Sequence[int],
    *,
    depth: int = 1,
    branch_layers: int = 1,
    init: str | Mapping[str, Any] = "he",
    dtype: Any = np.float64,
    out: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    r"""The weights of a population of :func:`~initlab.init.parametrization.init_model` before
    its parametrization's factors and ``zero_branch``: ``W_in`` (K, n, d), each block's
    ``V`` (K, n, n), ``W_out`` (K, d_out, n), drawn by `init` (SP's weights).

    ``init_model(sizes, seeds, ..., weights=draw_weights(sizes, seeds, ...))`` is
    ``init_model(sizes, seeds, ...)`` bit for bit, for every parametrization. `out`: arrays
    of these shapes and dtype to draw into (another population's, no longer needed: no
    fresh pages).
    """
    if not seeds:
        raise InitlabError("draw_weights needs at least one seed")
    shapes = layer_shapes(sizes, depth, branch_layers)
    return draw_stacked(_initializers.get(init), shapes, [int(s) for s in seeds], dtype, out)


def check_weights(
    weights: Sequence[np.ndarray], shapes: Sequence[tuple[int, int]], K: int, dtype: Any
) -> list[np.ndarray]:
    """`weights` (given to ``init_model``) checked against the network's shapes and dtype."""
    want = [(K, *s) for s in shapes]
    got = [tuple(W.shape) for W in weights]
    if got != want or any(W.dtype != np.dtype(dtype) for W in weights):
        raise InitlabError(
            f"init_model's weights must be draw_weights' arrays for these sizes and seeds: "
            f"shapes {want} of {np.dtype(dtype)}; got {got} of "
            f"{sorted({str(W.dtype) for W in weights})}"
        )
    return list(weights)
