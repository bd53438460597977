"""``initlab run SPEC.toml --out DIR``: train the comparison a spec describes."""

from __future__ import annotations

import argparse
from pathlib import Path

from initlab.cli._common import console, describe_data, progress_bar, summary_table, write_outputs
from initlab.nn import engines


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train the runs of an experiment spec (TOML) and write results and figures",
        description="Train every run of SPEC as populations, write DIR/results.json, cost "
        "curves and accuracy figures, and print the summary table. The spec is validated "
        "whole before any training.",
    )
    p.add_argument("spec", type=Path, help="experiment file (TOML); see examples/")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--engine", choices=engines.CHOICES, help="override training.engine")
    p.add_argument("--no-figures", action="store_true", help="write results.json only")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab.experiment import runner as experiment
    from initlab.experiment import spec as spec

    s = spec.load(args.spec)
    if args.engine:
        s.training["engine"] = args.engine
    data = experiment.load_data(s)
    with progress_bar("training", args.quiet) as progress:
        results = experiment.run(s, data=data, progress=progress)
    write_outputs(results, args.out, figures=not args.no_figures)
    console.print(describe_data(results))
    console.print(summary_table(results))
    console.print(
        f"results and figures in {args.out}/ (engine: {results['engine']}, "
        f"{results['seconds']:.2f} s of training)"
    )
    return 0
