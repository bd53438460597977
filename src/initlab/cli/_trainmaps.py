"""``initlab theory trainability | deep-linear``: train, print, store, draw.

``trainability --out DIR`` trains one population per depth
(:mod:`initlab.studies.trainability`), writes ``DIR/trainability.json`` and
``DIR/depth-<L>.json`` as it goes (a rerun skips the depths on disk), prints the test
accuracy table beside ``multiple * xi_c`` and draws ``DIR/trainability.png``.
``deep-linear`` (:mod:`initlab.studies.deeplinear`) prints learning time against depth
and, with ``--out DIR``, writes ``DIR/deeplinear.json`` and ``DIR/deeplinear.png``.
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.analysis import correlation as _correlation
from initlab.analysis import stats as _stats
from initlab.cli._outputs import save
from initlab.report import trainability as plots
from initlab.studies import deeplinear, trainability

STUDIES = ("trainability", "deep_linear")
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


def run(kind: str, args: argparse.Namespace, progress=None) -> tuple[list[str], str | None]:
    """Compute (resuming), store with ``--out`` (checked before by the caller; a rescue
    directory if the deep linear record cannot be written), and return the lines to print
    and the rescue note, if any; ``progress(done, total)`` after each depth."""
    out = Path(args.out) if args.out else None
    if kind == "trainability":
        if out is None:
            raise InitlabError(
                "initlab theory trainability needs --out DIR (its results are resumable)"
            )
        config = trainability_config(args)
        done = itertools.count(1)
        tick = None if progress is None else lambda *_: progress(next(done), len(config.depths))
        data = trainability.run(config, out, tick)
        lines, figure = trainability_lines(data), out / "trainability.png"
        plots.plot_trainability(trainability.read(out)).savefig(figure, dpi=120)
        wrote = f"wrote {out / trainability.CONFIG_FILE} and depth-*.json"
        return [*lines, "", wrote, f"wrote {figure}"], None
    record = deeplinear.run(deep_linear_config(args), None, progress)
    lines = deep_linear_lines(record)
    if out is None:
        return lines, None

    def write(where: Path) -> list[Path]:
        path, figure = deeplinear.write(where, record), where / "deeplinear.png"
        plots.plot_learning_time(deeplinear.read(where)).savefig(figure, dpi=120)
        return [path, figure]

    saved = save(write, out, what="deep linear results")
    return [*lines, "", *(f"wrote {p}" for p in saved.paths)], saved.note
