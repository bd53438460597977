r"""Figures of trainability: the accuracy heat map with the depth-scale curve, and the
learning time of deep linear networks against depth.

Drawn only from stored results: :func:`initlab.studies.trainability.read` of the
store ``initlab theory trainability --out DIR`` writes, and of ``initlab theory deep-linear
--out DIR``'s (:func:`initlab.studies.deeplinear.read`). Each function returns a
:class:`matplotlib.figure.Figure` built without pyplot's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres `values` (midpoints; the ends mirrored)."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])


def _heat(ax, data: dict[str, Any], which: str):
    config = data["config"]
    w2, depths = np.array(config["sigma_w2"]), np.array(config["depths"])
    order_w, order_d = np.argsort(w2), np.argsort(depths)
    acc = np.nanmean(data[which], axis=-1)[order_d][:, order_w]
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


def stored_figures(source: Any) -> list[tuple[Figure, str]]:
    """The figures of the trainability and deep-linear studies stored in directory `source`
    (those present only), with their captions, for the report."""
    from pathlib import Path

    from initlab.studies import deeplinear, trainability

    source, figs = Path(source), []
    if trainability.stored(source):
        data = trainability.read(source)
        figs.append(
            (
                plot_trainability(data),
                "Trainability: accuracy over depth x sigma_w^2 "
                f"with {data['theory']['multiple']:g} xi_c drawn over it (sweep.sqlite)",
            )
        )
    if deeplinear.stored(source):
        where = "sweep.sqlite" if (source / "sweep.sqlite").is_file() else deeplinear.FILE
        figs.append(
            (
                plot_learning_time(deeplinear.read(source)),
                f"Deep linear networks: learning time vs depth, orthogonal vs Gaussian ({where})",
            )
        )
    return figs
