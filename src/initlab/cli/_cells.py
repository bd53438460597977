"""``initlab results DIR`` on a study's store: its cells as a table, filtered, sorted,
exported (:func:`initlab.results.table.cell_rows`), one table per kind of study when the
store holds several (``theory correlation`` and ``jacobian`` sharing ``--out sigprop/``),
each with its own columns, and how many cells of each kind; ``initlab results compare``
of two studies' stores, cell by cell."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from initlab._validation import InitlabError
from initlab.cli._common import console
from initlab.results import table as T

_NOT_FOR_CELLS = ("mean", "heatmap", "parquet", "metric", "aggregate", "out")


def has_cells(directory: Path) -> bool:
    """Whether `directory`'s store holds cells of studies and no runs."""
    from initlab.results.sweep_store import STORE_FILE, open_store

    if not (directory / STORE_FILE).is_file():
        return False
    with open_store(directory, readonly=True) as s:
        return bool(s.cells()) and not s.statuses()


def run(args: argparse.Namespace, export) -> list[str | None]:
    """Print (and with ``--csv`` export) the cells of ``args.dir``; the export notes."""
    for option in _NOT_FOR_CELLS:
        if getattr(args, option):
            raise InitlabError(f"--{option} is for a sweep's runs; {args.dir} holds a study's "
                               "cells (use --where, --sort, --limit, --csv)")  # fmt: skip
    rows = T.cell_rows(args.dir)
    if args.csv:  # before any output, as for a sweep's runs
        from initlab.cli._outputs import check_file

        check_file(args.csv, need=200 * len(rows), option="--csv")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    total, stored = len(rows), ", ".join(dict.fromkeys(r["study"] for r in rows))
    rows = T.where(rows, T.parse_where(args.where, columns))
    if args.sort:
        rows = T.sort(rows, args.sort)
    if args.limit is not None:
        rows = rows[: args.limit]
    kinds: dict[str, list[dict]] = {}
    for r in rows:
        kinds.setdefault(r["study"], []).append(r)
    if not args.quiet:
        for kind, some in kinds.items():  # one table per kind: its own columns
            console.print(_table(some, f"initlab: study cells ({kind})"))
        studies = ", ".join(kinds) if len(kinds) < 2 else ", ".join(
            f"{k} ({len(v)} cells)" for k, v in kinds.items())  # fmt: skip
        console.print(f"{len(rows)} cells shown of {total}; study: {studies or stored}")
    return [export("csv", lambda f: T.write_csv(rows, f), args.csv)] if args.csv else []


def _show(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _table(rows: list[dict], title: str) -> Table:
    """The columns whose values vary among the rows that have them (id and status always);
    an error column if any failed."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    keep = [c for c in cols if c in ("id", "status")
            or (c not in ("worker", "seconds", "error", "study")
                and len({_show(r[c]) for r in rows if c in r}) > 1)]  # fmt: skip
    if any(r.get("error") for r in rows):
        keep.append("error")
    table = Table(title=title, title_justify="left")
    for c in keep:
        table.add_column(c, justify="left" if c in ("id", "status", "error") else "right")
    for r in rows:
        err = (r.get("error") or "").strip().splitlines()
        table.add_row(*(err[-1] if c == "error" and err else _show(r.get(c)) for c in keep))
    return table


def _text(record: Any) -> str:
    """A record as JSON text: floats by their shortest repr, so equal text is equal bits."""
    return json.dumps(record, sort_keys=True)


def compare_pair(a: Path, b: Path) -> int | None:
    """``initlab results compare A B`` when either holds a study's cells: both must
    (:func:`compare`); None when neither does (two ``results.json``).

    Raises
    ------
    InitlabError
        Naming the directory that holds no cells (missing, no store, or runs) beside one
        that does.
    """
    cells = [has_cells(a), has_cells(b)]
    if all(cells):
        return compare(a, b)
    if not any(cells):
        return None
    study, other = (a, b) if cells[0] else (b, a)
    if not other.exists():
        why = "it does not exist"
    elif not other.is_dir():
        why = "it is not a directory"
    else:
        from initlab.results.sweep_store import STORE_FILE

        why = (f"its {STORE_FILE} holds a sweep's runs" if (other / STORE_FILE).is_file()
               else f"it has no {STORE_FILE}")  # fmt: skip
    raise InitlabError(f"results compare: {study} holds a study's cells, so {other} must "
                       f"hold a study's cells too (compared cell by cell); {why}")  # fmt: skip


def compare(a: Path, b: Path) -> int:
    """Two studies' stores cell by cell: the same bits, different, or in one only; 1 when
    any cell differs or is missing."""
    from initlab.results.sweep_store import open_store

    found = []
    for d in (a, b):
        with open_store(d, readonly=True) as s:
            found.append({c["id"]: c for c in s.cells() if c["status"] == "done"})
    table = Table(title="initlab: study cells compared", title_justify="left")
    for col in ("cell", "study", "verdict"):
        table.add_column(col)
    counts = {"equal": 0, "DIFFERS": 0, "MISSING": 0}
    for cid in dict.fromkeys([*found[0], *found[1]]):
        x, y = found[0].get(cid), found[1].get(cid)
        verdict = "MISSING" if x is None or y is None else (
            "equal" if _text(x["record"]) == _text(y["record"]) else "DIFFERS")  # fmt: skip
        counts[verdict] += 1
        table.add_row(cid, (x or y)["study"], verdict)
    console.print(table)
    console.print(f"{sum(counts.values())} cells: {counts['equal']} the same bits, "
                  f"{counts['DIFFERS']} differ, {counts['MISSING']} in one store only")  # fmt: skip
    return 0 if counts["equal"] == sum(counts.values()) else 1
