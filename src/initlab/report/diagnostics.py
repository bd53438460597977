r"""Figures of recorded diagnostics, drawn from stored member dicts only.

Each function takes one member's data as written by
:meth:`initlab.analysis.diagnostics.Diagnostics.member` (a plain dict, e.g. read back from JSON) and
returns a :class:`matplotlib.figure.Figure`. No pyplot state is touched and nothing is
shown; save with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from initlab._validation import InitlabError

LABELS = {
    "z_mean": "mean of $Z_l$",
    "z_std": "std of $Z_l$",
    "a_mean": "mean of $A_l$",
    "a_std": "std of $A_l$",
    "saturated": "fraction saturated",
    "grad_norm": r"$\|dW_l\|_F$",
    "weight_norm": r"$\|W_l\|_F$",
    "update_ratio": r"$\eta\, s_l \|dW_l\| / \|W_l\|$",  # s_l: the layer's lr factor
    "distinct_units": "distinct units",
}
"""Panel titles, one per quantity of :data:`initlab.analysis.diagnostics.QUANTITIES`."""
LOG_SCALE = ("grad_norm", "weight_norm", "update_ratio")
"""Quantities drawn on a log axis (when they have positive values)."""


LINES_MAX = 8
"""Up to this many layers a panel draws one line per layer (colours from one colormap, so
none repeats; the legend beside the panels); beyond, a heatmap over layers and iterations."""
HIST_MAX = 12
"""At most this many layers' histograms are drawn (evenly spaced, first and last included)."""


def plot_diagnostics(
    member: Mapping[str, Any],
    quantities: Sequence[str] = tuple(LABELS),
    *,
    title: str | None = None,
    ncols: int = 3,
) -> Figure:
    """Per-layer diagnostics over training: one panel per quantity.

    With at most :data:`LINES_MAX` layers, one line per layer, coloured along the viridis
    colormap by depth, with one legend beside the panels (it covers none); the iteration axis
    is symmetric-log (linear below 1) so that iteration 0 shows, and a dotted vertical line
    marks the first recorded iteration at which the member had diverged. With more layers
    (a ResNet, a deep Transformer), each panel is a heatmap: one row per layer (labelled
    with its name), one column per recorded iteration, a colour bar per panel (logarithmic
    for :data:`LOG_SCALE` quantities). Non-finite values (undefined ratios, diverged
    iterations) are gaps.

    Parameters
    ----------
    member : dict
        One member's diagnostics (:meth:`~initlab.analysis.diagnostics.Diagnostics.member`).
    quantities : sequence of str
        Which series to draw, from :data:`LABELS`.
    title : str, optional
        Figure title.
    ncols : int
        Panels per row.
    """
    for q in quantities:
        if q not in LABELS:
            raise InitlabError(f"unknown quantity {q!r}; valid quantities are: {', '.join(LABELS)}")
    its = np.asarray(member["iterations"], dtype=float)
    L = len(member["units"])
    heat = L > LINES_MAX
    nrows = -(-len(quantities) // ncols)
    height = max(3.0, 0.16 * L + 1.2) if heat else 3.0
    fig = Figure(figsize=(4.6 * ncols + (0 if heat else 2.0), height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, q in zip(axes, quantities, strict=False):
        values = np.asarray(member[q], dtype=float).reshape(L, len(its))
        ax.set_title(LABELS[q])
        if not np.isfinite(values).any():
            _undefined(ax, q, its)
        elif heat:
            _heatmap(fig, ax, member, q, values, its)
        else:
            _lines(ax, member, q, values, its)
    for ax in axes[len(quantities) :]:
        ax.set_axis_off()
    drawn = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    if drawn:  # beside the panels, never over one
        fig.legend(*drawn[0].get_legend_handles_labels(), loc="outside right upper",
                   fontsize="small")  # fmt: skip
    if title:
        fig.suptitle(title)
    return fig


def _lines(ax: Axes, member: Mapping[str, Any], q: str, values: np.ndarray, its: np.ndarray):
    """One line per layer, coloured by depth along viridis (no colour repeats)."""
    L = len(values)
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, L)) if L > 1 else ["C0"]
    for l, v in enumerate(values):
        ax.plot(its, v, marker=".", color=colors[l], label=_layer_label(member, l))
    diverged = np.asarray(member["diverged"], dtype=bool)
    if diverged.any():
        ax.axvline(its[diverged][0], color="k", linestyle=":", label="diverged")
    ax.set_xlabel("iteration")
    ax.set_xscale("symlog", linthresh=1.0)
    if q in LOG_SCALE and (values[np.isfinite(values)] > 0).any():
        ax.set_yscale("log")


def _heatmap(fig: Figure, ax: Axes, member: Mapping[str, Any], q: str, values: np.ndarray,
             its: np.ndarray) -> None:  # fmt: skip
    """Layers down, recorded iterations across; the colour is the value."""
    finite = values[np.isfinite(values)]
    norm = None
    if q in LOG_SCALE and (finite > 0).any():
        positive = finite[finite > 0]
        norm = LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 1.0001))
    data = np.ma.masked_invalid(np.where(norm is not None and values <= 0, np.nan, values))
    image = ax.imshow(data, aspect="auto", interpolation="nearest", cmap="viridis", norm=norm)
    fig.colorbar(image, ax=ax, fraction=0.08, pad=0.02)
    L, R = values.shape
    step = max(1, -(-L // 30))  # at most about 30 labelled layers; the others by position
    ax.set_yticks(range(0, L, step), [_layer_label(member, l) for l in range(0, L, step)],
                  fontsize="x-small")  # fmt: skip
    xs = range(0, R, max(1, -(-R // 8)))
    ax.set_xticks(xs, [f"{its[i]:g}" for i in xs], fontsize="small")
    ax.set_xlabel("iteration (recorded)")
    diverged = np.asarray(member["diverged"], dtype=bool)
    if diverged.any():
        ax.axvline(np.flatnonzero(diverged)[0] - 0.5, color="w", linestyle=":")


def plot_stream(member: Mapping[str, Any], *, title: str | None = None) -> Figure | None:
    r"""The residual stream and the parameters' update ratios of a torch record, or None.

    Left: the root mean square of each block's output (``block_rms``, blocks in forward
    order, named) at up to 7 recorded iterations (first and last included), one line per
    iteration coloured along viridis, the legend beside the panel (the stream's growth with
    depth). Right: a heatmap of every parameter's measured update
    ratio :math:`\lVert \theta_{t+1} - \theta_t \rVert / \lVert \theta_t \rVert` (rows:
    parameters, columns: recorded iterations; log colour), the optimizer's real step. A
    record without blocks or parameters (initlab's own networks) gives None.
    """
    blocks, params = member.get("blocks") or [], (member.get("parameters") or {})
    ratios = np.array(params.get("update_ratio") or [], dtype=float)
    if not blocks and not np.isfinite(ratios).any():
        return None
    its = np.asarray(member["iterations"], dtype=float)
    fig = Figure(figsize=(12.0, max(3.5, 0.14 * len(ratios) + 1.5)), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.set_title("residual stream: RMS of each block's output")
    rms = np.array(member.get("block_rms") or [], dtype=float).reshape(len(blocks), len(its))
    shown = np.unique(np.linspace(0, len(its) - 1, min(len(its), 7)).round().astype(int))
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(shown)))
    for c, r in enumerate(shown):
        left.plot(np.arange(len(blocks)), rms[:, r], marker=".", color=colors[c],
                  label=f"iteration {its[r]:g}")  # fmt: skip
    left.set_xticks(range(len(blocks)), blocks, rotation=90, fontsize="x-small")
    if blocks:
        left.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    right.set_title(r"update ratio $\|\Delta\theta\| / \|\theta\|$ per parameter")
    finite = ratios[np.isfinite(ratios) & (ratios > 0)]
    if finite.size:
        norm = LogNorm(vmin=finite.min(), vmax=max(finite.max(), finite.min() * 1.0001))
        data = np.ma.masked_invalid(np.where(ratios > 0, ratios, np.nan))
        image = right.imshow(data, aspect="auto", interpolation="nearest", norm=norm)
        fig.colorbar(image, ax=right, fraction=0.08, pad=0.02)
        names = params["names"]
        step = max(1, -(-len(names) // 40))
        right.set_yticks(range(0, len(names), step), names[::step], fontsize="x-small")
        right.set_xticks(range(len(its)), [f"{i:g}" for i in its], fontsize="small")
        right.set_xlabel("iteration (recorded; the step after it)")
    else:
        right.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


UNDEFINED = {"update_ratio": r"$\|W_l\| = 0$ (zero weights)"}
"""Why a quantity may have no value at all, for the panel that says so."""


def _undefined(ax: Axes, q: str, its: np.ndarray) -> None:
    """A panel with no finite value: say so, keep the iteration axis readable."""
    why = UNDEFINED.get(q, "diverged or not recorded")
    ax.text(0.5, 0.5, f"not defined at any recorded iteration:\n{why}", ha="center",
            va="center", transform=ax.transAxes, fontsize="small")  # fmt: skip
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(its.min(), max(its.max(), its.min() + 1))
    ax.set_yticks([])


def plot_histograms(member: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Histograms of ``A_l`` and ``dZ_l`` per layer at the first and last recorded iterations.

    One row per layer (:func:`histogram_layers`: at most :data:`HIST_MAX`, evenly spaced),
    four columns: ``A`` first, ``A`` last, ``dZ`` first, ``dZ`` last.
    The output layer's ``A`` is :math:`\\sigma(Z_L)`. Bins are those stored (chosen per layer
    from the data at that iteration); a panel without a histogram (member diverged) says so.
    """
    hists = member["histograms"]
    L = len(member["units"])
    shown = histogram_layers(L)
    fig = Figure(figsize=(12.0, 1.9 * len(shown) + 0.6), layout="constrained")
    axes = fig.subplots(len(shown), 4, squeeze=False)
    columns = [(kind, when) for kind in ("A", "dZ") for when in ("first", "last")]
    for j, (kind, when) in enumerate(columns):
        axes[0, j].set_title(f"{_KIND[kind]} at iteration {hists[when]['iteration']}")
        for row, l in enumerate(shown):
            _stairs(axes[row, j], hists[when][kind][l])
    for row, l in enumerate(shown):
        axes[row, 0].set_ylabel(_layer_label(member, l), fontsize="small")
    if len(shown) < L:
        title = f"{title + ': ' if title else ''}{len(shown)} of {L} layers, evenly spaced"
    if title:
        fig.suptitle(title)
    return fig


def histogram_layers(L: int) -> list[int]:
    """The layers :func:`plot_histograms` draws: all, or :data:`HIST_MAX` evenly spaced."""
    if L <= HIST_MAX:
        return list(range(L))
    return np.unique(np.linspace(0, L - 1, HIST_MAX).round().astype(int)).tolist()


_KIND = {"A": "$A_l$", "dZ": "$dZ_l$"}


def _layer_label(member: Mapping[str, Any], l: int) -> str:
    """``layer l`` (``(output)`` for the last), with the module's name when the record has
    ``layers`` (records of :mod:`initlab.torch`)."""
    names = member.get("layers")
    label = f"layer {l + 1}" + (f" ({names[l]})" if names else "")
    return label + (" (output)" if l == len(member["units"]) - 1 else "")


def _stairs(ax: Axes, h: Mapping[str, Any] | None) -> None:
    if h is None:
        ax.text(0.5, 0.5, "no data (diverged)", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.stairs(h["counts"], h["edges"], fill=True)
    ax.tick_params(labelsize="small")
