r"""Statistics over seeds: the mean and a 95% confidence interval for it.

For N finite values with mean :math:`\bar x` and sample standard deviation :math:`s`, the
interval is Student's :math:`\bar x \pm t_{0.975, N-1}\, s / \sqrt{N}`: it covers the mean
over seeds (the expected result of the method) 95% of the time if the values are roughly
normal. With N < 2 there is no interval (None). Diverged members (NaN) are left out and
counted.

Numerics. The mean and standard deviation are computed on the values divided by their
largest magnitude :math:`S`, then multiplied back, so values up to the largest float
(costs of 1e300 from an exploding run) neither overflow nor lose the interval: the sum of
squares of the scaled values is at most N. A bound whose true value lies beyond float64
(:math:`|\bar x| + h > 1.8 \cdot 10^{308}`) is not returned as an infinity: it is NaN, and
:func:`summarize` says why in ``note``.

Convention for bounded quantities (costs are :math:`\ge 0`, accuracies in [0, 1]): the
t interval is symmetric, and for a few skewed values (one seed at cost 4e6, others near 0)
it reaches below 0. Callers pass ``bounds``; an interval end beyond them is clipped to the
bound, and :func:`summarize` says so in ``note`` (the interval is then no longer
symmetric about the mean, so show it as ``[low, high]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special as _special  # the t quantile; scipy.stats would cost ~0.5 s to import

Bounds = tuple[float | None, float | None]
COST: Bounds = (0.0, None)
"""A cost (cross-entropy) is never negative."""
RATE: Bounds = (0.0, 1.0)
"""An accuracy is a fraction."""


def mean_interval(
    values: np.ndarray, level: float = 0.95, *, bounds: Bounds = (None, None)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and confidence interval over axis 0, ignoring NaN and infinities.

    Parameters
    ----------
    values : ndarray (N, ...)
        One row per seed.
    level : float
        Confidence level.
    bounds : (low, high)
        The range of the quantity (None: unbounded); interval ends are clipped to it.

    Returns
    -------
    mean, low, high : ndarray (...)
        NaN where fewer than 2 finite values exist (``low``/``high``) or none (``mean``),
        and where a bound is beyond the float64 range.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    scale = np.max(np.where(finite, np.abs(values), 0.0), axis=0, initial=0.0)
    scale = np.where(scale > 0, scale, 1.0)
    x = np.where(finite, values / scale, 0.0)  # |x| <= 1
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean_s = x.sum(axis=0) / n
        var_s = (np.where(finite, x - mean_s, 0.0) ** 2).sum(axis=0) / (n - 1)
        # stdtrit(df, p) is the t quantile itself: scipy.stats.t.ppf calls it
        half_s = _special.stdtrit(np.maximum(n - 1, 1), 0.5 + level / 2) * np.sqrt(var_s / n)
        mean = mean_s * scale
        low, high = (mean_s - half_s) * scale, (mean_s + half_s) * scale
    low = np.where((n >= 2) & np.isfinite(low), low, np.nan)
    high = np.where((n >= 2) & np.isfinite(high), high, np.nan)
    lo, hi = bounds
    if lo is not None:
        low = np.where(low < lo, lo, low)
    if hi is not None:
        high = np.where(high > hi, hi, high)
    return mean, low, high


def summarize(
    values: list[float | None] | np.ndarray, *, bounds: Bounds = (None, None)
) -> dict[str, Any]:
    """``{"mean", "low", "high", "n", "note"}`` of scalar results over seeds.

    None stands for NaN (a diverged run, left out). ``note`` is None, or says why the
    interval is clipped to `bounds` or missing though there are two values or more.
    """
    arr = np.asarray(values, dtype=np.float64)  # None (a diverged run) becomes NaN
    mean, low, high = mean_interval(arr[:, None], bounds=bounds)
    raw = mean_interval(arr[:, None])
    n = int(np.isfinite(arr).sum())
    notes = []
    if n >= 2 and not (np.isfinite(raw[1][0]) and np.isfinite(raw[2][0])):
        notes.append("the interval is beyond the float64 range (values up to "
                     f"{np.nanmax(np.abs(arr[np.isfinite(arr)])):.3g})")  # fmt: skip
    for end, name, bound in ((raw[1][0], "low", bounds[0]), (raw[2][0], "high", bounds[1])):
        if bound is None or not np.isfinite(end):
            continue
        if end < bound if name == "low" else end > bound:
            notes.append(f"{name} end clipped to {bound:g} (Student's t gave {end:.3g})")
    return {
        "mean": _num(mean[0]),
        "low": _num(low[0]),
        "high": _num(high[0]),
        "n": n,
        "note": "; ".join(notes) or None,
    }


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    r"""Clopper-Pearson interval for a proportion: `k` successes in `n` trials.

    .. math::

        p_{low} = B^{-1}\!\left(\tfrac{\alpha}{2}; k, n - k + 1\right), \qquad
        p_{high} = B^{-1}\!\left(1 - \tfrac{\alpha}{2}; k + 1, n - k\right),

    :math:`B^{-1}` the inverse regularized incomplete beta function, :math:`\alpha = 1 -`
    `level`; :math:`p_{low} = 0` when k = 0 and :math:`p_{high} = 1` when k = n. It covers
    the true proportion at least `level` of the time (exact, conservative).
    """
    if not 0 <= k <= n or n < 1:
        raise ValueError(f"binomial_interval needs 0 <= k <= n and n >= 1; got k={k}, n={n}")
    alpha = 1.0 - level
    low = 0.0 if k == 0 else float(_special.betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(_special.betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high
