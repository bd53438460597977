"""Pieces shared by subcommands: progress bars, the summary table, writing outputs."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[Any]:
    """Yield a ``progress(done, total)`` callback: a bar on a terminal, silent otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total}",
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def summary_table(results: dict[str, Any]) -> Table:
    """The comparison table of :func:`initlab.report.html.comparison_rows`, for the terminal."""
    from initlab.report.html import INTERVAL_NOTE, comparison_rows

    head, *rows = comparison_rows(results)
    several = any(len(s["seeds"]) > 1 for s in results["summary"])
    table = Table(
        title="initlab: initializations compared",
        title_justify="left",
        caption=INTERVAL_NOTE if several else None,
    )
    for col in head:
        table.add_column(col, justify="left" if col in ("run", "init") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def write_outputs(results: dict[str, Any], out: Path, figures: bool = True) -> list[Path]:
    """results.json and (optionally) the standard figures into `out`."""
    from initlab.report import figures as plots
    from initlab.results import records as store

    paths = [store.write_results(out, results)]
    if figures:
        paths += plots.write_figures(results, out)
    return paths


def describe_data(results: dict[str, Any]) -> str:
    d = results["data"]
    text = f"data: {d['train']['name']}"
    if d["test"] is not None:
        text += f"; held out: {d['test']['name']}"
    return text
