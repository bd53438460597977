"""Per-member histograms of a population's values, and finite values as JSON lists: shared by
the NumPy recorder (:mod:`initlab.analysis.diagnostics`) and the PyTorch one
(:mod:`initlab.torch`)."""

from __future__ import annotations

import numpy as np

Array = np.ndarray
__all__ = ["finite_list", "member_histograms"]


def member_histograms(V: Array, bins: int) -> tuple[Array, Array]:
    """Per-member histograms of ``V`` (K, ...) on `bins` equal bins from min to max.

    Counts equal ``np.histogram(V[k], bins, range=(min, max))`` of the finite values
    (non-finite values are not counted; a constant member gets ``min -+ 0.5`` as numpy does);
    a member with no finite value gets zero counts and NaN edges.
    """
    K = V.shape[0]
    x = V.reshape(K, -1).astype(np.float64, copy=False)
    finite = np.isfinite(x)
    lo = np.where(finite, x, np.inf).min(axis=1)
    hi = np.where(finite, x, -np.inf).max(axis=1)
    empty = ~(lo <= hi)
    lo[empty], hi[empty] = 0.0, 0.0
    flat = lo == hi
    lo[flat] -= 0.5
    hi[flat] += 0.5
    edges = np.linspace(lo, hi, bins + 1, axis=1)
    x = np.where(finite, x, lo[:, None])
    # numpy's own binning (np.histogram, equal bins), row by row
    idx = np.clip(((x - lo[:, None]) / (hi - lo)[:, None] * bins).astype(np.intp), 0, bins - 1)
    idx -= x < np.take_along_axis(edges, idx, axis=1)
    idx += (x >= np.take_along_axis(edges, idx + 1, axis=1)) & (idx != bins - 1)
    idx[~finite] = bins  # an overflow bin, dropped below
    idx += (bins + 1) * np.arange(K)[:, None]
    counts = np.bincount(idx.ravel(), minlength=K * (bins + 1)).reshape(K, bins + 1)[:, :bins]
    edges[empty] = np.nan
    return counts, edges


def finite_list(values: Array, integer: bool = False) -> list[float | int | None]:
    """`values` as a JSON list: floats (ints with `integer`), None where not finite."""
    cast = int if integer else float
    return [cast(v) if np.isfinite(v) else None for v in values]
