"""The layout of a sweep store's SQLite file: its schema and constants, creating an empty
store, the checks made when one is opened, stored values read back as Python, and the
mechanics of every access (SQLite errors turned into errors naming the file, transactions).

The store and its schema are described in :mod:`initlab.results.sweep_store`, whose
:func:`~initlab.results.sweep_store.open_store` and
:class:`~initlab.results.sweep_store.SweepStore` are the API; this module holds no state.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError

FORMAT = "initlab.sweep"
SCHEMA_VERSION = 3
READS = ("1", "2", "3")
"""Schema versions this initlab reads; an older store opened for writing is migrated to
:data:`SCHEMA_VERSION` (:data:`_MIGRATIONS`: version 2 added the chaos and provenance
columns and the provenance table, version 3 the ``cells`` table of studies; nothing else is
touched), and read as it is when opened read-only (those columns None, no cells)."""
STORE_FILE = "sweep.sqlite"
STATUSES = ("pending", "done", "failed")
AXIS_COLUMNS = ("data", "hidden", "activation", "init", "params", "learning_rate", "seed")
METRICS = ("final_cost", "train_accuracy", "test_accuracy", "test_cost", "diverged", "diverged_at")
HISTORIES = {
    "cost_history": "<f8",
    "test_cost_history": "<f8",
    "test_accuracy_history": "<f8",
    "eval_iterations": "<i8",
}
"""Arrays stored per run, and their stored dtype."""
_CHAOS_COLUMNS = ("chaotic", "twin_parted_at", "provenance")
"""Columns of version 2: None in a row read from a version-1 store."""
_ELSEWHERE = {
    *METRICS, *HISTORIES, "engine", "name", "init", "params", "seed", "replicate",
    "learning_rate", "activation", *_CHAOS_COLUMNS,
}  # fmt: skip
"""Record keys stored in columns (or implied by the config); the rest go to ``details``."""

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE specs (
    runs_hash TEXT PRIMARY KEY, n_runs INTEGER NOT NULL, spec TEXT NOT NULL,
    source TEXT, added_at TEXT NOT NULL
);
CREATE TABLE runs (
    id TEXT PRIMARY KEY, config TEXT NOT NULL,
    data TEXT NOT NULL, hidden TEXT NOT NULL, activation TEXT NOT NULL, init TEXT NOT NULL,
    params TEXT NOT NULL, learning_rate REAL NOT NULL, seed INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN {STATUSES}),
    final_cost REAL, train_accuracy REAL, test_accuracy REAL, test_cost REAL,
    diverged INTEGER, diverged_at INTEGER, engine TEXT,
    seconds REAL, population INTEGER, finished_at TEXT, worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
    chaotic INTEGER, twin_parted_at INTEGER, provenance TEXT
);
CREATE TABLE provenance (id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE histories (
    run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, dtype TEXT NOT NULL,
    shape TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE TABLE details (run_id TEXT PRIMARY KEY REFERENCES runs(id), json TEXT NOT NULL);
""" + "".join(f"CREATE INDEX runs_{c} ON runs({c});\n" for c in (*AXIS_COLUMNS, "status"))

_CELLS = f"""
CREATE TABLE cells (
    id TEXT PRIMARY KEY, study TEXT NOT NULL, config TEXT NOT NULL, group_key TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN {STATUSES}),
    record TEXT, seconds REAL, population INTEGER, finished_at TEXT, worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, error TEXT, provenance TEXT
);
CREATE INDEX cells_study ON cells(study);
CREATE INDEX cells_status ON cells(status);
"""
"""Version 3: the cells of studies (:mod:`initlab.results.study_cells`)."""


_MIGRATE_1_2 = (
    "ALTER TABLE runs ADD COLUMN chaotic INTEGER",
    "ALTER TABLE runs ADD COLUMN twin_parted_at INTEGER",
    "ALTER TABLE runs ADD COLUMN provenance TEXT",
    "CREATE TABLE provenance (id TEXT PRIMARY KEY, json TEXT NOT NULL)",
    "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
)
"""Version 1 -> 2, in one transaction."""
_MIGRATIONS = {
    "1": _MIGRATE_1_2,
    "2": (*_CELLS.split(";")[:-1], "UPDATE meta SET value = '3' WHERE key = 'schema_version'"),
}
"""``{version: the statements that make it the next}``, each step one transaction."""
_DATA = "data_sha256:"
_RESULT_COLUMNS = (
    "final_cost", "train_accuracy", "test_accuracy", "test_cost", "diverged", "diverged_at",
    "engine", "seconds", "population", "finished_at", "worker", "error", *_CHAOS_COLUMNS,
)  # fmt: skip


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _cannot_write(exc: sqlite3.Error) -> bool:
    """A full disk or an I/O error: the file may be intact, the write was not made."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
    return "disk is full" in str(exc) or "disk I/O error" in str(exc)


def _first_line(exc: Any) -> str:
    lines = str(exc).strip().splitlines() or [""]
    return lines[0] + (f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else "")


def _real(x: Any) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _array(dtype: str, shape: str, blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.dtype(dtype)).reshape(json.loads(shape))


def _row(row: dict[str, Any]) -> dict[str, Any]:
    row["hidden"] = json.loads(row["hidden"])
    row["params"] = json.loads(row["params"])
    row["config"] = json.loads(row["config"])
    for key in ("diverged", "chaotic"):
        if row.get(key) is not None:
            row[key] = bool(row[key])
    for key in _CHAOS_COLUMNS:
        row.setdefault(key, None)
    from initlab.results.labels import init_label, scaling_columns

    row["init_label"] = init_label(row["init"], row["params"])
    row.update(scaling_columns(row["hidden"], row["config"]))
    return row


def store_path(where: str | Path) -> Path:
    """``DIR/sweep.sqlite`` for a directory; a file path as it is."""
    where = Path(where)
    return where / STORE_FILE if where.is_dir() or where.suffix != ".sqlite" else where


def _check(store: Any, *, create: bool, readonly: bool) -> None:
    """Refuse (:class:`InitlabError`, naming the file) what is not an initlab sweep store of
    this schema version, or (unless `readonly`) fails SQLite's ``quick_check``; create the
    schema in an empty file when `create`. `store` is the :class:`SweepStore` being opened."""
    con, path = store._con, store.path
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise InitlabError(
            f"{path} is not an initlab sweep store: it is not a SQLite database ({exc}). "
            "Was it damaged, or written by something else? Move it away or use another --out"
        ) from None
    if not tables and create:
        _create(con)
        return
    if "meta" not in tables:
        raise InitlabError(
            f"{path} is a SQLite database but not an initlab sweep store (it has no 'meta' "
            "table); use another --out directory"
        )
    meta = store.meta()
    if meta.get("format") != FORMAT:
        raise InitlabError(
            f"{path} is a SQLite database but not an initlab sweep store "
            f"(meta format is {meta.get('format')!r}, not {FORMAT!r})"
        )
    if meta.get("schema_version") not in READS:
        raise InitlabError(
            f"{path} is a sweep store of schema version {meta.get('schema_version')!r}; this "
            f"initlab reads version {' or '.join(READS)}. Use the initlab that wrote it, or "
            "run the sweep again into a new --out directory"
        )
    if not readonly:
        try:
            problems = [r[0] for r in con.execute("PRAGMA quick_check")]
            if problems == ["ok"]:
                _pragmas(con)
                _migrate(con, meta["schema_version"])
                return
        except sqlite3.DatabaseError as exc:
            problems = [str(exc)]
        more = f"; {len(problems) - 2} more problems" if len(problems) > 2 else ""
        raise store._damaged("; ".join(p.replace("\n", " ") for p in problems[:2]) + more)


def _pragmas(con: sqlite3.Connection) -> None:
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")


def _migrate(con: sqlite3.Connection, version: str) -> None:
    """`version` -> :data:`SCHEMA_VERSION` (:data:`_MIGRATIONS`), each step all or nothing."""
    while version in _MIGRATIONS:
        with _Transaction(con):
            for statement in _MIGRATIONS[version]:
                con.execute(statement)
        version = str(int(version) + 1)


def _create(con: sqlite3.Connection) -> None:
    from initlab._version import __version__

    _pragmas(con)
    con.execute("BEGIN IMMEDIATE")
    try:
        for statement in (_SCHEMA + _CELLS).split(";"):
            if statement.strip():
                con.execute(statement)
        con.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("format", FORMAT),
                ("schema_version", str(SCHEMA_VERSION)),
                ("created", _now()),
                ("initlab_version", __version__),
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _guard(method):
    """Turn SQLite errors into InitlabErrors that name the file."""

    @functools.wraps(method)
    def wrapper(self: Any, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            if _cannot_write(exc):
                raise self._unwritable(exc) from None
            if "locked" in str(exc) or "busy" in str(exc):
                raise InitlabError(
                    f"{self.path} is busy: another process holds it ({exc}); try again"
                ) from None
            raise self._damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        except InitlabError:
            raise
        except ValueError as exc:  # garbled contents: JSON that does not parse, a bad blob
            raise self._damaged(f"garbled contents: {exc}") from None

    return wrapper


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.con.execute("COMMIT")
        elif self.con.in_transaction:  # SQLite may have rolled back already (disk full)
            self.con.execute("ROLLBACK")
