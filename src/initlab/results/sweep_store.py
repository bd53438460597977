r"""The results of a sweep: one SQLite file, ``DIR/sweep.sqlite``, one row per run; and of
a study, one row per cell (the ``cells`` table of version 3:
:mod:`initlab.results.study_cells`).

Schema (version 3)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        format = "initlab.sweep", schema_version = "2", created, initlab_version, and
        "data_sha256:<source>" = the content hash of each data source the runs use
        (:func:`initlab.data.fingerprint.fingerprint`), checked when a sweep resumes
    specs(runs_hash TEXT PRIMARY KEY, n_runs, spec TEXT, source TEXT, added_at TEXT)
        every sweep spec run into this store: its resolved tables as JSON, and the SHA-256
        of its sorted run ids (two specs that expand to the same runs are the same sweep)
    runs(id TEXT PRIMARY KEY, config TEXT,                    -- config: canonical JSON
         data, hidden, activation, init, params, learning_rate, seed,   -- the axes, indexed
         status ('pending' | 'done' | 'failed'),
         final_cost, train_accuracy, test_accuracy, test_cost, diverged, diverged_at, engine,
         seconds, population, finished_at, worker, attempts, error,
         chaotic, twin_parted_at, provenance)   -- version 2
    provenance(id TEXT PRIMARY KEY, json TEXT)                -- version 2
        what decided the bits of the runs that name it (:mod:`initlab.results.provenance`):
        one row per distinct provenance (a worker machine), keyed by its hash
    histories(run_id, name, dtype, shape, data BLOB, PRIMARY KEY (run_id, name))
        cost_history, test_cost_history, test_accuracy_history (little-endian float64,
        dtype "<f8") and eval_iterations ("<i8"), as ``ndarray.tobytes()``; shape is JSON
    details(run_id TEXT PRIMARY KEY, json TEXT)
        the rest of a run's record, as JSON: diagnostics (if training.diagnostics), LSUV's
        report, layer sizes, ... (whatever :func:`initlab.execution.runner.train_group` adds)

``hidden`` is JSON text (``"[5, 5]"``), ``params`` JSON (``{"scale": 10}``). A row read
back (:meth:`SweepStore.rows`) also has ``parametrization`` (the config's, ``"sp"`` if it
has none) and ``width`` (the common hidden width, None if the widths differ), derived from
the stored config: no column, so a store written before these axes reads the same. NaN and
infinite metrics are stored as NULL. ``chaotic`` is 1 when a shadow twin parted from the
run (:mod:`initlab.analysis.chaos`; the twins' summary is in ``details``), 0 when none did,
NULL when the run had no twins (``training.twins = 0``, a sweep's default);
``twin_parted_at`` the earliest step a twin parted at. ``seconds`` is the wall-clock time of
the population the run was trained in, ``population`` its size, ``worker`` is ``host:pid``.

The file is in WAL mode with ``synchronous = FULL``; every write is one transaction, and a
run becomes ``done`` in the same transaction that stores its metrics and histories, so a
run is either wholly stored or still pending, whatever kills the writer. Pending rows are
inserted with ``INSERT OR IGNORE`` and results written only over rows not yet done: the
primary key makes a second copy of a run impossible.

A store of version 1 (before chaos and provenance) or 2 (before studies) is read as it is
(those columns None, no cells) and migrated to version 3 when opened for writing. A file
that is not SQLite, a SQLite file without initlab's ``meta`` table, a store of another
schema version, and (when opened for writing) a store failing SQLite's ``quick_check``
are refused with an :class:`~initlab.InitlabError` naming the file. The schema, those
checks, the conversion of stored values and the error handling are in
:mod:`initlab.results.sweep_schema`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from initlab._limits import regular_file
from initlab._validation import InitlabError
from initlab.results.provenance import provenance_id
from initlab.results.records import jsonable
from initlab.results.study_cells import Cells
from initlab.results.sweep_runs import Runs
from initlab.results.sweep_schema import (
    _DATA,
    AXIS_COLUMNS,
    FORMAT,
    HISTORIES,
    METRICS,
    SCHEMA_VERSION,
    STATUSES,
    STORE_FILE,
    _cannot_write,
    _check,
    _first_line,
    _guard,
    _now,
    _Transaction,
    store_path,
)

__all__ = [
    "AXIS_COLUMNS",
    "FORMAT",
    "HISTORIES",
    "METRICS",
    "SCHEMA_VERSION",
    "STATUSES",
    "STORE_FILE",
    "StoreWriteError",
    "SweepStore",
    "open_store",
    "runs_hash",
    "store_path",
]


def runs_hash(ids: Iterable[str]) -> str:
    """SHA-256 of the sorted run ids: what identifies a sweep's set of runs."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("ascii")).hexdigest()


class StoreWriteError(InitlabError):
    """A write to the store failed (disk full, I/O error); what was stored is intact."""


class SweepStore(Runs, Cells):
    """An open sweep store. Use :func:`open_store`; close it (or use ``with``).

    Its runs (:class:`~initlab.results.sweep_runs.Runs`) are a sweep's; its cells
    (:class:`~initlab.results.study_cells.Cells`) a study's."""

    def __init__(self, path: Path, con: sqlite3.Connection) -> None:
        self.path = path
        self._con = con

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    def _damaged(self, exc: Exception) -> InitlabError:
        return InitlabError(
            f"{self.path} is damaged or not an initlab sweep store ({_first_line(exc)}); "
            "move it away and run the sweep again into a fresh --out directory (`sqlite3 "
            "FILE .recover` may save its completed runs)"
        )

    def _unwritable(self, exc: sqlite3.Error) -> StoreWriteError:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        what = "disk full" if code == sqlite3.SQLITE_FULL or "full" in str(exc) else str(exc)
        return StoreWriteError(
            f"{what}: could not write to {self.path}. The runs completed before are safe in "
            "it (the unfinished write was rolled back); free some space and run the same "
            "command again to resume"
        )

    def _transaction(self):
        return _Transaction(self._con)

    # ------------------------------------------------------------------ reading
    @_guard
    def meta(self) -> dict[str, str]:
        return dict(self._con.execute("SELECT key, value FROM meta"))

    @_guard
    def specs(self) -> list[dict[str, Any]]:
        """The specs run into this store, oldest first."""
        cur = self._con.execute(
            "SELECT runs_hash, n_runs, spec, source, added_at FROM specs ORDER BY rowid"
        )
        keys = ("runs_hash", "n_runs", "spec", "source", "added_at")
        return [{**dict(zip(keys, r, strict=True)), "spec": json.loads(r[2])} for r in cur]

    @_guard
    def statuses(self, table: str = "runs") -> dict[str, str]:
        """``{run id: status}`` of every run in the store (``table="cells"``: of every cell)."""
        return dict(self._con.execute(f"SELECT id, status FROM {_table(table)}"))

    @_guard
    def data_hashes(self) -> dict[str, str]:
        """``{data source: SHA-256 of its contents}`` recorded when its runs were added."""
        cur = self._con.execute("SELECT key, value FROM meta WHERE key LIKE ?", (f"{_DATA}%",))
        return {k[len(_DATA) :]: v for k, v in cur}

    # ------------------------------------------------------------------ writing
    @_guard
    def set_data_hashes(self, hashes: Mapping[str, str]) -> None:
        """Record the content hash of each data source (see :meth:`data_hashes`)."""
        with self._transaction():
            self._con.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(f"{_DATA}{src}", h) for src, h in hashes.items()],
            )

    def _insert_pending(self, sql: str, rows: list[tuple], spec: Mapping[str, Any] | None,
                        source: str | None) -> int:  # fmt: skip
        """Run ``INSERT OR IGNORE`` `sql` over `rows` (each an id first) and record the
        `spec` they come from, in one transaction; return how many rows were new."""
        with self._transaction():
            before = self._con.total_changes
            self._con.executemany(sql, rows)
            added = self._con.total_changes - before
            if spec is not None:
                self._add_spec([r[0] for r in rows], spec, source)
            return added

    def _add_spec(self, ids: Sequence[str], spec: Mapping[str, Any], source: str | None) -> None:
        """Record `spec` (whose runs or cells are `ids`), inside the caller's transaction."""
        self._con.execute(
            "INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?, ?)",
            (runs_hash(ids), len(ids), json.dumps(jsonable(spec)), source, _now()),
        )

    def _provenance(self, prov: Mapping[str, Any] | None) -> str | None:
        """Store `prov` once (inside the caller's transaction); return its id."""
        if not prov:
            return None
        pid = provenance_id(dict(prov))
        self._con.execute(
            "INSERT OR IGNORE INTO provenance VALUES (?, ?)", (pid, json.dumps(jsonable(prov)))
        )
        return pid

    @_guard
    def provenances(self) -> dict[str, dict[str, Any]]:
        """``{id: provenance}`` of the runs stored ({} for a version-1 store)."""
        tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master")}
        if "provenance" not in tables:
            return {}
        return {pid: json.loads(j) for pid, j in self._con.execute("SELECT * FROM provenance")}

    @_guard
    def save_failed(
        self, ids: Sequence[str], error: str, *, seconds: float, worker: str, finished_at: str,
        table: str = "runs",
    ) -> int:  # fmt: skip
        """Mark runs (or, with ``table="cells"``, cells) failed with `error` (those already
        done are left as they are)."""
        with self._transaction():
            before = self._con.total_changes
            self._con.executemany(
                f"UPDATE {_table(table)} SET status = 'failed', error = ?, seconds = ?, "
                "population = ?, "
                "worker = ?, finished_at = ?, attempts = attempts + 1 "
                "WHERE id = ? AND status != 'done'",
                [(error, seconds, len(ids), worker, finished_at, rid) for rid in ids],
            )
            return self._con.total_changes - before


def _table(name: str) -> str:
    if name not in ("runs", "cells"):
        raise ValueError(f"table must be runs or cells; got {name!r}")
    return name


def open_store(where: str | Path, *, create: bool = False, readonly: bool = False) -> SweepStore:
    """Open the sweep store in directory `where` (or the ``.sqlite`` file `where`).

    Parameters
    ----------
    create : bool
        Create the directory and an empty store if there is none.
    readonly : bool
        Open read-only (``initlab results``); no integrity check beyond the meta table.

    Raises
    ------
    InitlabError
        Naming the file, if there is no store (and not `create`), or the file is not an
        initlab sweep store, is of another schema version, or is damaged.
    """
    path = store_path(where)
    if path.exists():  # a FIFO would block SQLite's first read for ever
        regular_file(path, "sweep store")
    if not path.exists():
        if not create or readonly:
            raise InitlabError(
                f"no sweep results at {path}: expected {STORE_FILE} written by `initlab sweep`"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
    if readonly:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    else:
        con = sqlite3.connect(path, timeout=30, isolation_level=None)
    store = SweepStore(path, con)
    try:
        _check(store, create=create and not readonly, readonly=readonly)
    except sqlite3.OperationalError as exc:
        con.close()
        if _cannot_write(exc):
            raise store._unwritable(exc) from None
        raise store._damaged(exc) from None
    except BaseException:
        con.close()
        raise
    return store
