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


def _pct(summary: dict[str, Any]) -> str:
    if summary["mean"] is None:
        return "-"
    text = f"{100 * summary['mean']:.2f}%"
    if summary["low"] is not None:
        text += f" ±{100 * (summary['high'] - summary['mean']):.2f}"
    return text


def _cost(summary: dict[str, Any]) -> str:
    if summary["mean"] is None:
        return "-"
    text = f"{summary['mean']:.6f}"
    if summary["low"] is not None:
        text += f" ±{summary['high'] - summary['mean']:.6f}"
    return text


def summary_table(results: dict[str, Any]) -> Table:
    """One row per named run: init, seeds, final cost and accuracies (95% intervals if N > 1)."""
    has_test = results["data"]["test"] is not None
    table = Table(
        title="initlab: initializations compared",
        title_justify="left",
        caption="± is the half-width of a 95% interval of the mean over seeds (Student t)"
        if any(len(s["seeds"]) > 1 for s in results["summary"])
        else None,
    )
    for col in ("run", "init", "seeds", "final cost", "train accuracy"):
        table.add_column(col, justify="left" if col in ("run", "init") else "right")
    if has_test:
        table.add_column("test accuracy", justify="right")
    table.add_column("diverged", justify="right")
    for s in results["summary"]:
        params = ", ".join(f"{k}={v}" for k, v in s["params"].items())
        init = s["init"] + (f"({params})" if params else "")
        seeds = s["seeds"]
        seed_text = (
            str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}..{seeds[-1]} (N={len(seeds)})"
        )
        row = [s["name"], init, seed_text, _cost(s["final_cost"]), _pct(s["train_accuracy"])]
        if has_test:
            row.append(_pct(s["test_accuracy"]))
        row.append(str(s["diverged"]))
        table.add_row(*row)
    return table


def write_outputs(results: dict[str, Any], out: Path, figures: bool = True) -> list[Path]:
    """results.json and (optionally) the standard figures into `out`."""
    from .. import plots, store

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
