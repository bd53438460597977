r"""Figures and tables of trainability: the accuracy heat map with the depth-scale curve, and
the learning time of deep linear networks against depth.

Drawn only from stored results: :func:`initlab.studies.trainability.read` of the
store ``initlab theory trainability --out DIR`` writes, and of ``initlab theory deep-linear
--out DIR``'s (:func:`initlab.studies.deeplinear.read`). Each ``plot_*`` function returns a
:class:`matplotlib.figure.Figure` built without pyplot's state; each ``*_table`` function the
:class:`~initlab.report.tables.Table` the command prints and the report shows beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from initlab.analysis import correlation as _correlation
from initlab.analysis import stats as _stats
from initlab.report.tables import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres `values` (midpoints; the ends mirrored)."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def mean_over_draws(values: Any) -> np.ndarray:
    """The mean over the last axis (the draws) of the computed values, NaN where none is
    (a cell not yet computed): :func:`numpy.nanmean`'s arithmetic, without its warning on
    an empty slice (``initlab report`` of a study stopped part way)."""
    a = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(a)
    n = known.sum(axis=-1)
    return np.where(n > 0, np.where(known, a, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)


def _heat(ax, data: dict[str, Any], which: str):
    config = data["config"]
    w2, depths = np.array(config["sigma_w2"]), np.array(config["depths"])
    order_w, order_d = np.argsort(w2), np.argsort(depths)
    acc = mean_over_draws(data[which])[order_d][:, order_w]
    mesh = ax.pcolormesh(
        _edges(w2[order_w]),
        _edges(depths[order_d]),
        acc,
        cmap="viridis",
        vmin=data["chance"],
        vmax=1.0,
        shading="flat",
    )
    th = data["theory"]
    label = rf"${th['multiple']:g}\,\xi_c(\sigma_w^2)$"
    ax.plot(th["sigma_w2"], th["depth"], color="white", lw=2.2, ls="--", label=label)
    bottom, top = _edges(depths[order_d])[[0, -1]]
    ax.set_ylim(bottom, 1.4 * top)  # room for the curve above the grid (grey: not trained)
    ax.set_facecolor("0.88")
    ax.set_xlim(_edges(w2[order_w])[[0, -1]])
    ax.set(xlabel=r"$\sigma_w^2$", ylabel="depth $L$ (hidden layers)")
    ax.set_title(f"{which.replace('_', ' ')} after {config['steps']} steps")
    ax.legend(loc="upper left", fontsize=9, facecolor="0.3", labelcolor="white")
    return mesh


def plot_trainability(data: dict[str, Any]) -> Figure:
    r"""Train (left) and test (right) accuracy over :math:`(\sigma_w^2, L)`, mean over draws,
    with the theory's curve ``multiple`` :math:`\times\,\xi_c(\sigma_w^2)` over both.

    `data` is :func:`initlab.studies.trainability.read`'s. Colours run from chance
    (dark) to 1; depths not yet computed are blank, and the grey band above the deepest
    depth is room for the curve. The curve leaves the top of the axes
    near the critical :math:`\sigma_w^2`, where :math:`\xi_c` diverges (Schoenholz et al.
    2017, Figs. 5 and 6).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, which in zip(axes, ("train_accuracy", "test_accuracy"), strict=True):
        mesh = _heat(ax, data, which)
    c = data["config"]
    fig.colorbar(mesh, ax=list(axes), label="accuracy (chance to 1)")
    fig.suptitle(
        f"Trainability: {c['activation']}, width {c['width']}, {c['task']}, "
        rf"$\sigma_b^2$ = {c['sigma_b2']:g}, {c['optimizer']} lr {c['learning_rate']:g}, "
        f"batch {c['batch_size']}, {c['seeds']} draw(s) per cell"
    )
    return fig


def plot_learning_time(record: dict[str, Any]) -> Figure:
    r"""Learning time (steps to the criterion, best rate) against depth, one line per init.

    `record` is ``deeplinear.json``. A depth where no rate reached the criterion within the
    step budget is drawn as an open marker at the budget, with an arrow: "more than this".
    """
    from matplotlib.figure import Figure

    config = record["config"]
    depths = np.array(config["depths"], dtype=float)
    fig = Figure(figsize=(6.6, 4.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, times) in enumerate(record["time"].items()):
        t = np.array(times, dtype=float)
        ok = np.isfinite(t)
        ax.plot(depths[ok], t[ok], marker="os"[i % 2], color=f"C{i}", label=name)
        if (~ok).any():
            ax.plot(
                depths[~ok],
                np.full((~ok).sum(), config["steps"]),
                ls="none",
                marker="^",
                mfc="none",
                color=f"C{i}",
                ms=9,
                label=f"{name}: > {config['steps']} steps",
            )
    ax.set_xscale("log", base=2)
    ax.set_xticks(depths, [f"{d:g}" for d in depths])
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    ax.set_yscale("log")
    ax.set(
        xlabel="depth $D$ (weight layers)",
        ylabel=f"steps until cost ≤ {config['criterion']:g} × initial",
    )
    ax.set_title(f"Deep linear networks, width {config['width']}: learning time vs depth")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=9)
    return fig


def _cell(x: float) -> str:
    return "-" if np.isnan(x) else f"{x:.2f}"


def _by_depth(data: dict[str, Any], values: np.ndarray) -> list[list[str]]:
    """The header ``L \\ sigma_w^2`` and one row of `values` (n_depths, n_sigma_w2) per depth."""
    c = data["config"]
    head = ["L \\ sigma_w^2", *(f"{w:g}" for w in c["sigma_w2"])]
    return [head, *([str(d), *(_cell(a) for a in values[j])] for j, d in enumerate(c["depths"]))]


def _accuracy_table(data: dict[str, Any]) -> Table:
    r"""Test accuracy per (depth, :math:`\sigma_w^2`), the mean over draws (``-``: not yet
    computed), and in the last row the theory's depth ``multiple`` :math:`\times\,\xi_c` at
    each :math:`\sigma_w^2` (`data` as in :func:`plot_trainability`)."""
    c = data["config"]
    act = c["activation"]
    curve = [
        c["multiple"] * _correlation.depth_scales(act, w2, c["sigma_b2"]).xi_c
        for w2 in c["sigma_w2"]
    ]
    rows = _by_depth(data, mean_over_draws(data["test_accuracy"]))
    rows.append([f"{c['multiple']:g} xi_c", *(f"{v:.3g}" for v in curve)])
    head = [
        f"trainability: {act}, width {c['width']}, sigma_b^2 = {c['sigma_b2']:g}, task "
        f"{c['task']} (chance {data['chance']:g}), {c['optimizer']} lr {c['learning_rate']:g}, "
        f"batch {c['batch_size']}, {c['steps']} steps, {c['seeds']} draw(s) per cell",
        "test accuracy after training (mean over draws); last row: the theory's depth "
        f"{c['multiple']:g} xi_c(sigma_w^2) (Schoenholz et al. 2017: trainable below it)",
    ]
    return Table(head, rows)


def _interval_table(data: dict[str, Any]) -> Table | None:
    """The half-width of each cell's 95% interval of the mean test accuracy over its draws
    (Student t, :func:`initlab.analysis.stats.mean_interval`); None with one draw per cell."""
    seeds = data["config"]["seeds"]
    if seeds < 2:
        return None
    _, low, high = _stats.mean_interval(np.moveaxis(data["test_accuracy"], -1, 0))
    head = [
        f"+- half-width of each cell's 95% interval of the mean over its {seeds} draws "
        "(Student t): cells near the boundary vary from draw to draw, and between CPUs"
    ]
    return Table(head, _by_depth(data, (high - low) / 2))


def trainability_tables(data: dict[str, Any]) -> list[Table]:
    """The map's tables: test accuracy per cell with the theory's depths, then, with several
    draws per cell, each cell's 95% half-width (`data`: as in :func:`plot_trainability`)."""
    return [t for t in (_accuracy_table(data), _interval_table(data)) if t is not None]


def deep_linear_table(record: dict[str, Any]) -> Table:
    """Learning time per depth and init: the best rate's median over the draws, ``> steps``
    where no rate reached the criterion (`record` as in :func:`plot_learning_time`)."""
    c = record["config"]
    rows = [["D", *record["time"]]]
    for j, d in enumerate(c["depths"]):
        cells = [record["time"][name][j] for name in record["time"]]
        rows.append([str(d), *(f"> {c['steps']}" if t is None else f"{t:g}" for t in cells)])
    rates = " ".join(f"{v:g}" for v in c["rates"])
    head = [
        f"deep linear networks (Saxe et al. 2014): width {c['width']}, linear teacher on "
        f"whitened inputs, MSE, full-batch GD at eta_0 / D, eta_0 in {rates}",
        f"learning time = steps until the cost <= {c['criterion']:g} x its initial value; "
        f"best eta_0's median over {c['seeds']} draws",
    ]
    return Table(head, rows)


def stored_figures(source: Any) -> list[tuple[Figure, str, list[Table]]]:
    """The figures of the trainability and deep-linear studies stored in directory `source`
    (those present only), each with its caption and the tables the commands print, for the
    report."""
    from pathlib import Path

    from initlab.studies import deeplinear, trainability

    source, figs = Path(source), []
    if trainability.stored(source):
        data = trainability.read(source)
        caption = ("Trainability: accuracy over depth x sigma_w^2 with "
                   f"{data['theory']['multiple']:g} xi_c drawn over it (sweep.sqlite)")  # fmt: skip
        figs.append((plot_trainability(data), caption, trainability_tables(data)))
    if deeplinear.stored(source):
        where = "sweep.sqlite" if (source / "sweep.sqlite").is_file() else deeplinear.FILE
        record = deeplinear.read(source)
        caption = f"Deep linear networks: learning time vs depth, orthogonal vs Gaussian ({where})"
        figs.append((plot_learning_time(record), caption, [deep_linear_table(record)]))
    return figs
