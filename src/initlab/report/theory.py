"""Figures of mean-field signal-propagation theory (:mod:`initlab.analysis.theory`).

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot's state, so it
shows inline in a notebook and saves headless; nothing calls ``plt.show()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from initlab._validation import InitlabError
from initlab.analysis.theory import (
    ActivationLike,
    Measurement,
    Prediction,
    critical_sigma_w2,
    phase_diagram,
)
from initlab.nn import activations as _activations

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _figure(ax: Axes | None, ncols: int = 1, width: float = 5.5) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    if ax is not None:
        return ax.figure, [ax]
    fig = Figure(figsize=(width * ncols, 4.2), layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def plot_phase_diagram(
    act: ActivationLike = "tanh",
    mark: tuple[float, float] | None = None,
    ax: Axes | None = None,
    *,
    sigma_w2_grid: Any = None,
    sigma_b2_grid: Any = None,
) -> Figure:
    r"""Order-to-chaos phase diagram: :math:`\chi_1` over :math:`(\sigma_w^2, \sigma_b^2)`.

    Filled contours of :math:`\chi_1` (diverging colours centred on 1), the critical line
    :math:`\chi_1 = 1` in black, the ordered and chaotic regions labelled, and `mark`
    (an init's :math:`(\sigma_w^2, \sigma_b^2)`) as a star. The default grid is
    :math:`\sigma_w^2 \in [0, 4\sigma_c^2]` (:math:`\sigma_c^2` =
    :func:`critical_sigma_w2` at :math:`\sigma_b = 0`) by :math:`\sigma_b^2 \in [0, 0.5]`,
    60 x 41 points, widened to include `mark`; a mark beyond :math:`4\sigma_c^2` (the
    post's ``random`` init has :math:`\sigma_w^2 = 100\,n`) gets a logarithmic
    :math:`\sigma_w^2` axis from :math:`\sigma_c^2/8`, so the critical line stays visible.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure (no pyplot state), or `ax`'s figure if `ax` is given.
    """
    from matplotlib.colors import BoundaryNorm

    act = _activations.get(act)
    mark_w2, mark_b2 = (0.0, 0.0) if mark is None else mark
    w2, b2, log_x = _phase_grid(act, mark_w2, mark_b2, sigma_w2_grid, sigma_b2_grid)
    chi = phase_diagram(act, w2, b2)
    fig, (ax,) = _figure(ax)
    # 12 colour bands each side of 1, logarithmic above 1 when chi_1 spans decades
    lo, hi = min(chi.min(), 0.99), max(chi.max(), 1.01)
    above = np.geomspace(1.0, hi, 13) if hi > 10 else np.linspace(1.0, hi, 13)
    levels = np.concatenate([np.linspace(lo, 1.0, 13)[:-1], above])
    filled = ax.contourf(
        w2, b2, chi, levels=levels, cmap="RdBu_r", norm=BoundaryNorm(levels, ncolors=256)
    )
    fig.colorbar(filled, ax=ax, label=r"$\chi_1$", ticks=levels[::4], format="%.3g")
    if chi.min() < 1 < chi.max():
        ax.contour(w2, b2, chi, levels=[1.0], colors="k", linewidths=2)
    _label_regions(ax, w2, b2, chi, log_x)
    if mark is not None:
        label = f"init: $\\sigma_w^2$ = {mark_w2:.3g}, $\\sigma_b^2$ = {mark_b2:.3g}"
        ax.plot(mark_w2, mark_b2, "*", ms=16, color="gold", mec="k", label=label)
        ax.legend(loc="upper left", fontsize=9)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(r"$\sigma_w^2 = n_{in}\,\mathrm{Var}(W)$")
    ax.set_ylabel(r"$\sigma_b^2$")
    ax.set_title(f"{act.name}: order-to-chaos phase diagram" + r" ($\chi_1 = 1$ in black)")
    return fig


def _phase_grid(act, mark_w2: float, mark_b2: float, sigma_w2_grid, sigma_b2_grid):
    """The diagram's grids and whether its sigma_w^2 axis is logarithmic (see the caller)."""
    log_x = False
    if sigma_w2_grid is None:
        critical = critical_sigma_w2(act)
        log_x = mark_w2 > 4 * critical
        sigma_w2_grid = (
            np.geomspace(critical / 8, 2 * mark_w2, 61)
            if log_x
            else np.linspace(0.0, max(4 * critical, 1.1 * mark_w2), 61)[1:]
        )
    if sigma_b2_grid is None:
        sigma_b2_grid = np.linspace(0.0, max(0.5, 1.1 * mark_b2), 41)
    return np.asarray(sigma_w2_grid, float), np.asarray(sigma_b2_grid, float), log_x


def _label_regions(ax, w2: np.ndarray, b2: np.ndarray, chi: np.ndarray, log_x: bool) -> None:
    """ "ordered" and "chaotic" at each region's centroid (inside it: both are convex-ish)."""
    W2, B2 = np.meshgrid(w2, b2)
    box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none"}
    for region, name, sign in ((chi < 1, "ordered", "<"), (chi > 1, "chaotic", ">")):
        if region.any():
            label = f"{name}\n$\\chi_1 {sign} 1$"
            x = np.exp(np.log(W2[region]).mean()) if log_x else W2[region].mean()
            ax.text(x, B2[region].mean(), label, ha="center", va="center", fontsize=11, bbox=box)


def plot_theory_vs_measurement(prediction: Prediction, measurement: Measurement) -> Figure:
    r"""Predicted against measured :math:`q_l` (left) and :math:`r_l` (right), per layer.

    Lines are the theory; points the mean over the measured networks, with error bars of
    two standard errors. Log scale where the values span more than a factor 10.
    """
    if tuple(prediction.layer_sizes) != tuple(measurement.layer_sizes):
        raise InitlabError(
            f"prediction is for layers {prediction.layer_sizes} but measurement for "
            f"{measurement.layer_sizes}"
        )
    fig, (left, right) = _figure(None, ncols=2, width=5.0)
    forward = r"forward: $q_l = \mathrm{Var}(Z_l)$"
    backward_ = r"backward: $r_l = \mathrm{Var}(dZ_l)\,/\,\mathrm{Var}(dZ_{l+1})$"
    panels = (
        (left, prediction.q, measurement.q, measurement.q_se, forward),
        (right, prediction.ratio, measurement.ratio, measurement.ratio_se, backward_),
    )
    measured_label = f"measured ({measurement.members} nets, m = {measurement.m})"
    for ax, theory, measured, se, title in panels:
        layers = np.arange(1, len(theory) + 1)
        ax.plot(layers, theory, "-", color="C0", label="mean-field theory")
        yerr = 2 * np.nan_to_num(se)
        ax.errorbar(
            layers, measured, yerr=yerr, fmt="o", color="C1", capsize=3, label=measured_label
        )
        values = np.concatenate([theory, measured])
        if values.size and np.all(values > 0) and values.max() / values.min() > 10:
            ax.set_yscale("log")
        ax.set_xticks(layers)
        ax.set_xlabel("layer l")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"{prediction.activation}, {prediction.init}, layers {prediction.layer_sizes}")
    return fig
