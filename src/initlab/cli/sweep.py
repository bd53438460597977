"""``initlab sweep SPEC.toml --out DIR``: train a grid of runs into a resumable store; or
compute a study whose spec has a ``[study]`` table (:mod:`initlab.studies.specs`, written by
``initlab theory trainability ... --write-spec``) into the same store, by the same executor."""

from __future__ import annotations

import argparse
from pathlib import Path

from initlab.cli import _checks
from initlab.cli._common import console, err_console, history_length, progress_bar
from initlab.cli._outputs import check_dir, out_path, save


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="train a grid of runs (a sweep spec, TOML), or compute a study (a study spec), "
        "into a resumable SQLite store",
        description="Expand the [axes] of SPEC into runs, train them as populations on "
        "local worker processes (or a Dask cluster) and store each population in "
        "DIR/sweep.sqlite as it finishes. Runs already done are skipped: run the same "
        "command again to resume after an interruption, or to retry failed runs. Axes: init "
        "(required), data, hidden, activation, learning_rate, seed or seeds, output, "
        "optimizer, batch_size, weight_decay (the other keys as in `initlab run --help`); a "
        "grid of more than [sweep] max_runs runs (100,000 by default) is refused at once. A "
        "spec with a [study] table is a study (kind = one of trainability, deep-linear, "
        "correlation, jacobian, kernels, lr-transfer, coord-check; written by its command's "
        "--write-spec FILE.toml, e.g. `initlab theory trainability --write-spec t.toml`): its "
        "cells are computed and stored the same way, under the same memory and work limits "
        "as its command, and the study's lines printed and figures drawn.",
    )
    p.add_argument("spec", type=Path, help="sweep file (TOML); see examples/sweep.toml")
    p.add_argument("--out", type=out_path, required=True, help="output directory (the store)")
    p.add_argument(
        "--jobs", type=int, help="local worker processes (default: the number of cores; "
        "1 trains in this process)",
    )  # fmt: skip
    p.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="send the work to a Dask distributed scheduler, e.g. tcp://10.0.0.5:8786 "
        "(needs initlab[dask]; workers must see the data paths)",
    )  # fmt: skip
    p.add_argument(
        "--max-population", type=int, metavar="N",
        help="override sweep.max_population (members trained together; bounds memory)",
    )  # fmt: skip
    p.add_argument(
        "--extend", action="store_true",
        help="add this spec's runs to a store made by another spec",
    )  # fmt: skip
    p.add_argument(
        "--retrain-changed-data", action="store_true",
        help="when a data file changed since its runs were stored, train them again (their "
        "old results are deleted) instead of stopping",
    )  # fmt: skip
    p.add_argument(
        "--figures", action="store_true",
        help="write heatmaps of final cost and accuracy into DIR at the end",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab.execution import sweep as sweep
    from initlab.specs import sweep_spec as sweep_spec

    _checks.nonempty_out(args)
    _checks.check_options(args, _checks.SWEEP_RULES)
    _checks.scheduler_address(args.scheduler)
    s = _load(args.spec)
    if not isinstance(s, sweep_spec.SweepSpec):
        return _study(s, args)
    if args.max_population is not None:
        if args.max_population < 1:
            raise sweep_spec.SpecError("--max-population must be >= 1")
        s.max_population = args.max_population
    shape = " x ".join(f"{len(v)} {k}" for k, v in s.axes.items() if len(v) > 1) or "1 run"
    console.print(f"sweep {args.spec}: {len(s.runs)} runs ({shape})")
    check_dir(args.out, need=_expected_bytes(s))
    prepared = sweep.prepare(
        s, args.out, extend=args.extend, retrain_changed_data=args.retrain_changed_data
    )
    with prepared as plan:
        console.print(
            f"store {plan.store.path}: {plan.done} done before, "
            + (f"{plan.failed_before} failed before (retrying), " if plan.failed_before else "")
            + f"{len(plan.todo)} to run"
        )
        if not plan.todo:
            console.print("nothing to do: every run is done")
            return 0
        try:
            with progress_bar("sweep", args.quiet, unit="runs") as bar:
                progress = None if bar is None else lambda ok, bad, n: bar(ok + bad, n, bad)
                report = sweep.execute(
                    plan, jobs=args.jobs, scheduler=args.scheduler, progress=progress
                )
        except KeyboardInterrupt:
            status = plan.store.statuses()
            done = sum(status.get(r.id) == "done" for r in s.runs)
            err_console.print(
                f"interrupted: {done} of {len(s.runs)} runs are stored; run the same "
                "command again to resume"
            )
            raise
        console.print(
            f"{report.stored} runs stored ({report.diverged} diverged), {report.failed} failed, "
            f"in {report.seconds:.1f} s: {report.chunks} populations on {report.workers}"
        )
        note = _figures(plan.store.rows(), args.out) if args.figures else None
    if note:
        err_console.print(f"initlab sweep: error: {note}")
        return 1
    if report.failed:
        last = report.errors[0].strip().splitlines()[-1]
        err_console.print(
            f"{report.failed} runs failed (first error: {last}); their errors are stored "
            f"(initlab results {args.out} --where status=failed). Run the same command "
            "again to retry them"
        )
        return 1
    console.print(f"results: initlab results {args.out}")
    return 0


def _load(path: Path):
    """The sweep spec at `path`, or the study (:mod:`initlab.studies.specs`) it describes."""
    from initlab.specs import spec as _spec
    from initlab.specs import sweep_spec
    from initlab.studies import specs as study_specs

    def parse(raw, base):
        if study_specs.is_study(raw):
            return study_specs.parse(raw, str(Path(path).resolve()))
        return sweep_spec.parse(raw, base)

    found = _spec.load_toml(path, parse, "sweep spec")
    if isinstance(found, sweep_spec.SweepSpec):
        found.source = str(Path(path).resolve())
    return found


def _study(study, args: argparse.Namespace) -> int:
    """Compute a study's cells into ``--out`` as its own command would, then print its
    lines (table, figure)."""
    from initlab.cli import _studies
    from initlab.specs.sweep_spec import SpecError

    if args.retrain_changed_data or args.figures:
        flag = "--retrain-changed-data" if args.retrain_changed_data else "--figures"
        raise SpecError(f"{flag} is for sweeps of runs; {args.spec} is a study "
                        f"({study.kind}), which draws its own figure")  # fmt: skip
    if args.max_population is not None:
        study.max_population = args.max_population
    cap = "--max-population" if args.max_population is not None else "[study] max_population"
    cost = _checks.study_cost(study, args.spec, cap)
    if cost is not None:
        cost.check()  # the limits of the study's own command, before any directory
    groups = len({c.group for c in study.cells})
    console.print(f"study {args.spec}: {study.kind}, {len(study.cells)} cells in {groups} groups")
    check_dir(args.out, need=2000 * len(study.cells))
    with progress_bar(study.kind, args.quiet, unit="cells") as bar:
        report = _studies.execute(
            study, args.out, jobs=args.jobs, scheduler=args.scheduler, progress=bar,
            extend=args.extend, talk=True,
        )  # fmt: skip
    if report.chunks:
        console.print(
            f"{report.stored} cells stored, {report.failed} failed, in {report.seconds:.1f} s: "
            f"{report.chunks} populations on {report.workers}"
        )
    for line in outputs(study.kind)(study, args.out):
        console.print(line, markup=False, highlight=False)
    note = _studies.failure_note(report, args.out)
    if note:
        err_console.print(note)
        return 1
    console.print(f"results: initlab results {args.out}")
    return 0


def outputs(kind: str):
    """``f(study, out)``: the lines the command of study `kind` prints after its cells are
    computed into `out` (its figures drawn), which ``initlab sweep`` prints too."""
    from initlab.cli import _kernels, _sigprop, _trainmaps
    from initlab.cli import scaling as _scaling_cli

    found = {
        "trainability": _trainmaps.trainability_outputs,
        "deep-linear": _trainmaps.deep_linear_outputs,
        "correlation": _sigprop.correlation_outputs,
        "jacobian": _sigprop.jacobian_outputs,
        "kernels": _kernels.kernels_outputs,
        "lr-transfer": _scaling_cli.study_outputs,
        "coord-check": _scaling_cli.study_outputs,
    }
    return found[kind]


def _figures(rows: list[dict], out: Path) -> str | None:
    """Heatmaps into `out` (or a temporary directory); the note if they went elsewhere."""
    from initlab.report import sweep as sweep_plots

    saved = save(lambda where: sweep_plots.write_figures(rows, where), out, what="figures")
    for path in saved.paths:
        console.print(f"figure: {path}")
    return saved.note


def _expected_bytes(s) -> int:
    """About 3 float64 histories and 2 kB of row and details per run."""
    return len(s.runs) * (2000 + 24 * history_length(s.training))
