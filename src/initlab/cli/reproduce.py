"""``initlab reproduce``: the post's experiment, printed as the post prints it.

[n_x, 5, 5, 1], tanh hidden layers, learning rate 0.01, 1000 iterations of full-batch
gradient descent, the legacy stream with seed 1, and the four initializations: zeros,
random x 10, He and Xavier (the post's definitions).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from initlab.cli import _checks
from initlab.cli._common import (
    add_jobs,
    console,
    describe_data,
    err_console,
    expected_bytes,
    on_threads,
    positive_int,
    progress_bar,
    summary_table,
    write_outputs,
)
from initlab.cli._outputs import check_dir, out_path
from initlab.nn import engines
from initlab.studies.post import POST_RUNS, REPLICAS, TRAINS, VERDICT_AT, post_spec

__all__ = ["POST_RUNS", "add_parser", "post_spec", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run the post's experiment (zeros, random x 10, He, Xavier)",
        description="Reproduce the post's experiment: [n_x, 5, 5, 1], tanh, learning rate "
        "0.01, 1000 iterations, legacy stream with seed 1. Uses --data, else the fetched "
        "cats-vs-dogs images (`initlab data fetch`), else, offline, scikit-learn's bundled "
        "digits as a binary task.",
    )
    p.add_argument("--data", help="the post's image folder (or any data initlab loads)")
    p.add_argument(
        "--out", type=out_path, default=Path("initlab-reproduce"), help="output directory"
    )
    p.add_argument(
        "--engine",
        choices=engines.CHOICES,
        default="auto",
        help="auto (default) picks the fastest exact engine: sample on the post's images "
        "(W1 = W1(0) + C X^T, in the examples' space); direct is the post's own arithmetic, "
        "W1 stored and multiplied by X. Both are exact and round differently: He and Xavier "
        "are chaotic at this learning rate (marked with a dagger), so their digits differ, "
        "while the verdict over replicas does not",
    )
    p.add_argument("--seeds", type=int, default=1, help="also train seeds 1..N of each init")
    p.add_argument(
        "--replicas", type=positive_int, default=None, metavar="N",
        help=f"train each run with N - 1 shadow twins (weights perturbed by 1e-12, relative) "
        f"and give the verdict over these N replicas: median and 95%% interval of the final "
        f"accuracy, the fractions reaching {100 * VERDICT_AT:.0f}%% (the verdict: trains when "
        f"most do) and the post's {100 * TRAINS:.0f}%%, and which runs are chaotic "
        f"(default {REPLICAS} on the post's images, 2 on other data: one twin marks chaotic "
        f"runs; the verdict table needs {MIN_VERDICT} or more; 1: no twins)",
    )  # fmt: skip
    add_jobs(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _pick_data(given: str | None) -> str:
    from initlab.data import download as fetch

    if given is not None:
        return given
    cached = fetch.locate("cats-vs-dogs")
    if cached is not None:
        return str(cached)
    err_console.print(
        "The post's cats-vs-dogs images are not in the cache (fetch them with `initlab data "
        "fetch cats-vs-dogs`, or pass --data DIR). Comparing the same four initializations "
        "on scikit-learn's bundled digits instead (odd vs even, 64 features, 1797 examples)."
    )
    return "digits"


MIN_VERDICT = 8
"""Replicas below which no verdict table is printed (a fraction of fewer is noise)."""


def _is_post(source: str) -> bool:
    """Whether `source` is the post's cats-vs-dogs images (by its 100 files' names)."""
    path = Path(source)
    return path.is_dir() and len(list(path.glob("cat.*"))) == 50 == len(list(path.glob("dog.*")))


def run(args: argparse.Namespace) -> int:
    from initlab.execution import runner as experiment
    from initlab.specs import spec as spec

    _checks.nonempty_out(args)
    _checks.check_options(args, {"seeds": _checks.POSITIVE_INT})
    data_source = _pick_data(args.data)
    if args.replicas is None:  # the verdict is the post's: on its images
        args.replicas = REPLICAS if _is_post(data_source) else 2
    given = post_spec(data_source, engine=args.engine, seeds=args.seeds,
                      replicas=args.replicas)  # fmt: skip
    s = spec.parse(given)
    check_dir(args.out, need=expected_bytes(s))
    data = experiment.load_data(s)
    with progress_bar("training", args.quiet) as progress:
        results = experiment.run(s, data=data, progress=progress, jobs=args.jobs)
    console.print(describe_data(results))
    for rec in results["runs"]:
        if rec["replicate"] != 0:
            continue
        console.print(f"\n{rec['name']} initialization")
        for i in range(99, len(rec["cost_history"]), 100):
            cost = float(rec["cost_history"][i])
            console.print(f"The cost after {i + 1} iterations is: {cost!r}")
        acc = rec["train_accuracy"]
        console.print("The accuracy rate is: " + ("-" if acc is None else f"{100 * acc:.2f}%."))
    console.print()
    console.print(summary_table(results))
    if args.replicas >= MIN_VERDICT:
        _print_verdicts(results)
    else:
        from initlab.studies.post import chaotic_notes

        for note in chaotic_notes(results):
            console.print(note)
    saved = write_outputs(results, args.out)
    console.print(
        f"results and figures in {saved.where}/ (engine: {results['engine']}, "
        f"{results['seconds']:.2f} s of training{on_threads(results)})"
    )
    if saved.note:
        err_console.print(f"initlab reproduce: error: {saved.note}")
        return 1
    return 0


def _print_verdicts(results: dict[str, Any]) -> None:
    """The verdict table over replicas, the verdict lines, and a note per chaotic run."""
    from rich.table import Table

    from initlab.studies.post import chaotic_notes, verdicts

    found = verdicts(results)
    table = Table(title="verdict over replicas (each run and its twins)", title_justify="left")
    for col in ("init", "replicas", "median accuracy", "95% of replicas",
                f">= {100 * VERDICT_AT:.0f}%", f">= {100 * TRAINS:.0f}% [95% interval]",
                "the post"):  # fmt: skip
        table.add_column(col, justify="left" if col == "init" else "right")
    for v in found:
        table.add_row(
            v.name, str(v.n), f"{100 * v.median:.2f}%",
            f"[{100 * v.low:.2f}, {100 * v.high:.2f}]", f"{100 * v.trained:.0f}%",
            f"{100 * v.reached:.0f}% [{100 * v.reached_low:.0f}, {100 * v.reached_high:.0f}]",
            "-" if v.published is None else f"{100 * v.published:.0f}%",
        )  # fmt: skip
    console.print(table)
    for v in found:
        console.print(f"verdict: {v.line}")
    for note in chaotic_notes(results):
        console.print(note)
