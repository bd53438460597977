"""``initlab report DIR``: a self-contained HTML page and a Markdown summary of stored results."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from initlab._validation import InitlabError
from initlab.cli import _checks
from initlab.cli._common import console, err_console, progress_bar
from initlab.cli._outputs import check_dir, out_path, save


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write report.html (self-contained) and report.md from stored results",
        description="Draw every figure from the stored results in DIR (results.json and/or "
        "sweep.sqlite) into one HTML file with the figures embedded (viewing needs no "
        "network), and a Markdown summary. Nothing is re-trained.",
    )
    p.add_argument("dir", type=Path, help="a directory written by run, reproduce or sweep")
    p.add_argument("--out", type=out_path, help="where to write (default: DIR)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--axes",
        nargs=2,
        metavar=("X", "Y"),
        help="a sweep's heatmap axes, e.g. init learning_rate (default: the two with the "
        "most values); others are averaged",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from initlab.report.html import write_report

    _checks.nonempty_out(args)
    _checks.heatmap_options("--axes", args.axes)
    axes = tuple(args.axes) if args.axes else None
    out = args.out if args.out is not None else args.dir
    warning = None
    made = _new_folders(out)
    if args.dir.is_dir():  # else write_report says what is wrong, creating nothing
        check_dir(out, need=5_000_000)
        from initlab.cli.results import integrity_warning

        warning = integrity_warning(args.dir)  # printed if the rows could be read
    try:
        with progress_bar("report", args.quiet, unit="figures") as progress:
            saved = save(
                lambda where: write_report(args.dir, where, axes=axes, progress=progress),
                out, what="report",
            )  # fmt: skip
    except InitlabError:  # damaged results, found while reading them: no empty --out left
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        raise
    if warning:
        err_console.print(warning, markup=False)
    for path in saved.paths:
        console.print(f"wrote {path}")
    if saved.note:
        err_console.print(f"initlab report: error: {saved.note}")
        return 1
    return 0


def _new_folders(out: Path) -> list[Path]:
    """The folders :func:`check_dir` would create for `out`, deepest first."""
    made = []
    for folder in (out, *out.parents):
        if folder.exists():
            break
        made.append(folder)
    return made
