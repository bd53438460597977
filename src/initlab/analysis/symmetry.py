r"""Symmetry of a layer: how many of its units are distinct.

A zeros (or any constant) initialization makes every hidden unit of a layer compute the same
function, and gradient descent keeps them equal: the layer behaves as one unit however wide it
is. :func:`distinct_units` counts the distinct rows of :math:`[W \mid b]` exactly, in about
linear time, so the diagnostics can record it at every recorded iteration.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from initlab._validation import InitlabError, check_number

Array = np.ndarray


def distinct_units(W: Array, b: Array, tol: float = 1e-10) -> Array | float:
    r"""Number of distinct hidden units: distinct rows of :math:`[W \mid b]`.

    Rows :math:`r_i, r_j` of :math:`R = [W \mid b]` (shape ``(n_l, n_{l-1} + 1)``) are the
    same unit when

    .. math::

        \lVert r_i - r_j \rVert_2 \le \text{tol} \cdot \max_q \lVert r_q \rVert_2,

    and the count is the number of connected components of that relation (so all-zero rows
    are one unit). Computed exactly, in :math:`O(n_l n_{l-1})` unless many rows nearly
    coincide: rows are sorted by their projection on a fixed unit vector (rows closer than
    the threshold project closer than it) and only neighbours are compared.

    Parameters
    ----------
    W : ndarray (K, n_l, n_{l-1}) or (n_l, n_{l-1})
    b : ndarray (K, n_l, 1) or (n_l, 1)
    tol : float
        Relative tolerance (>= 0).

    Returns
    -------
    ndarray (K,) of float, or float for 2-D input
        The counts; NaN for a member whose parameters are not all finite.
    """
    tol = check_number("tol", tol, low=0)
    W, b = np.asarray(W), np.asarray(b)
    if W.ndim not in (2, 3) or b.shape != (*W.shape[:-1], 1):
        raise InitlabError(
            f"W has shape {W.shape} and b {b.shape}: expected W (K, n_l, n_prev) with "
            "b (K, n_l, 1), or W (n_l, n_prev) with b (n_l, 1)"
        )
    if W.ndim == 2:
        return distinct_rows(W, b[:, 0], tol)
    counts = np.full(W.shape[0], float(W.shape[1]))
    for k in np.flatnonzero(~_all_apart(W, b[:, :, 0], tol)):
        counts[k] = distinct_rows(W[k], b[k, :, 0], tol)
    return counts


def _plain_range(dtype: np.dtype) -> tuple[float, float]:
    """Scales of ``[W | b]`` whose squared row norms neither overflow nor underflow in
    `dtype` (rows of up to ~1e6 entries): 1e-100..1e100 in float64, 1e-15..1e15 in float32
    (whose squares overflow above ~1.8e19); outside it, rows are divided by their scale."""
    return (1e-100, 1e100) if np.result_type(dtype, np.float32).itemsize >= 8 else (1e-15, 1e15)


def _all_apart(W: Array, b: Array, tol: float) -> Array:
    """Per member, True when its rows are surely all distinct: every gap between neighbouring
    projections (as in :func:`distinct_rows`) exceeds twice the threshold, all members at
    once (a single finite row counts as distinct). The margin covers the rounding of the
    batched products (relative ~1e-13 against a threshold tol = 1e-10 or more); a member it
    does not clear takes the exact count."""
    with np.errstate(all="ignore"):
        scale = np.maximum(np.abs(W).max(axis=(1, 2)), np.abs(b).max(axis=1))
        if W.shape[1] == 1:  # one row: one unit, unless it is not finite
            return np.isfinite(scale)
        lo, hi = _plain_range(np.result_type(W, b))
        plain = np.isfinite(scale) & (scale > lo) & (scale < hi)
        thr = tol * np.sqrt(np.max(np.einsum("kij,kij->ki", W, W) + b * b, axis=1))
        u = _direction(W.shape[2] + 1)
        gaps = np.diff(np.sort(W @ u[:-1] + b * u[-1], axis=1), axis=1)
        return plain & (thr > 0) & (gaps > 2.0 * thr[:, None]).all(axis=1)


@lru_cache(maxsize=16)
def _direction(d: int) -> Array:
    """A fixed unit vector of length `d` (its own generator, so no global state)."""
    u = np.random.default_rng(0x5EED).standard_normal(d)
    u /= np.linalg.norm(u)
    u.flags.writeable = False
    return u


def distinct_rows(W: Array, b: Array, tol: float) -> float:
    """One member's count, ``W`` (n_l, n_prev) and ``b`` (n_l,).

    The connected components of ``||r_i - r_j|| <= tol max ||r||`` over rows of ``[W | b]``.
    """
    scale = float(np.max([W.max(), -W.min(), b.max(), -b.min()]))  # NaN propagates
    if not math.isfinite(scale):
        return math.nan
    if scale == 0:
        return 1.0
    lo, hi = _plain_range(np.result_type(W, b))
    if not lo < scale < hi:  # the relation is scale-free: rescale, or squares over/underflow
        W, b = W / scale, b / scale
    thr = tol * math.sqrt(np.max(np.einsum("ij,ij->i", W, W) + b * b))
    u = _direction(W.shape[1] + 1)
    p = W @ u[:-1] + b * u[-1]
    order = np.argsort(p, kind="stable")
    # |p_i - p_j| <= ||r_i - r_j||: a component never spans a gap wider than thr
    cuts = np.flatnonzero(np.diff(p[order]) > thr) + 1
    count = 0
    for block in np.split(order, cuts):
        count += _components(W, b, block, thr) if block.size > 1 else 1
    return float(count)


def _components(W: Array, b: Array, rows: Array, thr: float) -> int:
    """Connected components among `rows`; a pair already joined is never compared."""
    label = np.arange(rows.size)
    for a, i in enumerate(rows):
        if (label == label[0]).all():
            break
        later = (label != label[a]) & (np.arange(rows.size) > a)
        dW = W[rows[later]] - W[i]
        dist = np.sqrt(np.einsum("ij,ij->i", dW, dW) + (b[rows[later]] - b[i]) ** 2)
        label[np.isin(label, label[later][dist <= thr])] = label[a]
    return np.unique(label).size
