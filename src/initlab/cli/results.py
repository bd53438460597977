"""``initlab results DIR``: the runs of a sweep (or an ``initlab run``) as a table; the cells
of a study (``initlab theory trainability --out DIR``, a study spec run by ``initlab sweep``)
likewise (:mod:`initlab.cli._cells`).

Filters (``--where``; several values of one column are alternatives, different columns
must all match), then sort, then limit; the rows selected are printed and exported alike.

``initlab results compare DIR_A DIR_B``: two ``initlab run``/``reproduce`` result sets run
by run (:mod:`initlab.results.compare`); exit status 1 when a run differs where it must not
(beyond rounding, and not chaotic) or is in one set only.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from initlab.cli import _cells, _checks
from initlab.cli._common import console, err_console
from initlab.cli._outputs import check_file, out_path, save
from initlab.report.provenance import chaos_mark, chaos_notes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "results",
        help="print, filter, average and export the runs of a sweep or the cells of a study "
        "(DIR/sweep.sqlite); compare two",
        description="Read DIR/sweep.sqlite (or DIR/results.json of `initlab run`) and print "
        "its runs as a table (a study's store, e.g. of `initlab theory trainability --out DIR`: "
        "its cells, with --where, --sort, --limit, --csv); filter with --where, sort, average "
        "over seeds with --mean, "
        "export with --csv/--parquet, draw a heatmap with --heatmap. `initlab results compare "
        "DIR_A DIR_B` compares two results.json run by run: equal, equal to rounding (1e-6), "
        "different only because the run is chaotic (expected across machines), or different "
        "where it must not be (exit status 1); or two studies' stores cell by cell: the same "
        "bits, different, or in one only (exit status 1 if any cell differs or is missing).",
    )
    p.add_argument(
        "dir", nargs="+", metavar="DIR",
        help="output directory of `initlab sweep` or `initlab run`; or: compare DIR_A DIR_B "
        "(a directory named compare: ./compare)",
    )  # fmt: skip
    p.add_argument(
        "--where", action="append", default=[], metavar="AXIS=VALUE",
        help="keep runs with this value, e.g. init=he, hidden=5,5, learning_rate=0.01, "
        "parametrization=mup, width=256, status=failed, diverged=true (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--sort", metavar="COLUMN",
        help="sort by a column, e.g. final_cost; --sort=-train_accuracy sorts descending",
    )  # fmt: skip
    p.add_argument("--limit", type=int, metavar="N", help="keep the first N rows")
    p.add_argument(
        "--mean", action="store_true",
        help="one row per setting: mean and 95%% interval over seeds",
    )  # fmt: skip
    p.add_argument("--csv", type=out_path, metavar="FILE", help="write the rows as CSV")
    p.add_argument(
        "--parquet", type=out_path, metavar="FILE",
        help="write the rows as Parquet, with cost histories (needs pyarrow)",
    )  # fmt: skip
    p.add_argument(
        "--heatmap", nargs=2, metavar=("X", "Y"),
        help="draw METRIC over two axes (init, activation, hidden, width, parametrization, "
        "learning_rate, seed, data) "
        "into --out FILE.png",
    )  # fmt: skip
    p.add_argument("--metric", help="heatmap metric (default final_cost)")
    p.add_argument(
        "--aggregate", choices=("mean", "median", "min", "max"),
        help="heatmap aggregate over the other axes (default mean)",
    )  # fmt: skip
    p.add_argument("--out", type=out_path, metavar="FILE.png", help="heatmap file")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab._validation import InitlabError

    if args.dir[0] == "compare" and len(args.dir) > 1:
        if len(args.dir) == 3:
            status = _cells.compare_pair(Path(args.dir[1]), Path(args.dir[2]))
            if status is not None:
                return status
        return _compare(args.dir[1:])
    if len(args.dir) > 1:
        raise InitlabError(f"results takes one DIR (or: compare DIR_A DIR_B); got {args.dir}")
    args.dir = Path(args.dir[0])
    _checks.nonempty_out(args, "csv", "parquet")
    if args.limit is not None and args.limit < 0:
        raise InitlabError(f"--limit must be >= 0; got {args.limit}")
    if _cells.has_cells(args.dir):  # a study's store (initlab theory trainability, ...)
        notes = _cells.run(args, _export)
    else:
        notes = _runs(args)
    for note in filter(None, notes):
        err_console.print(f"initlab results: error: {note}")
    return 1 if any(notes) else 0


def _runs(args: argparse.Namespace) -> list[str | None]:
    """``initlab results DIR`` on a store of runs (a sweep's, or results.json): filter, sort,
    print, export; the notes of exports that failed."""
    from initlab._validation import InitlabError
    from initlab.results import table as T

    for option, what in _HEATMAP_ONLY.items():
        if getattr(args, option) is not None and not args.heatmap:
            raise InitlabError(
                f"--{option} is for --heatmap X Y ({what}); the table shows every metric of "
                f"every run: add --heatmap X Y --out FILE.png, or drop --{option} (sort the "
                "table with --sort, average over seeds with --mean)"
            )
    args.metric, args.aggregate = args.metric or "final_cost", args.aggregate or "mean"
    if args.heatmap:
        _checks.heatmap_options("--heatmap", args.heatmap, args.metric)
    if args.heatmap and args.out is None:
        raise InitlabError("--heatmap needs --out FILE.png")
    filters = T.parse_where(args.where)
    histories = ("cost_history",) if args.parquet and not args.mean else ()
    rows = T.load_rows(args.dir, histories=histories)
    warning = integrity_warning(args.dir)
    if warning:
        err_console.print(warning, markup=False)
    outputs = {"--csv": args.csv, "--parquet": args.parquet, "--out": args.heatmap and args.out}
    for option, file in outputs.items():
        if file:
            check_file(file, need=200 * len(rows) * (1 + 100 * bool(histories)), option=option)
    total = len(rows)
    rows = T.where(rows, filters)
    notes = []
    if args.heatmap:
        from initlab.report import sweep as sweep_plots
        from initlab.report.figures import save as save_figure

        fig = sweep_plots.heatmap(rows, *args.heatmap, metric=args.metric, aggregate=args.aggregate)
        notes.append(_export("heatmap", lambda f: save_figure(fig, f), args.out))
    shown = T.mean_over_seeds(rows) if args.mean else rows
    if args.sort:
        shown = T.sort(shown, args.sort)
    if args.limit is not None:
        shown = shown[: args.limit]
    if not args.quiet and not args.heatmap:  # a heatmap is the answer; the rows are in it
        console.print(_mean_table(shown) if args.mean else _run_table(shown))
        for note in chaos_notes(shown, unmeasured=False):
            console.print(note)
    if not args.quiet:
        what = "settings" if args.mean else "runs"
        console.print(f"{len(shown)} {what} shown; {len(rows)} of {total} runs match")
    if args.csv:
        notes.append(_export("csv", lambda f: T.write_csv(shown, f), args.csv))
    if args.parquet:
        notes.append(_export("parquet", lambda f: T.write_parquet(shown, f), args.parquet))
    return notes


_HEATMAP_ONLY = {
    "metric": "the metric it draws",
    "aggregate": "how it aggregates the other axes",
    "out": "the file it draws into",
}
"""The options that only a heatmap reads, and what each is to it."""


def integrity_warning(directory: Path) -> str | None:
    """The warning line if the sweep store in `directory` fails its integrity check."""
    from initlab.results.integrity import store_warning
    from initlab.results.sweep_store import store_path

    return store_warning(store_path(directory))


def _export(kind: str, write: Callable[[Path], Path], file: Path) -> str | None:
    """Write `file` (or, on an OSError, the same name in a temporary directory); print
    where; return the note if it had to go elsewhere."""
    saved = save(lambda where: [write(where / file.name)], file.parent, what=f"{kind} file")
    console.print(f"{kind}: {saved.paths[0]}")
    return saved.note


def _num(v: Any, fmt: str = ".6f") -> str:
    return "-" if v is None else format(v, fmt)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _varies(rows: list[dict], key: str) -> bool:
    return len({str(r.get(key)) for r in rows}) > 1


def _run_table(rows: list[dict]) -> Table:
    table = Table(title="initlab: sweep runs", title_justify="left")
    show_data = _varies(rows, "data")
    has_test = any(r.get("test_accuracy") is not None for r in rows)
    failed = any(r["status"] == "failed" for r in rows)
    show_par = _varies(rows, "parametrization")
    cols = ["id", *(["data"] if show_data else []), *(["param."] if show_par else []),
            "hidden", "activation", "init", "lr",
            "seed", "status", "final cost", "train acc", *(["test acc"] if has_test else []),
            "diverged", *(["error"] if failed else [])]  # fmt: skip
    for c in cols:
        table.add_column(c, justify="right" if c in ("lr", "seed", "final cost") else "left")
    for r in rows:
        cells = [r["id"]]
        if show_data:
            cells.append(Path(str(r["data"])).name)
        if show_par:
            cells.append(r["parametrization"])
        cells += [
            str(r["hidden"]), r["activation"], r["init_label"], f"{r['learning_rate']:g}",
            str(r["seed"]) + chaos_mark(r), r["status"], _num(r["final_cost"]),
            _pct(r["train_accuracy"]),
        ]  # fmt: skip
        if has_test:
            cells.append(_pct(r.get("test_accuracy")))
        div = r.get("diverged")
        cells.append("-" if div is None else f"at {r['diverged_at']}" if div else "no")
        if failed:
            err = (r.get("error") or "").strip().splitlines()
            cells.append(err[-1] if err else "")
        table.add_row(*cells)
    return table


def _interval(row: dict, key: str, pct: bool) -> str:
    """``mean ± half-width`` of the (symmetric) 95% interval."""
    mean, low, high = row[key], row[f"{key}_low"], row[f"{key}_high"]
    if mean is None:
        return "-"
    if row.get(f"{key}_note") and low is not None:  # clipped to the range: not symmetric
        f = (lambda v: f"{100 * v:.1f}%") if pct else (lambda v: f"{v:.4f}")
        return f"{f(mean)} [{f(low)}, {f(high)}]"
    if pct:
        return f"{100 * mean:.1f}%" + ("" if low is None else f" ±{100 * (mean - low):.1f}")
    return f"{mean:.4f}" + ("" if low is None else f" ±{mean - low:.4f}")


def _mean_table(rows: list[dict]) -> Table:
    table = Table(title="initlab: sweep, mean over seeds ± 95% interval", title_justify="left")
    show_data = _varies(rows, "data")
    has_test = any(r.get("test_accuracy") is not None for r in rows)
    show_par = _varies(rows, "parametrization")
    cols = [*(["data"] if show_data else []), *(["param."] if show_par else []), "hidden",
            "activation", "init", "lr", "seeds",
            "diverged", "final cost", "train acc", *(["test acc"] if has_test else [])]  # fmt: skip
    for c in cols:
        table.add_column(
            c, justify="left" if c in ("data", "param.", "activation", "init") else "right"
        )
    for r in rows:
        cells = [Path(str(r["data"])).name] if show_data else []
        cells += [r["parametrization"]] if show_par else []
        cells += [
            str(r["hidden"]), r["activation"], r["init"] + chaos_mark(r), f"{r['learning_rate']:g}",
            str(r["n"]),
            str(r["diverged"]), _interval(r, "final_cost", False),
            _interval(r, "train_accuracy", True),
        ]  # fmt: skip
        if has_test:
            cells.append(_interval(r, "test_accuracy", True))
        table.add_row(*cells)
    return table


_SAYS = {
    "equal": "equal",
    "rounding": "rounding",
    "chaotic": "chaotic",
    "differs": "DIFFERS",
    "missing": "MISSING",
}
_LEGEND = (
    "equal: the same bits; rounding: within 1e-6 (relative), as a run that is not chaotic "
    "on another machine; chaotic: differs beyond that in a chaotic run (expected across "
    "machines); DIFFERS: beyond rounding where the run is not chaotic (or not measured); "
    "MISSING: in one set only"
)


def _compare(dirs: list[str]) -> int:
    """Print :func:`initlab.results.compare.compare` of two result directories; 1 when a
    run differs where it must not."""
    from initlab._validation import InitlabError
    from initlab.results import compare as C
    from initlab.results.provenance import describe
    from initlab.results.records import read_results

    if len(dirs) != 2:
        raise InitlabError(f"results compare takes two directories, DIR_A DIR_B; got {dirs}")
    a, b = (read_results(d) for d in dirs)
    found = C.compare(a, b)
    for tag, d, res in (("A", dirs[0], a), ("B", dirs[1], b)):
        console.print(f"{tag}: {d}  {describe(res.get('provenance'))}")
    for line in found.spec_differences:
        console.print(f"spec differs: {line}")
    for line in found.provenance_differences:
        console.print(f"provenance differs: {line}")
    table = Table(title="initlab: results compared run by run", title_justify="left")
    for col in ("run", "chaotic A/B", "final cost A", "final cost B", "train acc A",
                "train acc B", "largest rel. diff", "verdict"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("run", "verdict") else "right")
    flag = {True: "yes", False: "no", None: "-"}
    for r in found.runs:
        table.add_row(
            r.key, "/".join(flag[c] for c in r.chaotic), *(_num(v) for v in r.final_cost),
            *(_pct(v) for v in r.train_accuracy), f"{r.largest:.1e}", _SAYS[r.status],
        )  # fmt: skip
    console.print(table)
    console.print(_LEGEND)
    n = found.counts()
    console.print(
        f"{len(found.runs)} runs: {n['equal']} equal, {n['rounding']} equal to rounding, "
        f"{n['chaotic']} differ only as chaotic runs do, {n['differs']} differ where they "
        f"must not, {n['missing']} in one set only"
    )
    return 0 if found.ok else 1
