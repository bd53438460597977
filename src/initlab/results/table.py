r"""Tables of sweep results: select, sort, average over seeds, export.

A *row* is one run as a dict (:meth:`initlab.results.sweep_store.SweepStore.rows`): its axes
(``data``, ``hidden``, ``activation``, ``init`` with ``params`` and ``init_label``,
``learning_rate``, ``seed``, ``parametrization``, ``width``), ``status`` and metrics
(``final_cost``, ``train_accuracy``, ``test_accuracy``, ``test_cost``, ``diverged``, ...)
and ``chaotic`` (None where no twins measured it; :mod:`initlab.analysis.chaos`).
:func:`rows_from_results` makes the same rows from an ``initlab run`` results file, so both
kinds of output read alike.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.analysis.stats import COST, RATE, summarize
from initlab.results.records import write_atomic

WHERE_KEYS = (
    "data", "hidden", "activation", "init", "learning_rate", "seed", "status", "diverged",
    "engine", "id", "parametrization", "width", "chaotic",
)  # fmt: skip
"""Columns ``--where`` can filter on."""
GROUP_AXES = ("data", "parametrization", "hidden", "activation", "init_label", "learning_rate")
"""What :func:`mean_over_seeds` groups by (every axis but the seed)."""
SUMMARIZED = ("final_cost", "train_accuracy", "test_accuracy", "test_cost")
BOUNDS = {"final_cost": COST, "train_accuracy": RATE, "test_accuracy": RATE, "test_cost": COST}
"""The range of each summarized metric (interval ends are clipped to it; see stats)."""
EXPORT_SKIP = ("config",)


def load_rows(directory: str | os.PathLike, *, histories: Sequence[str] = ()) -> list[dict]:
    """Rows of the sweep store in `directory`, or of its ``results.json`` (``initlab run``)."""
    from initlab.results import records as _store
    from initlab.results.sweep_store import STORE_FILE, open_store

    path = Path(directory)
    if path.is_dir() and not (path / STORE_FILE).exists():
        if (path / _store.RESULTS_FILE).exists():
            return rows_from_results(_store.read_results(path))
        raise InitlabError(
            f"no results in {path}: expected {STORE_FILE} (from `initlab sweep`) or "
            f"{_store.RESULTS_FILE} (from `initlab run`)"
        )
    with open_store(path, readonly=True) as s:
        return s.rows(histories=histories)


def cell_rows(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """The cells of the studies in `directory`'s store as flat rows: id, study, status,
    each scalar of the cell's config and record (lists left out), timings and error. []
    when the store holds no cells (a sweep's)."""
    from initlab.results.sweep_store import open_store

    with open_store(directory, readonly=True) as s:
        cells = s.cells()
    rows = []
    for c in cells:
        row = {"id": c["id"], "study": c["study"], "status": c["status"]}
        for part in (c["config"], c["record"] or {}):
            row.update((k, v) for k, v in part.items() if not isinstance(v, list | dict))
        row.update(seconds=c["seconds"], worker=c["worker"], error=c["error"])
        rows.append(row)
    return rows


def rows_from_results(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (as a sweep store gives them) of an ``initlab run`` results dict."""
    from initlab.results.labels import init_label, scaling_columns

    spec = results["spec"]
    rows = []
    for rec in results["runs"]:
        row = {
            "id": f"{rec['name']}/{rec['seed']}",
            "data": spec["data"]["train"],
            "hidden": list(spec["model"]["hidden"]),
            "activation": rec["activation"],
            "init": rec["init"],
            "params": rec["params"],
            "init_label": init_label(rec["init"], rec["params"]),
            "learning_rate": rec["learning_rate"],
            "seed": rec["seed"],
            "status": "done",
            "engine": rec["engine"],
            **scaling_columns(spec["model"]["hidden"], spec["model"]),
        }
        for key in (*SUMMARIZED, "diverged", "diverged_at", "cost_history", "chaotic",
                    "twin_parted_at"):  # fmt: skip
            row[key] = rec.get(key)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- where


def parse_where(items: Iterable[str], keys: Sequence[str] = WHERE_KEYS) -> dict[str, list[str]]:
    """``["init=he", "init=xavier", "seed=1"]`` -> ``{"init": ["he", "xavier"], "seed": ["1"]}``;
    a column not in `keys` is refused."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InitlabError(f"--where needs AXIS=VALUE, e.g. init=he; got {item!r}")
        if key not in keys:
            raise InitlabError(
                f"--where: unknown column {key!r}; valid columns are: {', '.join(keys)}"
            )
        out.setdefault(key, []).append(value.strip())
    return out


def where(rows: Sequence[dict], filters: Mapping[str, Sequence[str]]) -> list[dict]:
    """Rows matching every key of `filters`, and any of the values given for a key."""
    tests = {key: [_matcher(key, v) for v in values] for key, values in filters.items()}
    return [r for r in rows if all(any(t(r) for t in ts) for ts in tests.values())]


def _matcher(key: str, value: str):
    if key == "hidden":
        widths = _widths(value)
        return lambda r: list(r["hidden"]) == widths
    if key == "learning_rate":
        lr = _parse(float, value, key)
        return lambda r: math.isclose(r["learning_rate"], lr, rel_tol=1e-12)
    if key in ("seed", "width"):
        n = _parse(int, value, key)
        return lambda r: r.get(key) == n
    if key == "init":
        compact = value.replace(" ", "")
        return lambda r: value == r["init"] or compact == r["init_label"].replace(" ", "")
    if key == "data":
        return lambda r: value in (r["data"], Path(str(r["data"])).name)
    if key in ("diverged", "chaotic"):
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if value.lower() not in truth:
            raise InitlabError(f"--where {key}=VALUE needs true or false; got {value!r}")
        return lambda r: bool(r.get(key)) == truth[value.lower()]
    return lambda r: str(r.get(key)) == value


def _widths(value: str) -> list[int]:
    text = value.strip().strip("[]").replace("x", ",")
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InitlabError(
            f"--where hidden=VALUE needs widths like 5,5 or [5, 5]; got {value!r}"
        ) from None


def _parse(kind, value: str, key: str):
    try:
        return kind(value)
    except ValueError:
        raise InitlabError(f"--where {key}=VALUE needs a number; got {value!r}") from None


# --------------------------------------------------------------------------- sort, mean


def sort(rows: Sequence[dict], key: str) -> list[dict]:
    """Sort by column `key` (``-key``: descending); missing values last either way."""
    descending = key.startswith("-")
    name = key.lstrip("-+")
    if rows and name not in rows[0]:
        cols = sorted(k for k, v in rows[0].items() if isinstance(v, int | float | str | None))
        raise InitlabError(f"--sort: unknown column {name!r}; sortable: {', '.join(cols)}")
    present = [r for r in rows if _sortable(r.get(name))]
    missing = [r for r in rows if not _sortable(r.get(name))]
    return sorted(present, key=lambda r: _key(r[name]), reverse=descending) + missing


def _sortable(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _key(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, list | dict) else v


def mean_over_seeds(rows: Sequence[dict]) -> list[dict[str, Any]]:
    """One row per setting (all axes but the seed) of the done runs: the number of seeds
    ``n``, how many diverged, and mean and 95% interval of each metric
    (``final_cost``, ``final_cost_low``, ``final_cost_high``, ...; :mod:`initlab.analysis.stats`).
    Diverged runs have no final cost or accuracy and are left out of those means. A sweep's
    runs are grouped by their whole config but the seed (so the axes without a column, e.g.
    ``optimizer``, separate settings too)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if r["status"] == "done":
            setting = {k: v for k, v in (r.get("config") or {}).items() if k != "seed"}
            key = json.dumps([[r.get(k) for k in GROUP_AXES], setting], sort_keys=True)
            groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        first = members[0]
        row: dict[str, Any] = {k: first.get(k) for k in GROUP_AXES}
        row["init"] = first["init_label"]
        del row["init_label"]
        row["n"] = len(members)
        row["seeds"] = [m["seed"] for m in members]
        row["diverged"] = sum(bool(m["diverged"]) for m in members)
        measured = [m.get("chaotic") for m in members if m.get("chaotic") is not None]
        row["chaotic"] = sum(measured) if measured else None  # None: no twins measured it
        for metric in SUMMARIZED:
            s = summarize([m.get(metric) for m in members], bounds=BOUNDS[metric])
            row[metric], row[f"{metric}_low"], row[f"{metric}_high"] = (
                s["mean"],
                s["low"],
                s["high"],
            )
            row[f"{metric}_note"] = s["note"]
        out.append(row)
    return out


# --------------------------------------------------------------------------- export


def _flat(row: Mapping[str, Any], *, lists: bool) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if k in EXPORT_SKIP or (not lists and k.endswith("_history")):
            continue
        if isinstance(v, dict) or (isinstance(v, list) and not lists):
            v = json.dumps(v)
        elif hasattr(v, "tolist"):
            v = v.tolist()
        out[k] = v
    return out


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Rows as CSV (lists and dicts as JSON text, histories left out), written atomically."""
    flat = [_flat(r, lists=False) for r in rows]
    cols = list(dict.fromkeys(k for r in flat for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    write_atomic(path, buf.getvalue().encode("utf-8"))
    return Path(path)


def write_parquet(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Rows as Parquet (needs pyarrow); lists, e.g. ``hidden`` and ``cost_history``, are
    list columns, dicts JSON text."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InitlabError(
            "--parquet needs pyarrow, which is not installed: pip install 'initlab[parquet]'"
        ) from None
    table = pa.Table.from_pylist([_flat(r, lists=True) for r in rows])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_atomic(path, sink.getvalue().to_pybytes())
    return Path(path)
