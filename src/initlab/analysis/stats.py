r"""Statistics over seeds: the mean and a 95% confidence interval for it.

For N finite values with mean :math:`\bar x` and sample standard deviation :math:`s`, the
interval is Student's :math:`\bar x \pm t_{0.975, N-1}\, s / \sqrt{N}`: it covers the mean
over seeds (the expected result of the method) 95% of the time if the values are roughly
normal. With N < 2 there is no interval (None). Diverged members (NaN) are left out and
counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special as _special  # the t quantile; scipy.stats would cost ~0.5 s to import


def mean_interval(
    values: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and confidence interval over axis 0, ignoring NaN.

    Parameters
    ----------
    values : ndarray (N, ...)
        One row per seed.
    level : float
        Confidence level.

    Returns
    -------
    mean, low, high : ndarray (...)
        NaN where fewer than 2 finite values exist (``low``/``high``) or none (``mean``).
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    safe = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=0) / n
        var = (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0) / (n - 1)
        # stdtrit(df, p) is the t quantile itself: scipy.stats.t.ppf calls it
        half = _special.stdtrit(np.maximum(n - 1, 1), 0.5 + level / 2) * np.sqrt(var / n)
    half = np.where(n >= 2, half, np.nan)
    return mean, mean - half, mean + half


def summarize(values: list[float | None] | np.ndarray) -> dict[str, Any]:
    """``{"mean", "low", "high", "n"}`` of scalar results over seeds (None for NaN)."""
    arr = np.asarray(values, dtype=np.float64)  # None (a diverged run) becomes NaN
    mean, low, high = mean_interval(arr[:, None])
    return {
        "mean": _num(mean[0]),
        "low": _num(low[0]),
        "high": _num(high[0]),
        "n": int(np.isfinite(arr).sum()),
    }


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
