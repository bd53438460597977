"""``initlab theory trainability | deep-linear``: train, print, store, draw.

``trainability`` trains one population per depth (:mod:`initlab.studies.trainability`) and
prints the test accuracy table beside ``multiple * xi_c``; ``deep-linear``
(:mod:`initlab.studies.deeplinear`) prints learning time against depth. Both run as every
study command runs (:func:`initlab.cli._studies.run`): ``--out DIR`` stores the cells in
``DIR/sweep.sqlite`` as each population finishes (a rerun computes only the cells not
stored; ``--jobs N`` local processes or ``--scheduler ADDRESS`` a Dask cluster) and draws
``DIR/trainability.png`` or ``DIR/deeplinear.png`` from the store; without ``--out``, a
temporary store, printed only; ``--write-spec FILE.toml`` writes the spec instead, which
``initlab sweep FILE.toml --out DIR`` runs to the same bits.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from initlab.analysis import correlation as _correlation
from initlab.analysis import stats as _stats
from initlab.cli import _studies
from initlab.report import trainability as plots
from initlab.results.sweep_store import STORE_FILE
from initlab.studies import deeplinear, trainability

STUDIES = ("trainability", "deep-linear")
_T = trainability.TrainabilityConfig()


def _words(values: Any) -> str:
    return " ".join(f"{v:g}" for v in values)


def trainability_config(args: argparse.Namespace) -> trainability.TrainabilityConfig:
    given = {
        "depths": args.train_depths,
        "sigma_w2": args.sigma_w2_grid,
        "steps": args.steps,
        "width": args.width,
        "seeds": args.seeds,
        "activation": (args.activation or [None])[0],
    }
    return trainability.TrainabilityConfig(
        **{k: v for k, v in given.items() if v is not None},
        sigma_b2=_T.sigma_b2 if args.sigma_b2 is None else args.sigma_b2,
        task=args.task,
        multiple=args.multiple,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        seed=args.seed,
        dtype=args.dtype,
    )


def deep_linear_config(args: argparse.Namespace) -> deeplinear.DeepLinearConfig:
    given = {
        "depths": args.train_depths,
        "width": args.width,
        "steps": args.steps,
        "seeds": args.seeds,
        "rates": args.rates,
        "criterion": args.criterion,
    }
    return deeplinear.DeepLinearConfig(
        **{k: v for k, v in given.items() if v is not None}, seed=args.seed
    )


def _cell(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(x.rjust(w) for x, w in zip(r, widths, strict=True)) for r in rows]


def trainability_lines(data: dict[str, Any]) -> list[str]:
    """Test accuracy per (depth, sigma_w^2), the curve's depth at each sigma_w^2 below; with
    several draws per cell, then the half-width of each cell's 95% interval (Student t)."""
    c = data["config"]
    acc = np.nanmean(data["test_accuracy"], axis=-1)
    act = c["activation"]
    curve = [
        c["multiple"] * _correlation.depth_scales(act, w2, c["sigma_b2"]).xi_c
        for w2 in c["sigma_w2"]
    ]
    head = ["L \\ sigma_w^2", *(f"{w:g}" for w in c["sigma_w2"])]
    rows = [head, *([str(d), *(_cell(a) for a in acc[j])] for j, d in enumerate(c["depths"]))]
    rows.append([f"{c['multiple']:g} xi_c", *(f"{v:.3g}" for v in curve)])
    lines = [
        f"trainability: {act}, width {c['width']}, sigma_b^2 = {c['sigma_b2']:g}, task "
        f"{c['task']} (chance {data['chance']:g}), {c['optimizer']} lr {c['learning_rate']:g}, "
        f"batch {c['batch_size']}, {c['steps']} steps, {c['seeds']} draw(s) per cell",
        "test accuracy after training (mean over draws); last row: the theory's depth "
        f"{c['multiple']:g} xi_c(sigma_w^2) (Schoenholz et al. 2017: trainable below it)",
        "",
        *_table(rows),
    ]
    if c["seeds"] > 1:
        _, low, high = _stats.mean_interval(np.moveaxis(data["test_accuracy"], -1, 0))
        half = (high - low) / 2
        spread = [
            head,
            *([str(d), *(_cell(h) for h in half[j])] for j, d in enumerate(c["depths"])),
        ]
        lines += [
            "",
            f"+- half-width of each cell's 95% interval of the mean over its {c['seeds']} draws "
            "(Student t): cells near the boundary vary from draw to draw, and between CPUs",
            "",
            *_table(spread),
        ]
    if data["missing"]:
        lines += ["", f"not yet computed: depths {_words(data['missing'])}"]
    return lines


def deep_linear_lines(record: dict[str, Any]) -> list[str]:
    """Learning time per depth and init (best rate, median over draws)."""
    c = record["config"]
    rows = [["D", *record["time"]]]
    for j, d in enumerate(c["depths"]):
        cells = [record["time"][name][j] for name in record["time"]]
        rows.append([str(d), *(f"> {c['steps']}" if t is None else f"{t:g}" for t in cells)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        f"deep linear networks (Saxe et al. 2014): width {c['width']}, linear teacher on "
        f"whitened inputs, MSE, full-batch GD at eta_0 / D, eta_0 in {_words(c['rates'])}",
        f"learning time = steps until the cost <= {c['criterion']:g} x its initial value; "
        f"best eta_0's median over {c['seeds']} draws",
        "",
        *("  ".join(x.rjust(w) for x, w in zip(r, widths, strict=True)) for r in rows),
    ]


def _lines(kind: str, config: Any):
    """The lines the study prints, read from the store of a directory (no ``--out``)."""
    if kind == "trainability":
        return lambda d: trainability_lines(trainability.read(d, config))
    return lambda d: deep_linear_lines(deeplinear.read(d, config))


def trainability_outputs(study, out: Path) -> list[str]:
    """The map's table (:func:`trainability_lines`) from the store, its figure drawn."""
    config = trainability.TrainabilityConfig(**study.spec[trainability.KIND])
    data = trainability.read(out, config)
    figure = out / "trainability.png"
    plots.plot_trainability(data).savefig(figure, dpi=120)
    return [*trainability_lines(data), "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]


def deep_linear_outputs(study, out: Path) -> list[str]:
    """The learning times (:func:`deep_linear_lines`) from the store, the figure drawn."""
    record = deeplinear.read(out, deeplinear.DeepLinearConfig(**study.spec[deeplinear.KIND]))
    figure = out / "deeplinear.png"
    plots.plot_learning_time(record).savefig(figure, dpi=120)
    return [*deep_linear_lines(record), "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]


_KINDS = {
    "trainability": (trainability_config, trainability, trainability_outputs),
    "deep-linear": (deep_linear_config, deeplinear, deep_linear_outputs),
}
"""Each study: its config from the options, its module, the lines it prints from the store."""


def run(kind: str, args: argparse.Namespace, progress=None, flops: float | None = None
        ) -> tuple[list[str], str | None]:  # fmt: skip
    """Write the spec, or compute (resuming) into ``--out`` (checked before by the caller)
    or a temporary store (:func:`initlab.cli._studies.run`); the lines to print and the
    note of failed cells, if any. ``progress(done, total, failed)`` after each
    population; `flops`, the estimated work, decides the default of ``--jobs``."""
    make, module, outputs = _KINDS[kind]
    config = make(args)
    if kind == "trainability" and args.out:
        trainability.refuse_old(Path(args.out))
    return _studies.run(module.study(config), args, lines=_lines(kind, config),
                        outputs=outputs, progress=progress, flops=flops)  # fmt: skip
