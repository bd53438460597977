"""Sweeps: expansion and stable ids, validation before training, resume after kill -9,
failures recorded and retried, Dask and local workers giving the same numbers, results."""

import copy
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from initlab import InitlabError
from initlab.cli import main
from initlab.execution import sweep as sweep
from initlab.report import sweep as sweep_plots
from initlab.results import table as sweep_table
from initlab.results.sweep_store import open_store
from initlab.specs import sweep_spec as sweep_spec

INITS = ["zeros", {"name": "random", "scale": 10}, "he", "xavier"]


@pytest.fixture
def toy(tmp_path):
    """A small binary problem as an .npz file: X (120, 10), y (120,)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 10))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    path = tmp_path / "toy.npz"
    np.savez(path, X=X, y=y)
    return path


def raw_spec(**axes):
    return {
        "data": {"train": "toy.npz", "test_fraction": 0.25},
        "model": {"hidden": [5, 5]},
        "training": {"iterations": 40},
        "sweep": {"max_population": 4},
        "axes": {"init": INITS[:2], "activation": ["tanh", "relu"], "learning_rate": [0.1, 1.0],
                 "seeds": 2, **axes},
    }  # fmt: skip


def toml(raw):
    """A sweep dict as TOML text (the subset used here)."""

    def value(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items())
        for name, table in raw.items()
    )


def write(tmp_path, raw, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(toml(raw))
    return path


def histories(out):
    with open_store(out, readonly=True) as s:
        return {r["id"]: r for r in s.rows(histories=["cost_history", "test_cost_history"])}


def same_results(a, b):
    assert a.keys() == b.keys()
    for rid in a:
        for key in ("cost_history", "test_cost_history"):
            np.testing.assert_array_equal(a[rid][key], b[rid][key])  # bit for bit (NaN too)
        for key in ("final_cost", "train_accuracy", "test_accuracy", "diverged"):
            assert a[rid][key] == b[rid][key], (rid, key)


# --------------------------------------------------------------------------- spec


def test_expansion_is_the_cartesian_product_seed_fastest(toy):
    s = sweep_spec.parse(raw_spec(hidden=[[3], [3, 3]]), base=toy.parent)
    assert len(s.runs) == 2 * 2 * 2 * 2 * 2
    first = [(r.run.init, r.run.activation, r.config["hidden"], r.run.learning_rate, r.run.seed)
             for r in s.runs[:3]]  # fmt: skip
    assert first == [
        ("zeros", "tanh", [3], 0.1, 1), ("zeros", "tanh", [3], 0.1, 2),
        ("zeros", "tanh", [3], 1.0, 1),
    ]  # fmt: skip
    assert s.runs[4].run.name == "random(scale=10)" and s.runs[4].run.params == {"scale": 10}
    assert len({r.id for r in s.runs}) == len(s.runs)
    assert s.runs[0].config["data"]["train"] == str(toy)  # resolved to an absolute path


def test_seeds_come_from_a_list_a_count_or_the_training_table(toy):
    def seeds(**kw):
        raw = raw_spec()
        del raw["axes"]["seeds"]
        raw["axes"].update(kw.pop("axes", {}))
        raw["training"].update(kw)
        return sweep_spec.parse(raw, base=toy.parent).axes["seed"]

    assert seeds(axes={"seed": [7, 3]}) == [7, 3]
    assert seeds(seed=5, axes={"seeds": 3}) == [5, 6, 7]
    assert seeds(seed=2, seeds=2) == [2, 3]


def _ids(raw, base):
    return [r.id for r in sweep_spec.parse(raw, base=base).runs]


def test_ids_are_the_same_in_another_process(toy):
    raw = raw_spec()
    code = (
        "import json, sys; from initlab.specs import sweep_spec; "
        "print(json.dumps([r.id for r in sweep_spec.parse(json.loads(sys.argv[1]), "
        "base=sys.argv[2]).runs]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(raw), str(toy.parent)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    assert json.loads(out) == _ids(raw, toy.parent)


@pytest.mark.parametrize(
    "change",
    [
        ("data", "test_fraction", 0.5), ("data", "split_seed", 3), ("model", "hidden", [5, 4]),
        ("training", "iterations", 41), ("training", "stream", "legacy"),
        ("training", "dtype", "float32"), ("training", "engine", "direct"),
        ("axes", "activation", ["tanh", "sigmoid"]), ("axes", "learning_rate", [0.1, 1.5]),
        ("axes", "init", ["zeros", {"name": "random", "scale": 9}]), ("axes", "seeds", 3),
        ("model", "output", "softmax"), ("training", "optimizer", "momentum"),
        ("training", "batch_size", 16), ("training", "weight_decay", 0.01),
        ("training", "optimizer", {"name": "adam", "eps": 1e-6}),
        ("axes", "optimizer", ["gd", "adam"]), ("axes", "weight_decay", [0.0, 0.1]),
        ("axes", "output", ["sigmoid", "linear"]), ("axes", "batch_size", [10, 20]),
    ],
)  # fmt: skip
def test_any_change_of_config_changes_the_id_and_nothing_else_does(toy, change):
    raw = raw_spec()
    before = dict(zip(_ids_keys(raw, toy), _ids(raw, toy.parent), strict=True))
    table, key, value = change
    changed = copy.deepcopy(raw)
    changed[table][key] = value
    after = dict(zip(_ids_keys(changed, toy), _ids(changed, toy.parent), strict=True))
    assert before.keys() != after.keys() or table != "axes"
    for k in before.keys() & after.keys():
        if table == "axes":  # runs the change did not touch keep their id
            assert before[k] == after[k]
        else:  # a shared setting changed: every run is another run
            assert before[k] != after[k]
    for k in before.keys() - after.keys():  # runs that changed got new ids
        assert before[k] not in after.values()
    # not part of a run's identity: diagnostics, max_population, an int written as a float
    same = copy.deepcopy(raw)
    same["training"]["diagnostics"] = True
    same["sweep"]["max_population"] = 1
    same["axes"]["init"] = ["zeros", {"name": "random", "scale": 10.0}]
    assert _ids(same, toy.parent) == _ids(raw, toy.parent)


def _ids_keys(raw, toy):
    return [
        json.dumps(r.axes(), sort_keys=True) for r in sweep_spec.parse(raw, base=toy.parent).runs
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["axes"].update(depth=[1]), "unknown key 'depth' in [axes]"),
        (lambda r: r["axes"].pop("init"), "axes.init"),
        (lambda r: r["axes"].update(init=["he", "nope"]), "axes.init[1]: unknown initializer"),
        (lambda r: r["axes"].update(init=["he", {"name": "random", "sigma": 1}]), "axes.init[1]"),
        (lambda r: r["axes"].update(learning_rate=[0.1, -1]), "axes.learning_rate[1] must be > 0"),
        (lambda r: r["axes"].update(learning_rate=0.1), "axes.learning_rate must be a non-empty list"),
        (lambda r: r["axes"].update(hidden=[[5], [5, 0]]), "axes.hidden[1][1] must be >= 1"),
        (lambda r: r["axes"].update(hidden=[5, 5]), "axes.hidden[0] must be a list"),
        (lambda r: r["axes"].update(activation=["tanh", "swish"]), "axes.activation[1]"),
        (lambda r: r["axes"].update(seed=[1, 2]), "axes.seed (a list of seeds) or axes.seeds"),
        (lambda r: r["axes"].update(seeds=0), "axes.seeds must be >= 1"),
        (lambda r: r["axes"].update(learning_rate=[0.1, 0.1]), "axes.learning_rate lists 0.1 twice"),
        (lambda r: r["axes"].update(data=["missing.npz"]), "give the training data as data.train or"),
        (lambda r: (r["data"].pop("train"), r["axes"].update(data=["toy.npz", "missing.npz"])),
         "axes.data[1]: "),
        (lambda r: r["training"].update(iterations=0), "training.iterations must be >= 1"),
        (lambda r: r["training"].update(epoch=3), "unknown key 'epoch' in [training]"),
        (lambda r: r["sweep"].update(max_population=0), "sweep.max_population must be >= 1"),
        (lambda r: r["sweep"].update(workers=2), "unknown key 'workers' in [sweep]"),
        (lambda r: r.update(runs=[{"init": "he"}]), "an [axes] table instead of [[runs]]"),
    ],
)  # fmt: skip
def test_bad_specs_are_refused_naming_the_key(toy, edit, message):
    raw = raw_spec()
    edit(raw)
    with pytest.raises(InitlabError) as err:
        sweep_spec.parse(raw, base=toy.parent)
    assert message in str(err.value)


def test_the_cli_refuses_a_bad_spec_before_creating_anything(toy, tmp_path, capsys):
    raw = raw_spec()
    raw["axes"]["learning_rate"] = [0.1, "fast"]
    out = tmp_path / "out"
    assert main(["sweep", str(write(tmp_path, raw)), "--out", str(out)]) == 2
    assert "axes.learning_rate[1] must be a number; got 'fast'" in capsys.readouterr().err
    assert not out.exists()


def test_chunks_are_populations_of_one_group_within_the_cap(toy):
    s = sweep_spec.parse(raw_spec(hidden=[[3], [3, 3]], seeds=3), base=toy.parent)
    for workers, cap in ((1, 4), (1, 100), (4, 100)):
        s.max_population = cap
        parts = sweep_spec.chunks(s.runs, s, workers=workers)
        ids = [i for c in parts for i in c.ids]
        assert sorted(ids) == sorted(r.id for r in s.runs)  # every run exactly once
        by_id = {r.id: r for r in s.runs}
        for c in parts:
            assert len(c.runs) <= cap
            assert len({by_id[i].group for i in c.ids}) == 1
            assert [by_id[i].run for i in c.ids] == list(c.runs)
        assert len(parts) >= min(workers, len(s.runs))
    # 2 activations x 2 depths = 4 groups of 12 runs; a cap of 10 splits each in 6 + 6
    s.max_population = 10
    assert sorted(len(c.runs) for c in sweep_spec.chunks(s.runs, s)) == [6] * 8


# --------------------------------------------------------------------------- running


def run_sweep(spec_path, out, **kw):
    s = sweep_spec.load(spec_path)
    with sweep.prepare(s, out, extend=kw.pop("extend", False)) as plan:
        return plan, sweep.execute(plan, **kw)


def test_resume_after_sigkill_loses_nothing_and_stores_nothing_twice(toy, tmp_path):
    raw = raw_spec(init=INITS, learning_rate=[0.1, 0.5, 1.0], seeds=2)
    raw["training"]["iterations"] = 300
    raw["sweep"]["max_population"] = 3
    spec = write(tmp_path, raw)
    n = len(sweep_spec.load(spec).runs)  # 4 x 2 x 3 x 2 = 48 runs in 16 chunks
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "initlab", "sweep", str(spec), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db, done, deadline = out / "sweep.sqlite", 0, time.monotonic() + 60
    while done == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        if db.exists():
            try:
                con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
                done = con.execute("SELECT count(*) FROM runs WHERE status='done'").fetchone()[0]
                con.close()
            except sqlite3.OperationalError:  # the file is being created
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    con = sqlite3.connect(db)
    stored = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
    con.close()
    assert 0 < stored.get("done", 0) < n, stored  # killed mid-sweep, with some runs stored

    # resume: only what was left is trained
    plan, report = run_sweep(spec, out, jobs=1)
    assert plan.done == stored["done"] and len(plan.todo) == n - stored["done"]
    assert report.stored == n - stored["done"] and report.failed == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*), count(DISTINCT id) FROM runs").fetchone() == (n, n)
    assert con.execute("SELECT count(*) FROM runs WHERE status != 'done'").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM histories WHERE name='cost_history'").fetchone() == (
        n,
    )
    con.close()
    # the same numbers as a sweep never interrupted
    run_sweep(spec, tmp_path / "whole", jobs=1)
    same_results(histories(out), histories(tmp_path / "whole"))
    # and a second identical invocation has nothing to do
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert f"{n} done before, 0 to run" in result.stdout and "nothing to do" in result.stdout


def test_a_failing_population_is_recorded_and_retried_later(toy, tmp_path):
    raw = raw_spec(init=INITS[:1], activation=["tanh"], learning_rate=[0.1], seeds=2)
    spec = write(tmp_path, raw)
    s = sweep_spec.load(spec)
    stash = toy.with_suffix(".away")
    with sweep.prepare(s, tmp_path / "out") as plan:
        toy.rename(stash)  # the data vanish after validation: training raises in the worker
        report = sweep.execute(plan, jobs=1)
    assert report.failed == 2 and report.stored == 0 and "does not exist" in report.errors[0]
    with open_store(tmp_path / "out", readonly=True) as store:
        rows = store.rows()
    assert {r["status"] for r in rows} == {"failed"}
    assert all("DataError" in r["error"] and r["attempts"] == 1 for r in rows)
    stash.rename(toy)
    plan, report = run_sweep(spec, tmp_path / "out", jobs=1)
    assert plan.failed_before == 2 and report.stored == 2
    with open_store(tmp_path / "out", readonly=True) as store:
        rows = store.rows()
    assert {r["status"] for r in rows} == {"done"} and all(r["error"] is None for r in rows)


def test_diverged_members_are_results_not_failures(toy, tmp_path):
    raw = raw_spec(init=INITS[1:3], activation=["relu"], learning_rate=[0.1, 1e200], seeds=1)
    _plan, report = run_sweep(write(tmp_path, raw), tmp_path / "out", jobs=1)
    assert report.failed == 0 and report.stored == 4 and report.diverged == 2
    rows = histories(tmp_path / "out")
    for r in rows.values():
        assert r["status"] == "done"
        if r["learning_rate"] == 1e200:
            assert r["diverged"] and r["diverged_at"] >= 0 and r["final_cost"] is None
            assert np.isnan(r["cost_history"][r["diverged_at"] :]).all()
        else:
            assert not r["diverged"] and np.isfinite(r["cost_history"]).all()


def test_another_spec_into_the_same_directory_needs_extend(toy, tmp_path):
    raw = raw_spec(init=INITS[:1], activation=["tanh"], learning_rate=[0.1], seeds=2)
    out = tmp_path / "out"
    run_sweep(write(tmp_path, raw), out, jobs=1)
    raw["axes"]["seeds"] = 3
    bigger = write(tmp_path, raw, "bigger.toml")
    with pytest.raises(
        InitlabError, match=r"holds another sweep.*1 of them not in the store.*--extend"
    ):
        run_sweep(bigger, out, jobs=1)
    plan, report = run_sweep(bigger, out, jobs=1, extend=True)
    assert plan.done == 2 and report.stored == 1  # the shared runs are not trained again
    plan, report = run_sweep(tmp_path / "sweep.toml", out, jobs=1)  # the first spec still fits
    assert report.stored == 0 and plan.done == 2


def test_local_workers_and_a_dask_cluster_give_the_same_numbers(toy, tmp_path):
    distributed = pytest.importorskip("distributed")
    raw = raw_spec(init=INITS, learning_rate=[0.5], seeds=2)
    spec = write(tmp_path, raw)
    run_sweep(spec, tmp_path / "here", jobs=1)
    _plan, report = run_sweep(spec, tmp_path / "loky", jobs=2)
    assert report.workers == "2 local worker processes" and report.stored == 16
    # processes=True: each worker is a separate process, as on a real cluster
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        _plan, report = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert report.stored == 16 and report.workers.startswith("the Dask cluster at tcp://127.0.0.1")
    here = histories(tmp_path / "here")
    same_results(here, histories(tmp_path / "loky"))
    dask_rows = histories(tmp_path / "dask")
    same_results(here, dask_rows)
    assert all(not r["worker"].endswith(f":{os.getpid()}") for r in dask_rows.values())


def test_a_missing_scheduler_is_a_clear_error(toy, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    raw = raw_spec(init=INITS[:1], activation=["tanh"], learning_rate=[0.1], seeds=1)
    with pytest.raises(InitlabError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        run_sweep(write(tmp_path, raw), tmp_path / "out", scheduler="tcp://127.0.0.1:9")


# --------------------------------------------------------------------------- results


@pytest.fixture
def done_sweep(toy, tmp_path):
    raw = raw_spec(init=INITS, learning_rate=[0.1, 1.0], seeds=3)
    out = tmp_path / "out"
    run_sweep(write(tmp_path, raw), out, jobs=1)
    return out


def test_results_filter_sort_limit_and_export(done_sweep, tmp_path, capsys):
    csv_path, pq_path = tmp_path / "r.csv", tmp_path / "r.parquet"
    args = ["results", str(done_sweep), "--where", "init=he", "--where", "init=zeros",
            "--where", "activation=tanh", "--sort=-train_accuracy", "--limit", "5",
            "--csv", str(csv_path), "--parquet", str(pq_path)]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "5 runs shown; 12 of 48 runs match" in text
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 5
    assert {r["init"] for r in rows} <= {"he", "zeros"} and {r["activation"] for r in rows} == {
        "tanh"
    }
    acc = [float(r["train_accuracy"]) for r in rows]
    assert acc == sorted(acc, reverse=True)
    every = histories(done_sweep)
    best = max((r for r in every.values() if r["init"] in ("he", "zeros") and r["activation"] == "tanh"),
               key=lambda r: r["train_accuracy"])  # fmt: skip
    assert acc[0] == best["train_accuracy"]
    import pyarrow.parquet as pq

    table = pq.read_table(pq_path).to_pylist()
    assert [r["id"] for r in table] == [r["id"] for r in rows]
    for r in table:
        np.testing.assert_array_equal(r["cost_history"], every[r["id"]]["cost_history"])
        assert r["hidden"] == [5, 5]


def test_results_mean_over_seeds_matches_a_hand_computation(done_sweep, tmp_path, capsys):
    out_csv = tmp_path / "m.csv"
    args = ["results", str(done_sweep), "--mean", "--where", "learning_rate=1",
            "--sort", "final_cost", "--csv", str(out_csv)]  # fmt: skip
    assert main(args) == 0
    assert "8 settings shown; 24 of 48 runs match" in capsys.readouterr().out
    rows = list(csv.DictReader(out_csv.open()))
    costs = [float(r["final_cost"]) for r in rows]
    assert costs == sorted(costs)
    he = next(r for r in rows if r["init"] == "he" and r["activation"] == "relu")
    finals = [r["final_cost"] for r in histories(done_sweep).values()
              if r["init"] == "he" and r["activation"] == "relu" and r["learning_rate"] == 1.0]  # fmt: skip
    assert int(he["n"]) == 3 and float(he["final_cost"]) == pytest.approx(
        np.mean(finals), rel=1e-12
    )
    assert float(he["final_cost_low"]) < float(he["final_cost"]) < float(he["final_cost_high"])


def test_results_bad_requests_are_clear(done_sweep, capsys):
    assert main(["results", str(done_sweep), "--where", "depth=3"]) == 2
    assert "unknown column 'depth'" in capsys.readouterr().err
    assert main(["results", str(done_sweep), "--sort", "speed"]) == 2
    assert "unknown column 'speed'" in capsys.readouterr().err
    assert main(["results", str(done_sweep), "--where", "learning_rate=fast"]) == 2
    assert "needs a number" in capsys.readouterr().err


def test_heatmap_cells_are_means_over_the_other_axes(done_sweep, tmp_path):
    rows = sweep_table.load_rows(done_sweep)
    fig = sweep_plots.heatmap(rows, "init", "activation", metric="train_accuracy")
    grid = np.asarray(fig.axes[0].images[0].get_array())
    assert grid.shape == (2, 4)  # activations x inits
    he_relu = [r["train_accuracy"] for r in rows if r["init"] == "he" and r["activation"] == "relu"]
    assert grid[1, 2] == pytest.approx(np.mean(he_relu))
    assert "mean over learning rate, seeds" in fig.axes[0].get_title()
    png = tmp_path / "h.png"
    args = [
        "results",
        str(done_sweep),
        "--heatmap",
        "learning_rate",
        "init",
        "--out",
        str(png),
        "-q",
    ]
    assert main(args) == 0 and png.read_bytes()[:4] == b"\x89PNG"


def test_results_reads_the_output_of_initlab_run(tmp_path, capsys):
    spec = tmp_path / "exp.toml"
    spec.write_text(
        textwrap.dedent("""
        [data]
        train = "digits"
        [model]
        hidden = [3]
        [training]
        iterations = 5
        seeds = 2
        [[runs]]
        init = "he"
        [[runs]]
        init = "zeros"
    """)
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--no-figures", "-q"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "results",
                str(tmp_path / "run"),
                "--where",
                "init=he",
                "--csv",
                str(tmp_path / "r.csv"),
            ]
        )
        == 0
    )
    assert "2 runs shown; 2 of 4 runs match" in capsys.readouterr().out


def test_optional_dependencies_missing_are_clear_errors(toy, tmp_path, monkeypatch, capsys):
    raw = raw_spec(init=INITS[:1], activation=["tanh"], learning_rate=[0.1], seeds=1)
    spec = write(tmp_path, raw)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(InitlabError, match=r"pip install 'initlab\[dask\]'"):
        run_sweep(spec, tmp_path / "out", scheduler="tcp://127.0.0.1:9")
    run_sweep(spec, tmp_path / "out", jobs=1)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert main(["results", str(tmp_path / "out"), "--parquet", str(tmp_path / "r.parquet")]) == 2
    assert "pip install 'initlab[parquet]'" in capsys.readouterr().err
    assert not (tmp_path / "r.parquet").exists()


def test_an_init_with_or_without_its_default_parameters_is_the_same_run(toy):
    short = raw_spec(init=["lsuv", "random", "he"])
    full = raw_spec(init=[{"name": "lsuv", "tol": 0.1}, {"name": "random", "scale": 10.0}, "he"])
    assert _ids(short, toy.parent) == _ids(full, toy.parent)
    other = raw_spec(init=[{"name": "lsuv", "tol": 0.2}, "random", "he"])
    assert len(set(_ids(other, toy.parent)) & set(_ids(short, toy.parent))) == 16


def test_a_data_axis_trains_each_source(toy, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 10))
    np.savez(tmp_path / "other.npz", X=X, y=(X[:, 2] > 0).astype(np.int64))
    raw = raw_spec(init=["he"], activation=["tanh"], learning_rate=[0.1], seeds=1)
    del raw["data"]["train"]
    raw["axes"]["data"] = ["toy.npz", "other.npz"]
    _plan, report = run_sweep(write(tmp_path, raw), tmp_path / "out", jobs=1)
    assert report.stored == 2 and report.chunks == 2
    rows = sweep_table.load_rows(tmp_path / "out")
    assert [r["data"] for r in rows] == [str(toy), str(tmp_path / "other.npz")]
    assert rows[0]["final_cost"] != rows[1]["final_cost"]
    out = tmp_path / "d.csv"
    assert (
        main(["results", str(tmp_path / "out"), "--where", "data=other.npz", "--csv", str(out)])
        == 0
    )
    assert [r["data"] for r in csv.DictReader(out.open())] == [str(tmp_path / "other.npz")]


# --------------------------------------------------------------------------- issue 9 and 10

EXAMPLE_IDS = {0: "9bff4da613f7d4a0", 1: "6c7f6ccfa4234571", 7: "cbd9885dff3d565f",
               100: "7cbce815a7ce9c37", 359: "e4d422e912aa0632", 719: "a412aeafff10df15"}  # fmt: skip
"""Ids of examples/sweep.toml (with data.train = "digits") computed by initlab before the
output, optimizer, batch_size and weight_decay keys existed (commit ad6c220)."""
LSUV_IDS = ["6ce3bcd8df2223ad", "9a0afe6645a29f06", "bdd22572725fd845", "f053fbb3e56c4aca"]
LSUV_RAW = {
    "data": {"train": "digits", "test_fraction": 0.25},
    "model": {"hidden": [5, 5], "activation": "leaky_relu", "slope": 0.1},
    "training": {"iterations": 40, "stream": "legacy", "dtype": "float32"},
    "axes": {"init": ["he", {"name": "lsuv", "tol": 0.1}], "activation": ["leaky_relu"],
             "learning_rate": [0.1], "seed": [3, 9]},
}  # fmt: skip


def test_ids_of_older_specs_stand_with_the_new_keys_at_their_defaults():
    import tomllib

    from conftest import REPO

    raw = tomllib.loads((REPO / "examples" / "sweep.toml").read_text())
    raw["data"]["train"] = "digits"
    ids = [r.id for r in sweep_spec.parse(raw, base=REPO / "examples").runs]
    assert len(ids) == 720 and {i: ids[i] for i in EXAMPLE_IDS} == EXAMPLE_IDS
    assert _ids(LSUV_RAW, ".") == LSUV_IDS
    explicit = copy.deepcopy(LSUV_RAW)  # every new key written at its default
    explicit["model"]["output"] = "sigmoid"
    explicit["training"].update(optimizer={"name": "gd", "momentum": 0}, weight_decay=0.0)
    explicit["axes"].update(optimizer=["gd"], output=["sigmoid"])
    assert _ids(explicit, ".") == LSUV_IDS


def test_new_axes_train_each_run_as_it_trains_alone(toy, tmp_path):
    """optimizer x weight_decay x output axes: 8 runs, each stored with the numbers an
    experiment spec of that one run gives (populations never mix two optimizers)."""
    from initlab.execution import runner
    from initlab.specs import spec as experiment_spec

    optimizers = ["gd", {"name": "momentum", "momentum": 0.5, "nesterov": True}]
    raw = raw_spec(init=["he"], activation=["tanh"], learning_rate=[0.3], seeds=1,
                   optimizer=optimizers, weight_decay=[0.0, 0.01],
                   output=["sigmoid", "softmax"], batch_size=[30])  # fmt: skip
    s = sweep_spec.parse(raw, base=toy.parent)
    assert len(s.runs) == 8 and len(sweep_spec.chunks(s.runs, s)) == 8
    out = tmp_path / "out"
    run_sweep(write(tmp_path, raw), out, jobs=1)
    stored = histories(out)
    for r in s.runs:
        c = r.config
        alone = experiment_spec.parse({
            "data": {"train": str(toy), "test_fraction": 0.25},
            "model": {"hidden": [5, 5], "activation": "tanh", "output": c.get("output", "sigmoid")},
            "training": {"iterations": 40, "learning_rate": 0.3, "seed": 1, "batch_size": 30,
                         "optimizer": c.get("optimizer", "gd"), "diagnostics": False},
            "runs": [{"init": "he"}],
        })  # fmt: skip
        rec = runner.run(alone)["runs"][0]
        np.testing.assert_array_equal(stored[r.id]["cost_history"], rec["cost_history"])
        assert stored[r.id]["final_cost"] == rec["final_cost"]
    # the decay axis reached the optimizer: the two decays differ, the rest equal
    a, b = (r for r in s.runs[:2])
    assert "optimizer" not in a.config  # plain gd: the post's, left out of the config
    assert b.config["optimizer"] == {"name": "gd", "momentum": 0.0, "dampening": 0.0,
                                     "nesterov": False, "weight_decay": 0.01}  # fmt: skip


def test_a_grid_of_too_many_runs_is_refused_at_once(toy):
    import time

    start = time.perf_counter()
    with pytest.raises(InitlabError, match=r"axes\.seeds = 2,000,000 makes more than "
                       r"sweep\.max_runs = 100,000 runs"):  # fmt: skip
        sweep_spec.parse(raw_spec(seeds=2_000_000), base=toy.parent)
    grid = raw_spec(learning_rate=[0.001 * (i + 1) for i in range(1000)], seeds=100)
    with pytest.raises(InitlabError, match=r"the axes expand into 400,000 runs \(2 activation x "
                       r"2 init x 1000 learning_rate x 100 seed\)"):  # fmt: skip
        sweep_spec.parse(grid, base=toy.parent)
    assert time.perf_counter() - start < 2.0  # before expanding them
    small = raw_spec()
    small["sweep"]["max_runs"] = 15
    with pytest.raises(InitlabError, match=r"16 runs .* more than sweep\.max_runs = 15"):
        sweep_spec.parse(small, base=toy.parent)
    small["sweep"]["max_runs"] = 16
    assert len(sweep_spec.parse(small, base=toy.parent).runs) == 16


def test_a_sweep_beyond_memory_is_refused_before_any_training(toy, tmp_path):
    huge = raw_spec(init=["he"], activation=["tanh"], learning_rate=[0.1], seeds=2)
    huge["training"]["iterations"] = 10**12
    with pytest.raises(InitlabError, match=r"training\.iterations = 1000000000000 would record "
                       r"a cost history of 2 x 1000000000000 floats \(14,901 GiB\)"):  # fmt: skip
        sweep_spec.parse(huge, base=toy.parent)
    huge["training"]["iterations"] = 5
    huge["model"]["hidden"] = [10**8]
    s = sweep_spec.parse(huge, base=toy.parent)
    with sweep.prepare(s, tmp_path / "out") as plan:
        with pytest.raises(InitlabError, match=r"a population of 2 networks 10 x 100000000 x 1 "
                           r"needs about .* GiB is available"):  # fmt: skip
            sweep.execute(plan, jobs=1)
        assert set(plan.store.statuses().values()) == {"pending"}  # nothing trained or failed
