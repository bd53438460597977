"""Figures of width scaling, from stored results: coordinate checks and learning-rate transfer.

Each returns a :class:`matplotlib.figure.Figure` built without pyplot's global state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from initlab.analysis import coordcheck as _cc
from initlab.studies.scaling import CoordCheck, LrTransfer

_TITLES = {"sp": "SP", "ntk": "NTK", "mup": "muP"}
_METRICS = {
    "size": "mean |x_t|",
    "change": "mean |x_t - x_0|",
}


def coord_check_figure(
    result: CoordCheck, metric: str = "size", band: float = _cc.DEFAULT_BAND
) -> Figure:
    """One row per parametrization, one panel per step: the layer's size against width (log-log).

    Each line is a layer (sizes averaged over seeds); the legend gives its fitted slope in width
    and marks with ``!`` a slope outside ``[-band, band]``: a layer that grows or vanishes.
    """
    rows = result.rows(metric, band)
    steps = result.steps[1:] if metric == "change" else result.steps
    P, S = len(result.parametrizations), len(steps)
    fig = Figure(figsize=(2.9 * S + 1.8, 2.6 * P + 0.6), layout="constrained")
    axes = fig.subplots(P, S, squeeze=False, sharex=True, sharey="row")
    widths = np.asarray(result.widths, dtype=float)
    for i, p in enumerate(result.parametrizations):
        by_step = {}
        for r in rows[p]:
            by_step.setdefault(r.step, []).append(r)
        for j, t in enumerate(steps):
            ax = axes[i, j]
            for l, r in enumerate(by_step[t]):
                flag = " !" if r.verdict in ("grows", "vanishes") else ""
                label = f"{r.layer} ({r.slope:+.2f}){flag}"
                ax.plot(widths, r.sizes, "o-", ms=3, color=f"C{l}", label=label)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_title(f"{_TITLES.get(p, p)}, step {t}", fontsize=10)
            ax.legend(fontsize=7, title="layer (slope)", title_fontsize=7, loc="best")
            if j == 0:
                ax.set_ylabel(_METRICS[metric])
            if i == P - 1:
                ax.set_xlabel("width n")
        _at_least_a_decade(axes[i, 0])
    s = result.settings
    fig.suptitle(
        f"Coordinate check: {_METRICS[metric]} by width ({s.get('optimizer')}, "
        f"lr {s.get('learning_rate')}, base width {s.get('base_width')}; "
        f"! = slope outside ±{band:g})",
        fontsize=11,
    )
    return fig


def lr_transfer_figure(result: LrTransfer) -> Figure:
    """Training loss against log2 learning rate, one line per width, one panel per
    parametrization (Yang et al. 2022, Fig. 1); a dot marks each width's best grid point
    (the title's spread uses the refined optimum, :meth:`LrTransfer.optimum`)."""
    P = len(result.parametrizations)
    fig = Figure(figsize=(4.6 * P, 4.0), layout="constrained")
    axes = fig.subplots(1, P, squeeze=False, sharey=True)[0]
    mean = result.mean_loss()
    x = np.asarray(result.log2_lrs)
    finite = mean[np.isfinite(mean)]
    top = min(float(np.percentile(finite, 90)) * 1.5, float(finite.max())) if finite.size else 1
    colors = _viridis(len(result.widths))
    for i, p in enumerate(result.parametrizations):
        ax = axes[i]
        for w, n in enumerate(result.widths):
            y = np.where(np.isfinite(mean[i, w]), mean[i, w], np.nan)
            ax.plot(x, y, "-", color=colors[w], label=f"{n}")
            k = int(np.argmin(mean[i, w]))
            ax.plot(x[k], mean[i, w, k], "o", color=colors[w], ms=6)
        ax.set_yscale("log")
        ax.set_ylim(top=top)
        ax.set_xlabel("log2 learning rate")
        spread = result.spread()[i]
        ax.set_title(f"{_TITLES.get(p, p)}: optimum moves {spread:.2f} (log2)", fontsize=10)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("training loss")
    axes[-1].legend(title="width", fontsize=8)
    s = result.settings
    fig.suptitle(
        f"Learning-rate transfer ({s.get('optimizer')}, {s.get('steps')} steps of batch "
        f"{s.get('batch_size')}, {len(result.seeds)} seeds, base width {s.get('base_width')})",
        fontsize=11,
    )
    return fig


def _at_least_a_decade(ax) -> None:
    """Widen a log axis to span at least a factor 10, so that noise does not look like a
    trend (the row's panels share it)."""
    low, high = ax.get_ylim()
    if high / low < 10:
        mid = np.sqrt(low * high)
        ax.set_ylim(mid / np.sqrt(10), mid * np.sqrt(10))


def _viridis(k: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.9, k)]


FILES = {"coord_check.json": CoordCheck, "lr_transfer.json": LrTransfer}
"""The stored scaling results a report directory may hold."""


def verdict_lines(result: CoordCheck, band: float = _cc.DEFAULT_BAND) -> list[str]:
    """Per parametrization, the layers whose size grows or vanishes in width at step 0 (the
    initialization), then after it (steps 1..T, over all of them), then those whose change
    since step 0 does over steps 1..T; or that every layer is stable. Each line names the
    steps it summarizes."""
    last = result.steps[-1]
    after = f"step {last}" if last == 1 else f"steps 1..{last}"
    scopes = (
        ("size", "size at step 0 (the initialization)", lambda t: t == 0),
        ("size", f"size after training, {after}", lambda t: t > 0),
        ("change", f"change mean |x_t - x_0|, {after}", lambda t: t > 0),
    )
    lines = []
    for metric, what, keep in scopes:
        for p, rows in result.rows(metric, band).items():
            bad = sorted({f"{r.layer} {r.verdict}" for r in rows if keep(r.step)
                          and r.verdict in ("grows", "vanishes")})  # fmt: skip
            verdict = "; ".join(bad) if bad else "every layer stable"
            lines.append(f"{p} {what}: {verdict}")
    return lines


def optimum_table(result: LrTransfer) -> str:
    """Each parametrization's optimum learning rate per width and its spread, as text."""
    rows = [["parametrization", *(f"n={n}" for n in result.widths), "spread (log2)"]]
    for i, p in enumerate(result.parametrizations):
        opt = result.optimum()[i]
        rows.append([p, *(f"2^{k:.2f}" for k in opt), f"{result.spread()[i]:.2f}"])
    return _cc.text_table(rows)


def shift_lines(result: LrTransfer) -> list[str]:
    """Per parametrization, the optimum's shift per doubling of the width and its 90%
    interval (:meth:`LrTransfer.shift_per_doubling`: a bootstrap over seeds, or the grid's
    resolution with one seed)."""
    return [
        f"{p}: optimum shifts {s:+.2f} log2 per doubling of the width "
        f"(90% interval {lo:+.2f} .. {hi:+.2f})"
        for p, (s, lo, hi) in zip(result.parametrizations, result.shift_per_doubling(), strict=True)
    ]


def has_results(source: Path) -> bool:
    """Whether `source` holds a coordinate check or a learning-rate transfer result."""
    return any((source / name).is_file() for name in FILES)


def report_sections(source: Path) -> Iterator[tuple[str, str, list[tuple[Figure, str]]]]:
    """The report's sections for the scaling results in `source`: (title, text, figures with
    captions); :func:`initlab.report.html.write_report` renders them."""
    if (source / "coord_check.json").is_file():
        cc = CoordCheck.load(source / "coord_check.json")
        figs = [(coord_check_figure(cc, "size"), "mean |x_t| by width"),
                (coord_check_figure(cc, "change"), "mean |x_t - x_0| by width")]  # fmt: skip
        warning = _cc.ladder_warning(cc.widths)
        text = "\n".join([*verdict_lines(cc), *([warning] if warning else [])])
        yield "Coordinate check", text, figs
    if (source / "lr_transfer.json").is_file():
        lt = LrTransfer.load(source / "lr_transfer.json")
        text = optimum_table(lt)
        figs = [(lr_transfer_figure(lt), "training loss against log2 learning rate")]
        yield "Learning-rate transfer", text, figs
