r"""Coordinate checks: does each layer's activation size stay constant as the width grows?

A coordinate check (Yang et al. 2021, "Tensor Programs V", the ``mup`` package) trains the
same architecture at several widths :math:`n_1 < n_2 < \dots` for a few steps and records,
per layer and step, a typical coordinate size of that layer's output, e.g.
:math:`s = \operatorname{mean}|x|` (``x.abs().mean()`` in ``mup``). Under a parametrization
that is stable in width, :math:`s` does not depend on :math:`n`; under the standard one,
some layers' :math:`s` grows like a power of :math:`n` after the first update.

This module is the framework-free part: given the sizes, it fits the exponent

.. math::

    \log s(n) = c + \beta \log n

by least squares over the widths (:func:`fit_slope`) and calls a layer at a step
``"stable"`` when :math:`|\beta| \le` `band`, ``"grows"`` when :math:`\beta >` `band`,
``"vanishes"`` when :math:`\beta < -` `band` (:func:`verdict`). The default band,
:data:`DEFAULT_BAND` = 0.25, lies halfway between 0 (stable) and 1/2, the smallest
exponent of the blow-ups a coordinate check is meant to catch (a hidden layer's
coordinates growing like :math:`\sqrt n` after one step of SGD in the standard
parametrization; the output's grow like :math:`n`). It is a chosen threshold, not a
statistical test: with few widths or noisy sizes, look at the fitted slopes themselves.

Who measures the sizes does not matter: :mod:`initlab.torch` measures them on any PyTorch
module; initlab's own networks can feed the same table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from initlab._validation import InitlabError, check_number

DEFAULT_BAND = 0.25
"""Largest :math:`|\\beta|` called ``"stable"`` (see the module docstring)."""
VERDICTS = ("stable", "grows", "vanishes", "undetermined")


def fit_slope(widths: Sequence[float], sizes: Sequence[float]) -> float:
    r"""Least-squares slope :math:`\beta` of :math:`\log s` against :math:`\log n`.

    Parameters
    ----------
    widths : sequence of float (W,)
        Positive widths :math:`n`.
    sizes : sequence of float (W,)
        The measured sizes :math:`s(n)`. Entries that are not finite and positive (a
        diverged run, an all-zero layer) are left out.

    Returns
    -------
    float
        :math:`\beta = \operatorname{cov}(\log n, \log s) / \operatorname{var}(\log n)` over
        the kept points; NaN when fewer than two distinct widths are kept.

    Examples
    --------
    >>> round(fit_slope([64, 128, 256], [1.0, 2.0, 4.0]), 12)
    1.0
    """
    n = np.asarray(widths, dtype=float)
    s = np.asarray(sizes, dtype=float)
    if n.ndim != 1 or s.shape != n.shape:
        raise InitlabError(f"widths {n.shape} and sizes {s.shape} must be 1-D of one length")
    if not (n > 0).all():
        raise InitlabError(f"widths must be positive; got {n.tolist()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.isfinite(s) & (s > 0)
    x, y = np.log(n[keep]), np.log(s[keep])
    if np.unique(x).size < 2:
        return math.nan
    x = x - x.mean()
    return float(x @ (y - y.mean()) / (x @ x))


def verdict(slope: float, band: float = DEFAULT_BAND) -> str:
    """``"stable"`` if ``|slope| <= band``, ``"grows"`` above, ``"vanishes"`` below,
    ``"undetermined"`` for a NaN slope."""
    band = check_number("band", band, low=0)
    if not math.isfinite(slope):
        return "undetermined"
    if abs(slope) <= band:
        return "stable"
    return "grows" if slope > 0 else "vanishes"


MIN_WIDTHS = 4
"""Fewest widths whose fitted slope :func:`ladder_warning` does not warn about."""
MIN_RANGE = 8.0
"""Smallest ratio largest / smallest width :func:`ladder_warning` does not warn about."""


def ladder_warning(widths: Sequence[float]) -> str | None:
    r"""A warning when `widths` are too few (< :data:`MIN_WIDTHS`) or span too little
    (largest / smallest < :data:`MIN_RANGE`) for the slopes to mean much; else None.

    The sizes carry finite-width corrections that decay in :math:`n` (e.g.
    :math:`O(n^{-1/2})` beside a :math:`\Theta(1)` limit); over a short ladder near the base
    width they tilt the fitted slope past the band although the limit is flat.
    """
    n = sorted(float(w) for w in widths)
    ratio = n[-1] / n[0] if n and n[0] > 0 else math.inf
    if len(n) >= MIN_WIDTHS and ratio >= MIN_RANGE:
        return None
    return (
        f"warning: {len(n)} widths spanning {ratio:.3g}x ({n[0]:g}..{n[-1]:g}): slopes from "
        f"fewer than {MIN_WIDTHS} widths or a range under {MIN_RANGE:g}x are unreliable "
        "(finite-width corrections look like trends); treat the verdicts as provisional"
    )


@dataclass(frozen=True)
class CoordRow:
    """One layer at one step: its sizes over the widths, the fitted slope and the verdict."""

    layer: str
    step: int
    sizes: tuple[float, ...]
    slope: float
    verdict: str


def coord_check_table(
    widths: Sequence[float],
    sizes: Sequence[Sequence[Sequence[float]]] | np.ndarray,
    *,
    layers: Sequence[str] | None = None,
    steps: Sequence[int] | None = None,
    band: float = DEFAULT_BAND,
) -> list[CoordRow]:
    """One :class:`CoordRow` per layer and step, layer by layer.

    Parameters
    ----------
    widths : sequence of float (W,)
    sizes : array-like (L, S, W)
        ``sizes[layer][step][w]``: the size of `layer`'s output at `step` for width
        ``widths[w]``.
    layers : sequence of str (L,), optional
        Layer names; default ``"1", "2", ...``.
    steps : sequence of int (S,), optional
        Step numbers; default ``0 .. S-1``.
    band : float
        See :func:`verdict`.
    """
    s = np.asarray(sizes, dtype=float)
    if s.ndim != 3 or s.shape[2] != len(widths):
        raise InitlabError(
            f"sizes has shape {s.shape}: expected (layers, steps, {len(widths)} widths)"
        )
    layers = [str(l + 1) for l in range(s.shape[0])] if layers is None else list(layers)
    steps = list(range(s.shape[1])) if steps is None else [int(t) for t in steps]
    if len(layers) != s.shape[0] or len(steps) != s.shape[1]:
        raise InitlabError(
            f"{len(layers)} layer names and {len(steps)} steps for sizes of shape {s.shape}"
        )
    rows = []
    for l, name in enumerate(layers):
        for t, step in enumerate(steps):
            slope = fit_slope(widths, s[l, t])
            rows.append(CoordRow(name, step, tuple(s[l, t].tolist()), slope, verdict(slope, band)))
    return rows


def format_rows(widths: Sequence[float], rows: Sequence[CoordRow]) -> str:
    """A plain-text table of `rows`: layer, step, the size at each width, slope, verdict."""
    head = ["layer", "step", *(f"n={w:g}" for w in widths), "slope", "verdict"]
    body = [
        [r.layer, str(r.step), *(f"{v:.4g}" for v in r.sizes), f"{r.slope:+.3f}", r.verdict]
        for r in rows
    ]
    return text_table([head, *body])


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of strings as aligned columns, the first row a header underlined by dashes."""
    width = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in width))
    return "\n".join(lines)
