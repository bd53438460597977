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
from matplotlib.axes import Axes
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
    "update_ratio": r"$\eta\,\|dW_l\| / \|W_l\|$",
    "distinct_units": "distinct units",
}
"""Panel titles, one per quantity of :data:`initlab.analysis.diagnostics.QUANTITIES`."""
LOG_SCALE = ("grad_norm", "weight_norm", "update_ratio")
"""Quantities drawn on a log axis (when they have positive values)."""


def plot_diagnostics(
    member: Mapping[str, Any],
    quantities: Sequence[str] = tuple(LABELS),
    *,
    title: str | None = None,
    ncols: int = 3,
) -> Figure:
    """Per-layer diagnostics over training: one panel per quantity, one line per layer.

    The iteration axis is symmetric-log (linear below 1) so that iteration 0 shows.
    Non-finite values (undefined ratios, diverged iterations) are gaps; a dotted vertical
    line marks the first recorded iteration at which the member had diverged.

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
    diverged = np.asarray(member["diverged"], dtype=bool)
    nrows = -(-len(quantities) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, q in zip(axes, quantities, strict=False):
        values = np.asarray(member[q], dtype=float)
        ax.set_title(LABELS[q])
        ax.set_xlabel("iteration")
        if not np.isfinite(values).any():
            _undefined(ax, q, its)
            continue
        for l, v in enumerate(values):
            ax.plot(its, v, marker=".", label=_layer_label(member, l))
        if diverged.any():
            ax.axvline(its[diverged][0], color="k", linestyle=":", label="diverged")
        ax.set_xscale("symlog", linthresh=1.0)
        if q in LOG_SCALE and (values[np.isfinite(values)] > 0).any():
            ax.set_yscale("log")
    for ax in axes[len(quantities) :]:
        ax.set_axis_off()
    drawn = [ax for ax in axes if ax.get_legend_handles_labels()[0]]
    if drawn:  # on the first panel with lines (an all-undefined one has none)
        drawn[0].legend(fontsize="small")
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

    One row per layer, four columns: ``A`` first, ``A`` last, ``dZ`` first, ``dZ`` last.
    The output layer's ``A`` is :math:`\\sigma(Z_L)`. Bins are those stored (chosen per layer
    from the data at that iteration); a panel without a histogram (member diverged) says so.
    """
    hists = member["histograms"]
    L = len(member["units"])
    fig = Figure(figsize=(12.0, 1.9 * L + 0.6), layout="constrained")
    axes = fig.subplots(L, 4, squeeze=False)
    columns = [(kind, when) for kind in ("A", "dZ") for when in ("first", "last")]
    for j, (kind, when) in enumerate(columns):
        axes[0, j].set_title(f"{_KIND[kind]} at iteration {hists[when]['iteration']}")
        for l in range(L):
            _stairs(axes[l, j], hists[when][kind][l])
    for l in range(L):
        axes[l, 0].set_ylabel(_layer_label(member, l))
    if title:
        fig.suptitle(title)
    return fig


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
