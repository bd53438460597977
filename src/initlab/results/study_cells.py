r"""The cells of studies in a sweep store: ``DIR/sweep.sqlite``'s ``cells`` table (version 3).

A study (a trainability map, ...) is a grid of *cells*, each computed by a study's own
function and stored as one JSON record (:mod:`initlab.execution.study`). They live in the
same SQLite file as a sweep's runs, under the same guarantees (WAL, ``synchronous = FULL``,
one transaction per population, a cell either wholly stored or still pending, the primary
key forbidding a second copy, the ``specs`` table recording every spec run into the store,
the ``provenance`` table)::

    cells(id TEXT PRIMARY KEY,          -- content key: hash of study kind, version, config
          study TEXT,                   -- the study's kind, e.g. "trainability"
          config TEXT,                  -- canonical JSON: everything that decides its numbers
          group_key TEXT,               -- cells of one group may be computed together
          status ('pending' | 'done' | 'failed'),
          record TEXT,                  -- the cell's numbers, JSON (NaN and +-Infinity kept)
          seconds, population, finished_at, worker, attempts, error, provenance)

A record is written with Python's :func:`json.dumps` (floats by their shortest repr, which
reads back to the same bits; NaN and infinities as ``NaN``/``Infinity``, which
:func:`json.loads` reads back), so a stored record is bit for bit what the cell's function
returned. ``seconds`` is the wall-clock time of the population the cell was computed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.results.sweep_schema import _guard

__all__ = ["CELL_COLUMNS", "Cells", "plain"]

CELL_COLUMNS = ("id", "study", "group_key", "status", "seconds", "population", "finished_at",
                "worker", "attempts", "error", "provenance")  # fmt: skip
"""The columns of ``cells`` besides ``config`` and ``record`` (read back parsed)."""


def plain(obj: Any) -> Any:
    """`obj` with NumPy arrays and scalars made Python lists and numbers, non-finite floats
    kept (unlike :func:`initlab.results.records.jsonable`): what a cell's record may hold."""
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def _dumps(obj: Any) -> str:
    return json.dumps(plain(obj), sort_keys=True, separators=(",", ":"))


class Cells:
    """The ``cells`` methods of :class:`~initlab.results.sweep_store.SweepStore` (a mixin:
    it uses the store's connection, transactions and provenance table)."""

    @_guard
    def add_cells(
        self,
        cells: Iterable[tuple[str, str, Mapping[str, Any], str]],
        *,
        spec: Mapping[str, Any] | None = None,
        source: str | None = None,
    ) -> int:
        """Insert ``(id, study, config, group)`` rows as pending unless present, and record
        the `spec` they come from, in one transaction; return how many rows were new."""
        rows = [(cid, study, _dumps(config), group) for cid, study, config, group in cells]
        return self._insert_pending(
            "INSERT OR IGNORE INTO cells (id, study, config, group_key) VALUES (?, ?, ?, ?)",
            rows, spec, source,
        )  # fmt: skip

    @_guard
    def save_cells_done(
        self, ids: Sequence[str], records: Sequence[Mapping[str, Any]], *, seconds: float,
        worker: str, finished_at: str,
    ) -> int:  # fmt: skip
        """Store computed cells' records (a ``provenance`` key goes to the provenance table)
        in one transaction; cells already done are left as they are. Return how many were
        stored."""
        if len(ids) != len(records):
            raise InitlabError(f"{len(records)} records came back for {len(ids)} cells")
        stored = 0
        with self._transaction():
            for cid, rec in zip(ids, records, strict=True):
                rec = dict(rec)
                prov = self._provenance(rec.pop("provenance", None))
                cur = self._con.execute(
                    "UPDATE cells SET status = 'done', record = ?, seconds = ?, population = ?, "
                    "finished_at = ?, worker = ?, attempts = attempts + 1, error = NULL, "
                    "provenance = ? WHERE id = ? AND status != 'done'",
                    (_dumps(rec), seconds, len(ids), finished_at, worker, prov, cid),
                )
                stored += cur.rowcount
        return stored

    @_guard
    def cells(
        self, where: Mapping[str, Any] | None = None, *, ids: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Cells as dicts (columns, ``config`` and ``record`` parsed; ``record`` None until
        done), in the order they were added; ``where`` filters ``{column: value}``, `ids`
        selects cells by id (in the order given, absent ones left out). [] before version 3."""
        tables = {r[0] for r in self._con.execute("SELECT name FROM sqlite_master")}
        if "cells" not in tables:
            return []
        where = dict(where or {})
        for key in where:
            if key not in CELL_COLUMNS:
                raise InitlabError(
                    f"unknown column {key!r}; columns are: {', '.join(CELL_COLUMNS)}"
                )
        sql = "SELECT * FROM cells"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} IS ?" for k in where)
        cur = self._con.execute(sql + " ORDER BY rowid", list(where.values()))
        names = [d[0] for d in cur.description]
        rows = []
        for values in cur:
            row = dict(zip(names, values, strict=True))
            row["config"] = json.loads(row["config"])
            row["record"] = None if row["record"] is None else json.loads(row["record"])
            rows.append(row)
        if ids is None:
            return rows
        by_id = {r["id"]: r for r in rows}
        return [by_id[i] for i in ids if i in by_id]
