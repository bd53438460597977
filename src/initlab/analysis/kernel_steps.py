r"""The layer steps of the infinite-width kernel recursion (:mod:`initlab.analysis.kernels`
states it): a dense layer, an activation, a residual block, each mapping the kernels
between two sets of inputs to the next layer's, and the loop that runs them by blocks of
rows.

Every array is float64; an activation is evaluated in row blocks of at most :data:`BLOCK`
kernel entries, so memory stays a few times that of the kernel matrix, and the blocked
loop (:func:`run_blocks`) does the same operations on every entry as whole steps (the
same bits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from initlab.analysis.dual import CLOSED_FORMS, _variance, dual
from initlab.nn import activations as _activations

Array = np.ndarray
BLOCK = 1 << 16
"""Kernel entries per block of rows of an activation step: the closed forms' dozen
elementwise passes then run on arrays that stay in cache (half the time of whole 1024 x 1024
kernels, measured in ``BENCHMARKS.md``; every entry's operations are the same)."""


@dataclass
class State:
    """Kernels between two sets: diagonals ``k1`` (m1,), ``k2`` (m2,), ``K``, ``T`` (m1, m2).

    ``row0``: None for whole kernels; else ``K``, ``T`` and ``k1`` are the rows from
    ``row0`` on of whole ones (:func:`run_blocks`), ``k2`` all of its."""

    k1: Array
    k2: Array
    K: Array
    T: Array
    same: bool = False
    row0: int | None = None

    def scaled(self, a: float) -> State:
        return State(a * self.k1, a * self.k2, a * self.K, a * self.T, self.same)

    def plus(self, other: State) -> State:
        return State(
            self.k1 + other.k1, self.k2 + other.k2, self.K + other.K, self.T + other.T, self.same
        )


@dataclass(frozen=True)
class Dense:
    r"""A dense layer of fan-in ``fan_in``: :math:`K' = \sigma_w^2 K + \sigma_b^2`,
    :math:`\Theta' = \lambda_W\, n\, K + \lambda_b + \sigma_w^2\, \Theta`."""

    sigma_w2: float
    sigma_b2: float
    fan_in: int
    lam_w: float
    lam_b: float

    def __call__(self, st: State, nodes: int) -> State:
        w2, b2 = self.sigma_w2, self.sigma_b2
        T = self.lam_w * self.fan_in * st.K + self.lam_b + w2 * st.T
        return State(w2 * st.k1 + b2, w2 * st.k2 + b2, w2 * st.K + b2, T, st.same, st.row0)


@dataclass(frozen=True)
class Act:
    r"""An activation :math:`\phi`: :math:`K' = E[\phi(u)\phi(u')]`,
    :math:`\Theta' = E[\phi'(u)\phi'(u')] \odot \Theta` (:func:`initlab.analysis.dual.dual`)."""

    act: _activations.Activation

    def __call__(self, st: State, nodes: int) -> State:
        if st.same and self.act.name not in CLOSED_FORMS:
            return self._symmetric(st, nodes)
        K, T = np.empty_like(st.K), np.empty_like(st.T)
        rows = max(1, BLOCK // max(st.K.shape[1], 1))
        for i in range(0, K.shape[0], rows):
            E, Ed = dual(
                self.act, st.k1[i : i + rows, None], st.k2[None, :], st.K[i : i + rows], nodes=nodes
            )
            K[i : i + rows], T[i : i + rows] = E, Ed * st.T[i : i + rows]
        k1 = _variance(self.act, st.k1)
        if st.same:  # K(x, x) is the variance exactly: a rounding below c = 1 would grow by
            i = np.arange(K.shape[0])  # chi_1 per layer in the chaotic phase
            K[i, i + (st.row0 or 0)] = k1
        whole = st.same and st.row0 is None
        k2 = k1 if whole else _variance(self.act, st.k2)
        return State(k1, k2, K, T, st.same, st.row0)

    def _symmetric(self, st: State, nodes: int) -> State:
        """One set of inputs, quadrature: the upper triangle only, half the evaluations."""
        i, j = np.triu_indices(st.K.shape[0])
        E, Ed = dual(self.act, st.k1[i], st.k1[j], st.K[i, j], nodes=nodes)
        K, T = np.empty_like(st.K), np.empty_like(st.T)
        K[i, j] = K[j, i] = E
        T[i, j] = T[j, i] = Ed * st.T[i, j]
        k1 = _variance(self.act, st.k1)
        np.fill_diagonal(K, k1)
        return State(k1, k1, K, T, True)


@dataclass(frozen=True)
class Residual:
    """``x' = s x + alpha f(x)``: kernels ``s^2 K + alpha^2 K_f`` (cross terms vanish, the
    branch's last weights being zero-mean and independent of x)."""

    skip: float
    alpha: float
    branch: tuple

    def __call__(self, st: State, nodes: int) -> State:
        out = run(self.branch, st, nodes).scaled(self.alpha**2)
        return out.plus(st.scaled(self.skip**2)) if self.skip else out


def run(steps: Sequence, st: State, nodes: int, record: list | None = None) -> State:
    """`steps` applied to `st` in order (by blocks of rows when every step is dense or a
    closed form and no layer is recorded); with `record`, ``(K, T)`` after each dense step."""
    if record is None and all(
        isinstance(s, Dense) or (isinstance(s, Act) and s.act.name in CLOSED_FORMS) for s in steps
    ):
        return run_blocks(steps, st, nodes)
    for step in steps:
        st = step(st, nodes)
        if record is not None and isinstance(step, Dense):
            record.append((st.K, st.T))
    return st


def run_blocks(steps: Sequence, st: State, nodes: int) -> State:
    """:func:`run` by blocks of rows of at most :data:`BLOCK` entries, every step on one
    block before the next: each entry of a layer's kernels depends only on the same entry
    before it and on the two diagonals (:math:`K(x, x)`, :math:`K(x', x')`), so the numbers
    are the whole steps' (the same operations on every entry), and a closed-form network's
    dozens of elementwise passes stay in cache (Dense layers and closed-form activations)."""
    m1, m2 = st.K.shape
    rows = max(1, BLOCK // max(m2, 1))
    K, T, k1 = np.empty_like(st.K), np.empty_like(st.T), []
    sub = st
    for i in range(0, m1, rows):
        sub = State(st.k1[i : i + rows], st.k2, st.K[i : i + rows], st.T[i : i + rows],
                     st.same, i)  # fmt: skip
        for step in steps:
            sub = step(sub, nodes)
        K[i : i + rows], T[i : i + rows] = sub.K, sub.T
        k1.append(sub.k1)
    k1_all = np.concatenate(k1) if k1 else st.k1
    return State(k1_all, k1_all if st.same else sub.k2, K, T, st.same)


def symmetric(A: Array, tile: int = 128) -> Array:
    """``(A + A.T) / 2`` tile by tile (each tile beside its mirror image in cache; a
    transposed operand across a whole large matrix misses the cache at every entry): the
    same operations on every entry, so the same bits."""
    out = np.empty_like(A)
    for i in range(0, A.shape[0], tile):
        for j in range(0, A.shape[1], tile):
            block = out[i : i + tile, j : j + tile]
            np.add(A[i : i + tile, j : j + tile], A[j : j + tile, i : i + tile].T, out=block)
            block /= 2
    return out
