"""Pieces shared by subcommands: progress (bars or lines), the summary table, writing outputs."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from initlab.cli._outputs import Saved, save

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


PROGRESS_INTERVAL = 5.0
"""Seconds between progress lines when the output is not a terminal."""


JOBS_HELP = "members trained in N threads (default: the usable cores); results do not depend on it"


def add_jobs(parser: argparse.ArgumentParser) -> None:
    """``--jobs N``: the threads a population's chunks are trained on
    (:mod:`initlab.execution.threads`), checked by argparse before anything is loaded."""
    parser.add_argument("--jobs", type=positive_int, metavar="N", help=JOBS_HELP)


def on_threads(results: dict[str, Any]) -> str:
    """`` on N threads`` when a run's populations were trained on more than one."""
    n = results.get("machine", {}).get("training_threads", 1)
    return f" on {n} threads" if n > 1 else ""


def positive_int(text: str) -> int:
    """`text` as an integer >= 1, or argparse's usage error (exit status 2) saying so."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(value) != text.strip().lstrip("+"):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def elapsed(seconds: float) -> str:
    """``h:mm:ss``."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class LineProgress:
    """Progress as plain lines, for a file or a pipe (CI logs, nohup).

    :meth:`update` records the state; a daemon thread writes a line every `interval`
    seconds (default :data:`PROGRESS_INTERVAL`) while the work goes on (so a long step
    still shows the job is alive), and :meth:`close` writes the last one. Each line gives
    the count done and the elapsed time.
    """

    def __init__(
        self,
        description: str,
        *,
        unit: str,
        stream: TextIO | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.description, self.unit = description, unit
        self.stream = stream if stream is not None else sys.stderr
        self.clock, self.start = clock, clock()
        self.done, self.total, self.failed = 0, None, 0
        self._stop = threading.Event()
        interval = PROGRESS_INTERVAL if interval is None else interval
        self._thread = threading.Thread(
            target=self._tick, args=(interval,), name="initlab-progress", daemon=True
        )
        self._thread.start()

    def update(self, done: int, total: int | None, failed: int = 0) -> None:
        self.done, self.total, self.failed = done, total, failed

    def line(self) -> str:
        total = "?" if self.total is None else self.total
        text = f"{self.description}: {self.done}/{total} {self.unit}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        if self.failed:
            text += f", {self.failed} failed"
        return f"{text}, {elapsed(self.clock() - self.start)} elapsed"

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._write()

    def _write(self) -> None:
        print(self.line(), file=self.stream, flush=True)

    def close(self, final: bool = True) -> None:
        """Stop the thread; write the last line unless the work failed (its error says it)."""
        self._stop.set()
        self._thread.join()
        if final:
            self._write()


@contextlib.contextmanager
def progress_bar(
    description: str, quiet: bool = False, *, unit: str = "iterations"
) -> Iterator[Any]:
    """Yield a ``progress(done, total, failed=0)`` callback.

    A rich bar on a terminal; otherwise (output to a file or pipe) a :class:`LineProgress`
    line every :data:`PROGRESS_INTERVAL` seconds with the elapsed time; nothing if `quiet`.
    """
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        lines = LineProgress(description, unit=unit)
        try:
            yield lines.update
        except BaseException:
            lines.close(final=False)
            raise
        lines.close()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TextColumn(unit + "{task.fields[failed]}"), TimeElapsedColumn(), TextColumn("elapsed,"),
        TimeRemainingColumn(), TextColumn("left"), console=err_console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(description, total=None, failed="")

        def update(done: int, total: int, failed: int = 0) -> None:
            note = f", {failed} failed" if failed else ""
            bar.update(task, completed=done, total=total, failed=note)

        yield update


def summary_table(results: dict[str, Any]) -> Table:
    """The comparison table of :func:`initlab.report.experiment.comparison_rows`, for the
    terminal."""
    from rich.markup import escape

    from initlab.report.experiment import INTERVAL_NOTE, comparison_rows
    from initlab.report.provenance import chaos_notes

    head, *rows = comparison_rows(results)
    several = any(len(s["seeds"]) > 1 for s in results["summary"])
    legend = (results.get("chaos") or {}).get("legend")
    notes = [INTERVAL_NOTE] * several + chaos_notes(results["summary"], legend)
    table = Table(
        title="initlab: initializations compared",
        title_justify="left",
        caption=escape("\n".join(notes)) if notes else None,
    )
    for col in head:
        table.add_column(col, justify="left" if col in ("run", "init") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def history_length(training: Any) -> int:
    """Costs stored per run: the iterations, or for ``epochs`` (the data not loaded yet) a
    generous 1,000 mini-batch steps per epoch."""
    return training.iterations or 1000 * training.epochs


def expected_bytes(spec: Any, figures: bool = True) -> int:
    """A generous size of an experiment's outputs: ~25 bytes per stored cost (JSON text),
    more with diagnostics, and ~150 kB per figure."""
    costs = len(spec.runs) * history_length(spec.training)
    per_cost = 25 * (4 if spec.training.diagnostics else 1)
    return costs * per_cost + (150_000 * (3 + len(spec.runs)) if figures else 0)


def write_outputs(results: dict[str, Any], out: Path, figures: bool = True) -> Saved:
    """results.json and (optionally) the standard figures into `out`, or, if that fails
    (disk full, ...), into a temporary directory (see :func:`initlab.cli._outputs.save`).

    Figures of an earlier experiment in `out` are removed, even with `figures` false."""
    from initlab.report import figures as plots
    from initlab.results import records as store

    def write(where: Path) -> list[Path]:
        paths = [store.write_results(where, results)]
        paths += plots.write_figures(results, where) if figures else []
        plots.remove_stale(where, paths)
        return paths

    return save(write, out, what="results and figures" if figures else "results")


def describe_data(results: dict[str, Any]) -> str:
    d = results["data"]
    text = f"data: {d['train']['name']}"
    if d["test"] is not None:
        text += f"; held out: {d['test']['name']}"
    return text
