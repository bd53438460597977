r"""Figures of signal propagation: critical line, correlation map, Jacobian spectra.

Drawn only from stored results: the plain data that ``initlab theory critical`` and
``jacobian`` write as ``critical.json`` and ``jacobian.json``, and the correlation record
assembled from the correlation study's stored cells (see :mod:`initlab.cli._sigprop`).
Each function returns a :class:`matplotlib.figure.Figure` built without pyplot's state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _figure(ncols: int, width: float = 5.6, height: float = 4.4) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, list(np.atleast_1d(fig.subplots(1, ncols)))


def _floats(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)  # stored nulls (inf, nan) become nan


def plot_critical_line(critical: dict[str, Any]) -> Figure:
    r"""Critical :math:`\sigma_w^2` (:math:`\chi_1 = 1`) against :math:`\sigma_b^2`, per activation.

    `critical` is ``critical.json``: ``{"lines": {activation: [point, ...]}}`` with the
    fields of :class:`initlab.analysis.correlation.CriticalPoint`. Ordered below each line,
    chaotic above. A logarithmic :math:`\sigma_w^2` axis when the lines span a factor 10.
    """
    fig, (ax,) = _figure(1, 6.4, 4.6)
    values = []
    for i, (name, points) in enumerate(critical["lines"].items()):
        b2 = _floats([p["sigma_b2"] for p in points])
        w2 = _floats([p["sigma_w2"] for p in points])
        if np.all(np.isnan(w2)):
            continue
        values.append(w2[np.isfinite(w2)])
        style = {"marker": "osD^v"[i % 5], "ls": "-" if i % 2 == 0 else "--", "ms": 7 - i}
        ax.plot(b2, w2, color=f"C{i}", label=name, **style)
    if values:
        every = np.concatenate(values)
        if every.max() / every.min() > 10:
            ax.set_yscale("log")
    ax.set(xlabel=r"$\sigma_b^2$", ylabel=r"critical $\sigma_w^2$ ($\chi_1 = 1$)")
    ax.set_title("Critical line: ordered below, chaotic above")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    return fig


def plot_correlation(data: dict[str, Any]) -> Figure:
    r"""The correlation map (left) and :math:`c_l` through depth (right), theory vs measured.

    `data` is the correlation record (:func:`initlab.studies.sigprop.read`): ``map`` (the
    map :math:`C(c)` on a grid, :math:`c^*`, :math:`\chi_c`, depth scales) and ``study``
    (:meth:`initlab.analysis.propagation.CorrelationStudy.as_dict`). Left: :math:`C(c)`,
    drawn as the one-layer change :math:`C(c) - c` (zero at the fixed points), :math:`c^*`,
    and each measured first-layer change :math:`\hat c_1 - c_0`;
    right: the predicted :math:`c_l` as lines and the measured mean over networks as points
    with error bars of two standard errors.
    """
    cmap, study = data["map"], data["study"]
    measured = _floats(study["measured"])  # (K, P, L + 1)
    K = measured.shape[0]
    mean = measured.mean(axis=0)
    se = measured.std(axis=0, ddof=1) / math.sqrt(K) if K > 1 else np.zeros_like(mean)
    predicted, c0 = _floats(study["predicted"]), _floats(study["c0"])
    fig, (left, right) = _figure(2)
    c, step = _floats(cmap["c"]), _floats(cmap["C"]) - _floats(cmap["c"])
    left.plot(c, step, color="C0", label=r"mean-field $C(c) - c$")
    left.axhline(0.0, color="0.5", ls=":", lw=1)
    left.errorbar(
        c0, mean[:, 1] - c0, yerr=2 * se[:, 1], fmt="o", color="C1", capsize=3,
        label=f"measured $\\hat c_1 - c_0$ ({K} nets, N = {study['width']}, ± 2 s.e.)",
    )  # fmt: skip
    c_star = cmap["c_star"]
    left.plot([c_star], [0.0], "*", ms=14, color="gold", mec="k", label=f"c* = {c_star:.4g}")
    left.set(xlabel=r"$c_{l-1}$", ylabel=r"$c_l - c_{l-1}$ (one layer)", xlim=(-1.02, 1.02))
    left.set_title(f"correlation map, $\\chi_c = C'(c^*)$ = {cmap['chi_c']:.4g}")
    layers = np.arange(predicted.shape[1])
    for p in range(c0.size):
        right.plot(layers, predicted[p], color=f"C{p}", label=f"$c_0$ = {c0[p]:g}: theory")
        right.errorbar(
            layers, mean[p], yerr=2 * se[p], fmt="o", ms=4, color=f"C{p}", capsize=2,
            label="measured (± 2 s.e.)" if p == 0 else None,
        )  # fmt: skip
    right.axhline(c_star, color="k", ls=":", lw=1, label="c*")
    xi = cmap.get("xi_c")
    xi_text = "inf" if xi is None or not math.isfinite(xi) else f"{xi:.3g}"
    right.set(xlabel="layer l", ylabel=r"$c_l$", title=f"through depth ($\\xi_c$ = {xi_text})")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    left.legend(fontsize=8, loc="lower left")
    right.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(
        f"{study['activation']}, $\\sigma_w^2$ = {study['sigma_w2']:.4g}, "
        f"$\\sigma_b^2$ = {study['sigma_b2']:.4g}, $q_0$ = {study['q0']:.4g}"
    )
    return fig


EPS = float(np.finfo(np.float64).eps)


def _floor(sv: np.ndarray, width: int) -> float:
    """Smallest singular value float64 resolves: eps N s_max (smaller ones are rounding)."""
    return EPS * width * float(sv.max())


def _log_hist(sv: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float]:
    """Density of log10(sigma) over all members' singular values, normalized by their total
    count (so the area is the fraction inside `edges`), and the fraction below `edges`."""
    logs = np.log10(np.maximum(sv.ravel(), 1e-300))
    counts, _ = np.histogram(logs, bins=edges)
    return counts / (logs.size * np.diff(edges)), float(np.mean(logs < edges[0]))


def _edges(panels: list[dict[str, Any]]) -> np.ndarray:
    every = np.concatenate([_floats(p["spectra"]["singular_values"]).ravel() for p in panels])
    floor = min(_floor(_floats(p["spectra"]["singular_values"]), p["spectra"]["width"])
                for p in panels)  # fmt: skip
    every = np.log10(every[every > floor])
    lo, hi = np.percentile(every, [2, 100]) if every.size else (-1.0, 1.0)
    lo, hi = max(min(lo, -0.3), math.log10(floor)), max(hi, 0.3)
    return np.linspace(lo, hi + 0.02 * (hi - lo), 61)


def plot_jacobian_spectra(data: dict[str, Any]) -> Figure:
    r"""Singular values of the input-output Jacobian, one panel per weight law.

    `data` is ``jacobian.json``: ``panels``, each with ``spectra``
    (:meth:`initlab.analysis.jacobian.JacobianSpectra.as_dict`) and ``theory`` (per depth:
    the free-probability ``mean`` and ``variance`` of :math:`\sigma^2` and, for linear
    Gaussian networks, the Fuss-Catalan density ``x``, ``density`` of :math:`\sigma^2`).
    Histograms of :math:`\log_{10}\sigma`, one colour per depth, from the 2nd percentile
    (or the rounding floor :math:`\epsilon N \sigma_{max}`, below which singular values
    are not resolved) to the largest; the legend gives the fraction off the left; dashed,
    the exact law where
    stored; the legend gives :math:`E[\sigma^2]` and :math:`\operatorname{Var}[\sigma^2]`
    measured (theory).
    """
    panels = data["panels"]
    edges = _edges(panels)
    mids = (edges[:-1] + edges[1:]) / 2
    fig, axes = _figure(len(panels), 6.0, 4.6)
    for ax, panel in zip(axes, panels, strict=True):
        spectra = panel["spectra"]
        sv = _floats(spectra["singular_values"])  # (K, D, N)
        for j, depth in enumerate(spectra["depths"]):
            th = panel["theory"][j]
            lam = sv[:, j] ** 2
            density, below = _log_hist(sv[:, j], edges)
            label = (
                f"L = {depth}: E[$\\sigma^2$] {lam.mean():.3g} ({th['mean']:.3g}), "
                f"Var {lam.var(axis=-1).mean():.3g} ({th['variance']:.3g})"
                + (f"; {below:.0%} off the left" if below >= 0.005 else "")
            )
            ax.step(mids, density, where="mid", color=f"C{j}", label=label)
            if th.get("x") is not None:  # density of log10 sigma from that of lambda = sigma^2
                x, rho = _floats(th["x"]), _floats(th["density"])
                ok = x > 0
                ax.plot(0.5 * np.log10(x[ok]), rho[ok] * x[ok] * 2 * math.log(10), "--",
                        color=f"C{j}", lw=1)  # fmt: skip
        ax.set(xlabel=r"$\log_{10}$ singular value of $J$", ylabel="density")
        ax.set_title(
            f"{spectra['weights']} weights, N = {spectra['width']}, {sv.shape[0]} network(s)"
        )
        ax.axvline(0.0, color="k", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, title="measured (theory)", title_fontsize=8)
    s = panels[0]["spectra"]
    fig.suptitle(
        f"Jacobian spectra at initialization: {s['activation']}, "
        f"$\\sigma_w^2$ = {s['sigma_w2']:.4g}, $\\sigma_b^2$ = {s['sigma_b2']:.4g}"
    )
    return fig
