r"""Figures of a sweep, drawn from its stored rows (never by re-training).

Each function returns a :class:`matplotlib.figure.Figure` built without pyplot's global
state. Rows are those of :meth:`initlab.results.sweep_store.SweepStore.rows` (or
:func:`initlab.results.table.load_rows`); only runs with status ``done`` are drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from initlab._validation import InitlabError

AXES = ("data", "parametrization", "hidden", "width", "activation", "init", "learning_rate",
        "seed")  # fmt: skip
METRICS = {
    "final_cost": "final cost",
    "train_accuracy": "train accuracy",
    "test_accuracy": "test accuracy",
    "test_cost": "test cost",
    "diverged": "fraction diverged",
}
AGGREGATES = {"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}


def axis_value(row: dict[str, Any], axis: str) -> Any:
    """The value of `axis` for a row, as drawn: inits with their parameters."""
    if axis == "init":
        return row["init_label"]
    if axis == "hidden":
        return tuple(row["hidden"])
    if axis == "parametrization":
        return row.get(axis, "sp")
    return row.get(axis)


def axis_text(axis: str, value: Any) -> str:
    if axis == "hidden":
        return "[" + ", ".join(map(str, value)) + "]"
    if axis == "learning_rate":
        return f"{value:g}"
    if axis == "data":
        return Path(str(value)).name or str(value)
    return str(value)


def _values(rows: Sequence[dict], axis: str) -> list[Any]:
    seen = list(dict.fromkeys(axis_value(r, axis) for r in rows))
    if axis in ("learning_rate", "seed", "width"):
        return sorted(seen, key=lambda v: (v is None, v or 0))
    if axis == "hidden":
        return sorted(seen, key=lambda h: (len(h), h))
    return seen  # inits, activations, data: in the order of the spec


def _metric(row: dict[str, Any], metric: str) -> float:
    if metric == "diverged":
        return float(bool(row["diverged"]))
    v = row.get(metric)
    return np.nan if v is None else float(v)


def _check(x_axis: str, y_axis: str, metric: str, aggregate: str) -> None:
    for name, value, valid in (
        ("x_axis", x_axis, AXES), ("y_axis", y_axis, AXES),
        ("metric", metric, METRICS), ("aggregate", aggregate, AGGREGATES),
    ):  # fmt: skip
        if value not in valid:
            raise InitlabError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
    if x_axis == y_axis:
        raise InitlabError(f"the two axes of a heatmap must differ; got {x_axis!r} twice")


def heatmap(
    rows: Sequence[dict[str, Any]],
    x_axis: str,
    y_axis: str,
    metric: str = "final_cost",
    aggregate: str = "mean",
) -> Figure:
    """`metric` over two axes, aggregated over every other axis (seeds included).

    Each cell is ``aggregate`` (mean, median, min or max) of `metric` over the finished
    runs with that pair of values; diverged runs have no final cost or accuracy and are
    left out of those cells (their number is written in the cell); the ``diverged``
    metric is the fraction of runs that diverged. The title says what was aggregated.

    Parameters
    ----------
    rows : sequence of dict
        Sweep rows.
    x_axis, y_axis : str
        Two of ``data, parametrization, hidden, width, activation, init, learning_rate,
        seed`` (``width``: the common hidden width).
    metric : str
        ``final_cost``, ``train_accuracy``, ``test_accuracy``, ``test_cost`` or ``diverged``.
    aggregate : str
        ``mean``, ``median``, ``min`` or ``max``.
    """
    _check(x_axis, y_axis, metric, aggregate)
    rows = [r for r in rows if r.get("status", "done") == "done"]
    if not rows:
        raise InitlabError("no finished runs to draw")
    xs, ys = _values(rows, x_axis), _values(rows, y_axis)
    cells: dict[tuple[Any, Any], list[dict]] = {}
    for r in rows:
        cells.setdefault((axis_value(r, x_axis), axis_value(r, y_axis)), []).append(r)
    grid = np.full((len(ys), len(xs)), np.nan)
    fig = Figure(figsize=(1.3 * len(xs) + 3.5, 0.7 * len(ys) + 2.6), layout="constrained")
    ax = fig.add_subplot()
    f = AGGREGATES[aggregate]
    notes = {}
    for (xv, yv), members in cells.items():
        i, j = ys.index(yv), xs.index(xv)
        values = np.array([_metric(m, metric) for m in members])
        finite = values[np.isfinite(values)]
        if finite.size:
            grid[i, j] = f(finite)
        notes[i, j] = values.size - finite.size
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=METRICS[metric])
    for (i, j), missing in notes.items():
        text = "all\ndiverged" if np.isnan(grid[i, j]) else f"{grid[i, j]:.3g}"
        if missing and metric != "diverged" and not np.isnan(grid[i, j]):
            text += f"\n({missing} div.)"
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color=_ink(image, grid[i, j]))
    ax.set_xticks(range(len(xs)), [axis_text(x_axis, v) for v in xs], rotation=30, ha="right")
    ax.set_yticks(range(len(ys)), [axis_text(y_axis, v) for v in ys])
    ax.set_xlabel(x_axis.replace("_", " "))
    ax.set_ylabel(y_axis.replace("_", " "))
    ax.set_title(_title(rows, x_axis, y_axis, metric, aggregate), fontsize=10)
    return fig


def _ink(image: Any, value: float) -> str:
    if np.isnan(value):
        return "black"
    r, g, b, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _title(rows: Sequence[dict], x_axis: str, y_axis: str, metric: str, aggregate: str) -> str:
    rest = [a for a in AXES if a not in (x_axis, y_axis)]
    if "width" in rest:  # the width is the hidden list's; named only as an axis
        rest.remove("width")
    elif len({len(r["hidden"]) for r in rows}) == 1:  # one depth: hidden follows the width
        rest.remove("hidden")
    others = [a for a in rest if len(_values(rows, a)) > 1]
    names = ["seeds" if a == "seed" else a.replace("_", " ") for a in others]
    over = f"{aggregate} over " + ", ".join(names) if names else "one run per cell"
    fixed = [
        f"{a.replace('_', ' ')} {axis_text(a, _values(rows, a)[0])}"
        for a in rest
        if len(_values(rows, a)) == 1 and a != "seed"
    ]
    return f"{METRICS[metric]} ({over})" + (f"\n{'; '.join(fixed)}" if fixed else "")


def default_axes(rows: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The two axes (other than the seed) with the most values, x first."""
    counts = {a: len(_values(rows, a)) for a in AXES if a not in ("seed", "width")}
    ranked = sorted(counts, key=lambda a: -counts[a])
    return ranked[0], ranked[1]


def write_figures(rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike) -> list[Path]:
    """Heatmaps of final cost and accuracies over :func:`default_axes`, into `out_dir`."""
    from initlab.report.figures import save

    x, y = default_axes(rows)
    metrics = ["final_cost", "train_accuracy"]
    if any(r.get("test_accuracy") is not None for r in rows):
        metrics.append("test_accuracy")
    return [
        save(heatmap(rows, x, y, m), Path(out_dir) / f"heatmap_{m}_{x}_{y}.png") for m in metrics
    ]
