r"""Figures and tables of signal propagation: critical line, correlation map, Jacobian spectra.

Drawn only from stored results: the plain data that ``initlab theory critical`` writes as
``critical.json``, and the correlation and Jacobian records assembled from their studies'
stored cells (:func:`initlab.studies.sigprop.read`). Each ``plot_*`` function returns a
:class:`matplotlib.figure.Figure` built without pyplot's state; each ``*_table`` function
the :class:`~initlab.report.tables.Table` that ``initlab theory critical | correlation |
jacobian`` prints and ``initlab report`` shows beside the figure.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.report.tables import Table

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


def _g(x: float | None, digits: int = 6) -> str:
    """`x` to `digits` significant digits; ``none`` for a missing value (a stored null or
    nan), ``inf`` for an infinite one."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "none"
    return "inf" if math.isinf(x) else f"{x:.{digits}g}"


def critical_table(critical: dict[str, Any]) -> Table:
    r"""The critical line: one row per :math:`\sigma_b^2`, one column per activation, each
    cell the critical :math:`\sigma_w^2` and :math:`q^*` there (`critical` as in
    :func:`plot_critical_line`, computed or read back: a :math:`q^*` stored as null at a
    critical point is infinite, as :func:`initlab.analysis.meanfield.fixed_point` returns
    0, a finite value or inf; both are missing where there is no critical point)."""
    names = list(critical["lines"])
    rows = [["sigma_b^2", *names]]
    for i, b2 in enumerate(critical["sigma_b2"]):
        cells = []
        for name in names:
            p = critical["lines"][name][i]
            q = math.inf if p["q_star"] is None and p["sigma_w2"] is not None else p["q_star"]
            cells.append(f"{_g(p['sigma_w2'])} (q* {_g(q, 4)})")
        rows.append([f"{b2:g}", *cells])
    head = [
        "critical line chi_1 = 1: the sigma_w^2 = n_in Var(W) at which gradients neither "
        "vanish nor explode with depth (Brent's method; q* = the variance fixed point there; "
        "ordered below, chaotic above)"
    ]
    return Table(head, rows)


def _scales_lines(point: dict[str, Any], m: dict[str, Any]) -> list[str]:
    """The point (activation, variances) of `point`, then the fixed points, slopes and depth
    scales `m` (:meth:`initlab.analysis.correlation.DepthScales.as_dict`) there, computed or
    read back: a :class:`~initlab.analysis.correlation.DepthScales` holds no nan, so a value
    stored as null is infinite (a depth scale at a critical point, an unbounded q*)."""
    m = {k: math.inf if v is None else v for k, v in m.items()}
    return [
        f"correlation map: {point['activation']}, sigma_w^2 = {_g(point['sigma_w2'])}, "
        f"sigma_b^2 = {_g(point['sigma_b2'])}",
        f"q* = {_g(m['q_star'])}, chi_1 = {_g(m['chi_1'])} ({m['phase']}), "
        f"c* = {_g(m['c_star'])}, chi_c = {_g(m['chi_c'])}",
        f"depth scales (layers): xi_q = {_g(m['xi_q'], 4)}, xi_c = {_g(m['xi_c'], 4)}, "
        f"gradients xi_grad = {_g(m['xi_grad'], 4)}",
    ]


def depth_scales_lines(scales: dict[str, Any]) -> list[str]:
    """The fixed points, slopes and depth scales alone (``initlab theory correlation
    --no-map``), from :meth:`initlab.analysis.correlation.DepthScales.as_dict`."""
    return _scales_lines(scales, scales)


def correlation_table(data: dict[str, Any]) -> Table:
    r"""The depth scales above :math:`c_l` per layer: for each :math:`c_0`, the mean-field
    prediction, then the measured mean over the networks ± one standard error (`data` as in
    :func:`plot_correlation`)."""
    m, s = data["map"], data["study"]
    K = len(s["measured"])
    head = [
        *_scales_lines(s, m),
        f"measured on {K} networks of width {s['width']} (seed {s['seed']}), inputs at "
        f"q0 = {_g(s['q0'], 4)}; ± one standard error over the networks",
        "c_l per layer: for each starting c0, the mean-field prediction, then the measured mean",
    ]
    measured = _floats(s["measured"])  # (K, P, L + 1)
    mean = measured.mean(axis=0)
    se = measured.std(axis=0, ddof=1) / math.sqrt(K) if K > 1 else np.full(mean.shape, np.nan)
    rows = [["layer"]]
    for c in s["c0"]:
        rows[0] += [f"c0={c:g}", "measured"]
    for l in range(mean.shape[1]):
        cells = [str(l)]
        for p in range(mean.shape[0]):
            err = "" if l == 0 or math.isnan(se[p, l]) else f" ± {se[p, l]:.1g}"
            cells += [f"{s['predicted'][p][l]:.4f}", f"{mean[p, l]:.4f}{err}"]
        rows.append(cells)
    return Table(head, rows)


def jacobian_table(data: dict[str, Any]) -> Table:
    r"""Per weight law and depth: the mean and variance of :math:`\sigma^2`, theory beside
    measured (per network, then averaged), and the extreme singular values over the networks
    (`data` as in :func:`plot_jacobian_spectra`)."""
    first = data["panels"][0]["spectra"]
    head = [
        f"Jacobian singular values at initialization: {first['activation']}, "
        f"sigma_w^2 = {_g(first['sigma_w2'])}, sigma_b^2 = {_g(first['sigma_b2'])}, "
        f"inputs at q* = {_g(first['q_star'], 4)}, width {first['width']}, "
        f"{len(first['singular_values'])} network(s)",
        "E[s^2], Var[s^2]: mean and variance of the squared singular values (theory: free "
        "probability, N -> inf); measured: per network, then averaged",
    ]
    rows = [["weights", "depth", "E[s^2] theory", "measured", "Var[s^2] theory", "measured",
             "s_max", "s_min"]]  # fmt: skip
    for panel in data["panels"]:
        sv = _floats(panel["spectra"]["singular_values"])  # (K, D, N)
        for j, th in enumerate(panel["theory"]):
            lam = sv[:, j] ** 2
            rows.append([
                panel["spectra"]["weights"], str(th["depth"]), f"{th['mean']:.4g}",
                f"{lam.mean():.4g}", f"{th['variance']:.4g}", f"{lam.var(axis=-1).mean():.4g}",
                f"{sv[:, j].max():.3g}", _s_min(sv[:, j]),
            ])  # fmt: skip
    return Table(head, rows)


def _s_min(sv: np.ndarray) -> str:
    """The smallest singular value over the networks ``sv`` (K, N), or ``< 1e-15 s_max`` if
    any network's is below float64 resolution relative to its own largest (rounding noise)."""
    from initlab.analysis.jacobian import RESOLUTION

    if (sv.min(axis=-1) < RESOLUTION * sv.max(axis=-1)).any():
        return f"< {RESOLUTION:.0e} s_max"
    return f"{sv.min():.3g}"


FIGURES = {
    "critical": plot_critical_line,
    "correlation": plot_correlation,
    "jacobian": plot_jacobian_spectra,
}
"""Each kind's figure (:data:`initlab.studies.sigprop.KINDS`)."""

TABLES = {"critical": critical_table, "correlation": correlation_table, "jacobian": jacobian_table}
"""Each kind's table: what ``initlab theory KIND`` prints, and the report shows by its figure."""
