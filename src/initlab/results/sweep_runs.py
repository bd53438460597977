r"""The runs of a sweep in a sweep store: ``DIR/sweep.sqlite``'s ``runs``, ``histories`` and
``details`` tables (the schema is in :mod:`initlab.results.sweep_store`, beside the store's
guarantees: one transaction per write, a run either wholly stored or still pending).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.results.integrity import check_rows
from initlab.results.records import jsonable
from initlab.results.sweep_schema import (
    _ELSEWHERE,
    _RESULT_COLUMNS,
    HISTORIES,
    METRICS,
    _array,
    _guard,
    _real,
    _row,
)

__all__ = ["Runs"]


class Runs:
    """The ``runs`` methods of :class:`~initlab.results.sweep_store.SweepStore` (a mixin:
    it uses the store's connection, transactions, specs and provenance tables)."""

    @_guard
    def rows(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        histories: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Runs as dicts (axes, status, metrics, timings), in the order they were added.

        Parameters
        ----------
        where : mapping, optional
            ``{column: value}`` equality filters on any column of ``runs``.
        histories : sequence of str
            Names from :data:`HISTORIES` to attach as arrays (None where absent).
        """
        where = dict(where or {})
        cols = [r[1] for r in self._con.execute("PRAGMA table_info(runs)")]
        for key in where:
            if key not in cols:
                raise InitlabError(f"unknown column {key!r}; columns are: {', '.join(cols)}")
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} IS ?" for k in where)
        cur = self._con.execute(sql + " ORDER BY rowid", list(where.values()))
        names = [d[0] for d in cur.description]
        rows = [_row(dict(zip(names, r, strict=True))) for r in cur]
        check_rows(rows, self.path)
        for name in histories:
            if name not in HISTORIES:
                raise InitlabError(f"unknown history {name!r}; stored: {', '.join(HISTORIES)}")
            found = self._histories_named(name)
            for row in rows:
                row[name] = found.get(row["id"])
        return rows

    def _histories_named(self, name: str) -> dict[str, np.ndarray]:
        cur = self._con.execute(
            "SELECT run_id, dtype, shape, data FROM histories WHERE name = ?", (name,)
        )
        return {rid: _array(dtype, shape, blob) for rid, dtype, shape, blob in cur}

    @_guard
    def histories(self, run_id: str) -> dict[str, np.ndarray]:
        """Every stored array of run `run_id`."""
        cur = self._con.execute(
            "SELECT name, dtype, shape, data FROM histories WHERE run_id = ?", (run_id,)
        )
        return {name: _array(dtype, shape, blob) for name, dtype, shape, blob in cur}

    @_guard
    def details(self, run_id: str) -> dict[str, Any] | None:
        """The rest of run `run_id`'s record (diagnostics, LSUV report, ...), or None."""
        row = self._con.execute("SELECT json FROM details WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    @_guard
    def reset_runs_on(self, sources: Iterable[str]) -> int:
        """Make pending again every run trained on (or tested on) one of `sources`,
        deleting its results; return how many runs were reset."""
        sources = set(sources)
        ids = [
            (rid,)
            for rid, config in self._con.execute("SELECT id, config FROM runs")
            if {json.loads(config)["data"].get(k) for k in ("train", "test")} & sources
        ]
        with self._transaction():
            self._con.executemany("DELETE FROM histories WHERE run_id = ?", ids)
            self._con.executemany("DELETE FROM details WHERE run_id = ?", ids)
            cleared = ", ".join(f"{c} = NULL" for c in _RESULT_COLUMNS)
            self._con.executemany(
                f"UPDATE runs SET status = 'pending', {cleared} WHERE id = ?", ids
            )
        return len(ids)

    @_guard
    def add_runs(
        self,
        runs: Iterable[tuple[str, Mapping[str, Any], Mapping[str, Any]]],
        *,
        spec: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> int:
        """Insert ``(id, config, axes)`` rows as pending unless present, and record the
        `spec` they come from, in one transaction; return how many rows were new."""
        rows = [
            (rid, json.dumps(config, sort_keys=True, separators=(",", ":")), a["data"],
             json.dumps(a["hidden"]), a["activation"], a["init"],
             json.dumps(a["params"], sort_keys=True), a["learning_rate"], a["seed"])
            for rid, config, a in runs
        ]  # fmt: skip
        return self._insert_pending(
            "INSERT OR IGNORE INTO runs (id, config, data, hidden, activation, init, params, "
            "learning_rate, seed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows, spec, source
        )  # fmt: skip

    @_guard
    def save_done(
        self, ids: Sequence[str], records: Sequence[Mapping[str, Any]], *, seconds: float,
        worker: str, finished_at: str,
    ) -> int:  # fmt: skip
        """Store finished runs (records of :func:`initlab.execution.runner.train_group`), in one
        transaction; runs already done are left as they are. Return how many were stored."""
        stored = 0
        with self._transaction():
            for rid, rec in zip(ids, records, strict=True):
                cur = self._con.execute(
                    "UPDATE runs SET status = 'done', final_cost = ?, train_accuracy = ?, "
                    "test_accuracy = ?, test_cost = ?, diverged = ?, diverged_at = ?, "
                    "engine = ?, seconds = ?, population = ?, finished_at = ?, worker = ?, "
                    "attempts = attempts + 1, error = NULL, chaotic = ?, twin_parted_at = ?, "
                    "provenance = ? WHERE id = ? AND status != 'done'",
                    (*(_real(rec[m]) for m in METRICS[:4]), int(bool(rec["diverged"])),
                     rec["diverged_at"], rec["engine"], seconds, len(ids), finished_at, worker,
                     _flag(rec.get("chaotic")), rec.get("twin_parted_at"),
                     self._provenance(rec.get("provenance")), rid),
                )  # fmt: skip
                if cur.rowcount != 1:
                    continue
                stored += 1
                self._con.executemany(
                    "INSERT OR REPLACE INTO histories VALUES (?, ?, ?, ?, ?)",
                    [
                        (rid, name, dtype, json.dumps(list(arr.shape)), arr.tobytes())
                        for name, dtype in HISTORIES.items()
                        if rec.get(name) is not None
                        for arr in [np.ascontiguousarray(rec[name], dtype=dtype)]
                    ],
                )
                details = {k: v for k, v in rec.items() if k not in _ELSEWHERE and v is not None}
                if details:
                    self._con.execute(
                        "INSERT OR REPLACE INTO details VALUES (?, ?)",
                        (rid, json.dumps(jsonable(details), allow_nan=False)),
                    )
        return stored


def _flag(x: bool | None) -> int | None:
    return None if x is None else int(bool(x))
