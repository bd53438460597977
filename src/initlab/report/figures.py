"""Figures drawn from stored results (never by re-training).

Stored results write NaN as null; ``np.asarray(values, dtype=float)`` turns it back.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot's global
state, so it shows inline in a notebook and saves headless; nothing calls ``plt.show()``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from initlab.results.records import write_atomic


def _figure(width: float = 8.0, height: float = 5.0) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


LOSSES = {"sigmoid": "binary cross-entropy", "softmax": "cross-entropy", "linear": "squared error"}
"""The loss each output head minimizes (:mod:`initlab.nn.losses`), for axis labels."""


def _cost_label(output: str | None) -> str:
    return f"cost ({LOSSES.get(output or 'sigmoid', output)})"


def _step_label(training: dict[str, Any] | None) -> str:
    """``"iteration"`` (full batch, the post's), or the mini-batch step."""
    batch = (training or {}).get("batch_size")
    return f"step (mini-batch of {batch})" if batch else "iteration"


def cost_curve(record: dict[str, Any]) -> Figure:
    """The cost at every iteration of one run (a results ``runs`` entry)."""
    fig = _figure()
    ax = fig.add_subplot()
    cost = np.asarray(record["cost_history"], dtype=float)
    ax.plot(np.arange(cost.size), cost, color="C0")
    if record.get("diverged"):
        ax.axvline(record["diverged_at"], color="C3", ls="--", label="diverged")
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel(_cost_label(record.get("output")))
    lr = record["learning_rate"]
    ax.set_title(f"{record['name']}: learning rate {lr:g}, seed {record['seed']}")
    ax.grid(alpha=0.3)
    return fig


def cost_curves(results: dict[str, Any], *, log: bool = False) -> Figure:
    """All runs on one plot; a run with several seeds is drawn as its mean with a 95% band."""
    fig = _figure()
    ax = fig.add_subplot()
    for i, s in enumerate(results["summary"]):
        mean = np.asarray(s["cost_mean"], dtype=float)
        x = np.arange(mean.size)
        label = s["name"] + (f" (mean of {len(s['seeds'])} seeds)" if len(s["seeds"]) > 1 else "")
        ax.plot(x, mean, color=f"C{i}", label=label)
        low, high = np.asarray(s["cost_low"], dtype=float), np.asarray(s["cost_high"], dtype=float)
        if np.isfinite(low).any():
            ax.fill_between(x, low, high, color=f"C{i}", alpha=0.25, lw=0)
    if log:
        ax.set_yscale("log")
    spec = results.get("spec") or {}  # results of initlab.torch have none, and name their loss
    ax.set_xlabel(_step_label(spec.get("training")))
    loss = results.get("loss")
    label = f"cost ({loss})" if loss else _cost_label(spec.get("model", {}).get("output"))
    ax.set_ylabel(label + (", log scale" if log else ""))
    ax.set_title("Cost curves")
    ax.grid(alpha=0.3, which="both" if log else "major")
    ax.legend()
    return fig


def accuracies(results: dict[str, Any]) -> Figure:
    """Train (and test) accuracy per run, with 95% intervals over seeds where there are several."""
    summary = results["summary"]
    fig = _figure(max(6.0, 1.3 * len(summary) + 2), 4.5)
    ax = fig.add_subplot()
    x = np.arange(len(summary))
    kinds = [k for k in ("train_accuracy", "test_accuracy") if any(s[k]["n"] for s in summary)]
    if not kinds:  # every member diverged, or the head (linear) has no accuracy
        ax.text(0.5, 0.5, "no accuracy to show: every member diverged,\nor the output head "
                "(linear) has none", ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        ax.set_title("Accuracy")
        return fig
    width = 0.8 / len(kinds)
    for j, kind in enumerate(kinds):
        mean = np.asarray([s[kind]["mean"] for s in summary], dtype=float) * 100
        low = np.asarray([s[kind]["low"] for s in summary], dtype=float) * 100
        high = np.asarray([s[kind]["high"] for s in summary], dtype=float) * 100
        err = np.where(np.isfinite(low), np.vstack([mean - low, high - mean]), 0.0)
        pos = x + (j - (len(kinds) - 1) / 2) * width
        ax.bar(pos, np.nan_to_num(mean), width, yerr=err, capsize=4, label=kind.split("_")[0])
        for p, v in zip(pos, mean, strict=True):
            if np.isfinite(v):
                ax.annotate(f"{v:.0f}%", (p, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [s["name"] for s in summary], rotation=20, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="lower right")
    ax.set_title("Accuracy (95% interval over seeds where N > 1)")
    return fig


def save(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save `fig` as PNG (or the format of the suffix) atomically."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    write_atomic(path, buf.getvalue())
    return path


def slug(name: str) -> str:
    """A file-name-safe version of a run name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "run"


STANDARD = ("cost_curves.png", "cost_curves_log.png", "accuracy.png")
"""The figures of every experiment; each run also gets ``cost_<name>.png``."""


def run_figure_names(results: dict[str, Any]) -> dict[str, str]:
    """``{run name: file name}`` of the per-run cost curves, distinct per run.

    Names that map to the same file (``"a b"`` and ``"a-b"``, or names differing only in
    case, which are one file on macOS and Windows) get ``-2``, ``-3``... in run order.
    """
    names: dict[str, str] = {}
    taken = {n.lower() for n in STANDARD}
    for rec in results["runs"]:
        if rec["replicate"] != 0 or rec["name"] in names:
            continue
        base, n = f"cost_{slug(rec['name'])}", 1
        file = f"{base}.png"
        while file.lower() in taken:
            n += 1
            file = f"{base}-{n}.png"
        taken.add(file.lower())
        names[rec["name"]] = file
    return names


def remove_stale(out_dir: str | os.PathLike, keep: list[Path]) -> list[Path]:
    """Delete figures of an earlier experiment written into `out_dir` and not in `keep`.

    Only initlab's own file names are touched (:data:`STANDARD` and ``cost_*.png``), so
    reusing an output directory never leaves old figures beside a new ``results.json``.
    """
    out = Path(out_dir)
    kept = {p.name for p in keep}
    old = [out / n for n in STANDARD if (out / n).is_file()] + sorted(out.glob("cost_*.png"))
    stale = [p for p in old if p.name not in kept]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_figures(results: dict[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """The standard figures of an experiment: one cost curve per run, all runs, accuracies.

    Figures of an earlier experiment in `out_dir` are removed (:func:`remove_stale`).
    """
    out = Path(out_dir)
    paths = [save(cost_curves(results), out / STANDARD[0])]
    paths.append(save(cost_curves(results, log=True), out / STANDARD[1]))
    paths.append(save(accuracies(results), out / STANDARD[2]))
    files = run_figure_names(results)
    for rec in results["runs"]:
        if rec["replicate"] == 0 and files.get(rec["name"]):
            paths.append(save(cost_curve(rec), out / files.pop(rec["name"])))
    remove_stale(out, paths)
    return paths


def test_curves(results: dict[str, Any]) -> Figure:
    """Held-out cost and accuracy over training, per run (first seed)."""
    fig = _figure(10.0, 4.2)
    ax_cost, ax_acc = fig.subplots(1, 2)
    for i, rec in enumerate(r for r in results["runs"] if r["replicate"] == 0):
        if rec["test_cost_history"] is None:
            continue
        it = np.asarray(rec["eval_iterations"])
        ax_cost.plot(
            it, np.asarray(rec["test_cost_history"], dtype=float), color=f"C{i}", label=rec["name"]
        )
        ax_acc.plot(
            it,
            100 * np.asarray(rec["test_accuracy_history"], dtype=float),
            color=f"C{i}",
            label=rec["name"],
        )
    ax_cost.set(xlabel="iteration", ylabel="held-out cost", title="Held-out cost")
    ax_acc.set(xlabel="iteration", ylabel="held-out accuracy (%)", title="Held-out accuracy")
    for ax in (ax_cost, ax_acc):
        ax.grid(alpha=0.3)
    ax_acc.legend()
    return fig


def theory_vs_measurement(results: dict[str, Any]) -> Figure | None:
    r"""Mean-field :math:`q_l` beside the measured second moment of :math:`Z_l` at iteration 0.

    The measurement is :math:`\overline{Z_l^2} = \text{std}^2 + \text{mean}^2` over units and
    examples from the stored diagnostics of each run's first seed. None if no run has both.
    """
    pairs = []
    for rec in results["runs"]:
        th, dg = rec.get("theory"), rec.get("diagnostics")
        if rec["replicate"] == 0 and th and th.get("available") and dg:
            measured = [
                (s[0] ** 2 + m[0] ** 2) if s[0] is not None and m[0] is not None else np.nan
                for s, m in zip(dg["z_std"], dg["z_mean"], strict=True)
            ]
            pairs.append((rec["name"], np.asarray(th["q"], dtype=float), np.asarray(measured)))
    if not pairs:
        return None
    fig = _figure(8.0, 4.8)
    ax = fig.add_subplot()
    for i, (name, q, measured) in enumerate(pairs):
        layers = np.arange(1, q.size + 1)
        ax.plot(layers, q, color=f"C{i}", ls="--", label=f"{name}: theory")
        ax.plot(layers, measured, color=f"C{i}", marker="o", ls="none", label=f"{name}: measured")
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_xticks(np.arange(1, pairs[0][1].size + 1))
    ax.set(xlabel="layer l", ylabel=r"variance of $Z_l$ at initialization ($q_l$)")
    ax.set_title("Signal propagation at initialization: mean-field theory vs measurement")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncols=2)
    return fig
