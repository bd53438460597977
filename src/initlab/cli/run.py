"""``initlab run SPEC.toml --out DIR``: train the comparison a spec describes."""

from __future__ import annotations

import argparse
from pathlib import Path

from initlab.cli._common import (
    console,
    describe_data,
    err_console,
    expected_bytes,
    progress_bar,
    summary_table,
    write_outputs,
)
from initlab.cli._outputs import check_dir


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
    p.add_argument(
        "--engine", choices=("auto", "direct", "sample"), help="override training.engine"
    )
    p.add_argument("--no-figures", action="store_true", help="write results.json only")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab.experiment import runner as experiment
    from initlab.experiment import spec as spec

    s = spec.load(args.spec)
    if args.engine:
        s.training["engine"] = args.engine
    check_dir(args.out, need=expected_bytes(s, figures=not args.no_figures))
    data = experiment.load_data(s)
    with progress_bar("training", args.quiet) as progress:
        results = experiment.run(s, data=data, progress=progress)
    saved = write_outputs(results, args.out, figures=not args.no_figures)
    console.print(describe_data(results))
    console.print(summary_table(results))
    console.print(
        f"results and figures in {saved.where}/ (engine: {results['engine']}, "
        f"{results['seconds']:.2f} s of training)"
    )
    if saved.note:
        err_console.print(f"initlab run: error: {saved.note}")
        return 1
    return 0
