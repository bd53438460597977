"""The sweep store: one row per run, results written with their status in one transaction,
histories as binary float64, and files that are not initlab stores refused by name."""

import json
import sqlite3

import numpy as np
import pytest

from initlab import InitlabError
from initlab.cli import main
from initlab.results import sweep_store as sweep_store
from initlab.results.sweep_store import open_store


def axes(seed):
    return {
        "data": "digits", "hidden": [5, 5], "activation": "tanh", "init": "random",
        "params": {"scale": 10.0}, "learning_rate": 0.01, "seed": seed,
    }  # fmt: skip


def add(store, n=3):
    return store.add_runs(
        [(f"id{i}", {"seed": i}, axes(i)) for i in range(n)], spec={"axes": {}}, source="x.toml"
    )


def record(T=7, diverged=False, k=0):
    cost = np.linspace(0.7, 0.1, T) + k
    if diverged:
        cost[3:] = np.nan
    return {
        "final_cost": float("nan") if diverged else 0.05 + k, "train_accuracy": None if diverged else 0.9,
        "test_accuracy": None, "test_cost": None, "diverged": diverged,
        "diverged_at": 3 if diverged else None, "engine": "direct", "cost_history": cost,
        "eval_iterations": [], "test_cost_history": None, "test_accuracy_history": None,
        "lsuv": None, "diagnostics": {"cost": [0.7, float("nan")]}, "layer_sizes": [10, 5, 1],
    }  # fmt: skip


def done(store, ids, recs):
    return store.save_done(ids, recs, seconds=1.5, worker="h:1", finished_at="2026-01-01T00:00:00")


def test_a_new_store_records_format_version_and_uses_wal(tmp_path):
    with open_store(tmp_path / "out", create=True) as s:
        meta = s.meta()
        assert meta["format"] == "initlab.sweep" and meta["schema_version"] == "3"
        assert add(s) == 3
        assert add(s) == 0  # insert-or-ignore: no second copy
        assert set(s.statuses().values()) == {"pending"}
        assert s.specs()[0]["source"] == "x.toml"
    con = sqlite3.connect(tmp_path / "out" / "sweep.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
    indexed = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {
        f"runs_{c}" for c in ("init", "activation", "hidden", "learning_rate", "seed")
    } <= indexed


def test_results_are_stored_once_with_binary_histories(tmp_path):
    with open_store(tmp_path, create=True) as s:
        add(s)
        recs = [record(k=0), record(diverged=True, k=1)]
        assert done(s, ["id0", "id1"], recs) == 2
        # storing the same runs again changes nothing: done rows are final
        assert done(s, ["id0", "id1"], [record(k=5), record(k=5)]) == 0
        rows = {r["id"]: r for r in s.rows(histories=["cost_history"])}
        assert rows["id0"]["status"] == "done" and rows["id0"]["final_cost"] == 0.05
        np.testing.assert_array_equal(rows["id0"]["cost_history"], recs[0]["cost_history"])
        assert rows["id1"]["diverged"] is True and rows["id1"]["diverged_at"] == 3
        assert rows["id1"]["final_cost"] is None  # NaN is stored as NULL
        np.testing.assert_array_equal(rows["id1"]["cost_history"], recs[1]["cost_history"])
        assert rows["id2"]["status"] == "pending" and rows["id2"]["cost_history"] is None
        assert rows["id0"]["hidden"] == [5, 5] and rows["id0"]["init_label"] == "random(scale=10)"
        # the rest of the record is kept as JSON (NaN as null), nothing silently dropped
        assert s.details("id0") == {"diagnostics": {"cost": [0.7, None]}, "layer_sizes": [10, 5, 1]}
        assert s.details("id2") is None
    con = sqlite3.connect(tmp_path / "sweep.sqlite")
    dtype, shape, blob = con.execute(
        "SELECT dtype, shape, data FROM histories WHERE run_id = 'id0' AND name = 'cost_history'"
    ).fetchone()
    assert dtype == "<f8" and json.loads(shape) == [7] and isinstance(blob, bytes)
    assert len(blob) == 7 * 8  # float64 bytes, not JSON text
    assert con.execute("SELECT count(*) FROM histories").fetchone()[0] == 2 * 2  # + eval_iterations


def test_failed_runs_keep_their_error_and_done_runs_are_never_overwritten(tmp_path):
    with open_store(tmp_path, create=True) as s:
        add(s)
        done(s, ["id0"], [record()])
        n = s.save_failed(["id0", "id1"], "Traceback\nValueError: boom", seconds=0.1,
                          worker="h:2", finished_at="t")  # fmt: skip
        assert n == 1
        rows = {r["id"]: r for r in s.rows()}
        assert rows["id0"]["status"] == "done" and rows["id0"]["error"] is None
        assert rows["id1"]["status"] == "failed" and "boom" in rows["id1"]["error"]
        # a retry that succeeds clears the error
        done(s, ["id1"], [record()])
        row = s.rows({"id": "id1"})[0]
        assert row["status"] == "done" and row["error"] is None and row["attempts"] == 2


def test_a_file_of_random_bytes_is_refused_naming_it(tmp_path):
    path = tmp_path / "sweep.sqlite"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    for kwargs in ({"create": True}, {"readonly": True}):
        with pytest.raises(InitlabError, match=r"not a SQLite database") as err:
            open_store(tmp_path, **kwargs)
        assert str(path) in str(err.value)


def test_a_sqlite_file_that_is_not_initlabs_is_refused(tmp_path):
    path = tmp_path / "sweep.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE things (x)")
    con.commit()
    con.close()
    with pytest.raises(InitlabError, match=r"not an initlab sweep store") as err:
        open_store(tmp_path, create=True)
    assert str(path) in str(err.value)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('format', 'somebody.else')")
    con.commit()
    con.close()
    with pytest.raises(InitlabError, match=r"not an initlab sweep store.*somebody.else"):
        open_store(tmp_path, readonly=True)


def test_a_store_of_another_schema_version_is_refused(tmp_path):
    open_store(tmp_path, create=True).close()
    con = sqlite3.connect(tmp_path / "sweep.sqlite")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(InitlabError, match=r"schema version '99'.*reads version 1"):
        open_store(tmp_path, create=True)


def test_a_damaged_store_is_refused(tmp_path):
    with open_store(tmp_path, create=True) as s:
        s.add_runs([(f"id{i}", {"seed": i, "pad": "x" * 500}, axes(i)) for i in range(200)])
    path = tmp_path / "sweep.sqlite"
    raw = bytearray(path.read_bytes())
    assert len(raw) > 16 * 4096
    raw[5 * 4096 : 9 * 4096] = np.random.default_rng(1).bytes(4 * 4096)  # pages, not the header
    path.write_bytes(bytes(raw))
    with pytest.raises(InitlabError, match=r"damaged") as err:
        open_store(tmp_path, create=True)
    assert str(path) in str(err.value)


def test_no_store_is_a_clear_error(tmp_path):
    with pytest.raises(InitlabError, match=r"no sweep results at .*sweep.sqlite"):
        open_store(tmp_path, readonly=True)
    assert not (tmp_path / "sweep.sqlite").exists()


def test_the_cli_refuses_a_foreign_store_before_training(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\ntrain = "digits"\n[axes]\ninit = ["he"]\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.sqlite").write_bytes(b"this is not a database at all" * 100)
    assert main(["sweep", str(spec), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not an initlab sweep store" in err and str(out / "sweep.sqlite") in err
    assert main(["results", str(out)]) == 2
    assert "not an initlab sweep store" in capsys.readouterr().err


def test_runs_hash_ignores_order():
    assert sweep_store.runs_hash(["b", "a"]) == sweep_store.runs_hash(["a", "b"])
    assert sweep_store.runs_hash(["a"]) != sweep_store.runs_hash(["a", "b"])
