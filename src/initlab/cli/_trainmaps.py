"""``initlab theory trainability | deep-linear``: train, print, store, draw.

``trainability`` trains one population per depth (:mod:`initlab.studies.trainability`) and
prints the test accuracy table beside ``multiple * xi_c``; ``deep-linear``
(:mod:`initlab.studies.deeplinear`) prints learning time against depth. Both run as every
study command runs (:func:`initlab.cli._studies.run`): ``--out DIR`` stores the cells in
``DIR/sweep.sqlite`` as each population finishes (a rerun computes only the cells not
stored; ``--jobs N`` local processes or ``--scheduler ADDRESS`` a Dask cluster) and draws
``DIR/trainability.png`` or ``DIR/deeplinear.png`` from the store; without ``--out``, a
temporary store, printed only; ``--write-spec FILE.toml`` writes the spec instead, which
``initlab sweep FILE.toml --out DIR`` runs to the same bits. The tables printed are built in
:mod:`initlab.report.trainability`, which ``initlab report DIR`` shows beside the figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from initlab.cli import _studies
from initlab.report import tables as T
from initlab.report import trainability as plots
from initlab.results.sweep_store import STORE_FILE
from initlab.studies import deeplinear, trainability

STUDIES = ("trainability", "deep-linear")
_T = trainability.TrainabilityConfig()


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


def trainability_lines(data: dict[str, Any]) -> list[str]:
    """The map's tables (:func:`initlab.report.trainability.trainability_tables`), then the
    depths not yet computed."""
    lines = T.lines(plots.trainability_tables(data))
    if data["missing"]:
        lines += ["", "not yet computed: depths " + " ".join(f"{d:g}" for d in data["missing"])]
    return lines


def _lines(kind: str, config: Any):
    """The lines the study prints, read from the store of a directory (no ``--out``)."""
    if kind == "trainability":
        return lambda d: trainability_lines(trainability.read(d, config))
    return lambda d: plots.deep_linear_table(deeplinear.read(d, config)).lines()


def trainability_outputs(study, out: Path) -> list[str]:
    """The map's table (:func:`trainability_lines`) from the store, its figure drawn."""
    config = trainability.TrainabilityConfig(**study.spec[trainability.KIND])
    data = trainability.read(out, config)
    figure = out / "trainability.png"
    plots.plot_trainability(data).savefig(figure, dpi=120)
    return [*trainability_lines(data), "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]


def deep_linear_outputs(study, out: Path) -> list[str]:
    """The learning times (:func:`initlab.report.trainability.deep_linear_table`) from the
    store, the figure drawn."""
    record = deeplinear.read(out, deeplinear.DeepLinearConfig(**study.spec[deeplinear.KIND]))
    figure = out / "deeplinear.png"
    plots.plot_learning_time(record).savefig(figure, dpi=120)
    lines = plots.deep_linear_table(record).lines()
    return [*lines, "", f"wrote {out / STORE_FILE}", f"wrote {figure}"]


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
