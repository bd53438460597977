"""Stored results checked as they are read: types, shapes, and the store's integrity.

A results file or sweep store edited by hand, damaged on disk or written by something else
must give one line naming the file and the field, never a traceback deep in a table or a
figure. :func:`check_results` checks a ``results.json`` as read, :func:`check_rows` the
rows of a sweep store, and :func:`store_warning` runs SQLite's ``quick_check`` on a store
opened read-only (``initlab results`` and ``initlab report`` print it as a warning when
the rows can still be read; a file SQLite cannot read at all is refused when opened).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError, shorten

METRICS = ("final_cost", "train_accuracy", "test_accuracy", "test_cost")
"""Numbers (or null: diverged, no held-out data) of every run."""
RUN_FIELDS = {
    "name": str, "init": str, "params": dict, "seed": int, "replicate": int,
    "learning_rate": float, "activation": str,
}  # fmt: skip
"""Fields every run record of a results file has, with their type."""
NULLABLE = ("activation",)
"""Fields that may be null: a torch model's run recorded without diagnostics has no
activation (:func:`initlab.torch.run_record`)."""
ROW_FIELDS = {"id": str, "init": str, "params": dict, "seed": int, "learning_rate": float,
              "hidden": list, "status": str}  # fmt: skip
"""Fields every row of a sweep store has, with their type."""


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


_NAMES = {str: "a string", dict: "a table", int: "an integer", float: "a number",
          list: "a list"}  # fmt: skip


def _damaged(source: object, field: str, expected: str, value: Any) -> InitlabError:
    return InitlabError(
        f"{source}: {field} must be {expected}; got {shorten(value, 80)}. The file is damaged "
        "or was edited: write it again (run the experiment or sweep again)"
    )


def _check_fields(record: Any, fields: Mapping[str, type], where: str, source: object) -> None:
    if not isinstance(record, Mapping):
        raise _damaged(source, where, "a table", record)
    for key, kind in fields.items():
        if key not in record:
            raise InitlabError(f"{source}: {where} has no {key!r}; the file is incomplete")
        if record[key] is None and key in NULLABLE:
            continue
        if not _is(record[key], kind):
            raise _damaged(source, f"{where}.{key}", _NAMES[kind], record[key])
    for key in METRICS:
        value = record.get(key)
        if value is not None and not _is(value, float):
            raise _damaged(source, f"{where}.{key}", "a number or null", value)
    if record.get("diverged") not in (None, True, False, 0, 1):
        raise _damaged(source, f"{where}.diverged", "true, false or null", record["diverged"])


def _check_history(values: Any, where: str, source: object) -> None:
    if values is None:
        return
    if not isinstance(values, list) or not all(v is None or _is(v, float) for v in values):
        raise _damaged(source, where, "a list of numbers", values)


def _check_spec(spec: Any, source: object) -> None:
    if not isinstance(spec, Mapping):
        raise _damaged(source, "spec", "a table or null", spec)
    for table in ("data", "model"):
        if not isinstance(spec.get(table), Mapping):
            raise _damaged(source, f"spec.{table}", "a table", spec.get(table))
    hidden = spec["model"].get("hidden")
    if not isinstance(hidden, list) or not all(_is(n, int) for n in hidden):
        raise _damaged(source, "spec.model.hidden", "a list of integers", hidden)


def check_results(results: Mapping[str, Any], source: object) -> None:
    """Refuse a results file whose ``spec``, ``runs`` or ``summary`` has a wrong type,
    naming `source` (the file) and the field, e.g. ``runs[3].final_cost``."""
    spec = results["spec"]
    if spec is not None:  # None: results of a model trained elsewhere (initlab.torch.results)
        _check_spec(spec, source)
    for key in ("runs", "summary"):
        if not isinstance(results[key], list):
            raise _damaged(source, key, "a list", results[key])
    for i, run in enumerate(results["runs"]):
        _check_fields(run, RUN_FIELDS, f"runs[{i}]", source)
        _check_history(run.get("cost_history"), f"runs[{i}].cost_history", source)
    for i, row in enumerate(results["summary"]):
        if not isinstance(row, Mapping):
            raise _damaged(source, f"summary[{i}]", "a table", row)


def check_rows(rows: Iterable[Mapping[str, Any]], source: object) -> None:
    """Refuse sweep-store rows with a value of the wrong type, naming the store, the run
    id and the column (e.g. a ``final_cost`` of ``'abc'``)."""
    for row in rows:
        where = f"run {shorten(row.get('id'), 40)}"
        _check_fields(row, ROW_FIELDS, where, source)
        if not all(_is(n, int) for n in row["hidden"]):
            raise _damaged(source, f"{where}.hidden", "a list of integers", row["hidden"])
        for key in ("seconds", "population", "diverged_at"):
            if row.get(key) is not None and not _is(row[key], float):
                raise _damaged(source, f"{where}.{key}", "a number or null", row[key])
        if isinstance(row.get("learning_rate"), float) and not math.isfinite(row["learning_rate"]):
            raise _damaged(source, f"{where}.learning_rate", "finite", row["learning_rate"])


def store_warning(path: str | Path) -> str | None:
    """A one-line warning if the SQLite file `path` fails ``PRAGMA quick_check`` (opened
    read-only, nothing changed); None if it passes or is not there."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None  # opening it will say what is wrong
    try:
        problems = [str(r[0]) for r in con.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError:
        return None  # not readable as a database at all: opening it refuses it, naming it
    finally:
        con.close()
    if problems == ["ok"]:
        return None
    first = " ".join(" ".join(problems).split())
    return (
        f"warning: {path} fails SQLite's integrity check ({first[:160]}): what "
        "is shown may be incomplete or wrong; `sqlite3 FILE .recover` may save its runs"
    )
