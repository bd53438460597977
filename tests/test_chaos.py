"""Chaos measured by shadow twins, verdicts over replicas, provenance, and `results compare`.

The post's He and Xavier runs are chaotic at its learning rate (a 1e-12 perturbation of the
weights parts their costs by iteration ~30); zeros and random x 10 are not. Twins are
trained in the same population as their run, and must never change its bits.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3

import numpy as np
import pytest

from initlab import init_population
from initlab.analysis import chaos
from initlab.cli import main
from initlab.data import Dataset
from initlab.execution import runner
from initlab.execution.population import ExperimentData
from initlab.nn.training import train
from initlab.results import compare as C
from initlab.results import records
from initlab.results.sweep_store import open_store
from initlab.specs import spec
from initlab.studies import post


def small(twins: int, **training) -> spec.Spec:
    return spec.parse({
        "data": {"train": "digits", "test_fraction": 0.25},
        "model": {"hidden": [6, 6], "activation": "tanh"},
        "training": {"learning_rate": 0.5, "iterations": 40, "seed": 2, "twins": twins,
                     **training},
        "runs": [{"name": "he", "init": "he", "seeds": 2},
                 {"name": "lsuv", "init": {"name": "lsuv", "tol": 0.1}},
                 {"name": "zeros", "init": "zeros"}],
    })  # fmt: skip


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_twins_never_change_a_runs_numbers(engine):
    """Records with 0 and 3 twins are the same bits in everything a run measures
    (population composition never changes a member's arithmetic)."""
    alone = runner.run(small(0, engine=engine), jobs=1)["runs"]
    with_twins = runner.run(small(3, engine=engine), jobs=1)["runs"]
    for a, b in zip(alone, with_twins, strict=True):
        for key in ("cost_history", "final_cost", "train_accuracy", "test_accuracy",
                    "test_cost_history", "diagnostics", "lsuv"):  # fmt: skip
            assert json.dumps(records.jsonable(a[key])) == json.dumps(records.jsonable(b[key])), (
                a["name"],
                key,
            )
        assert a["chaotic"] is None and b["twins"]["n"] == 3
    zeros = with_twins[-1]
    assert zeros["chaotic"] is False and zeros["twins"]["parted_at"] == [None] * 3  # 0 * u = 0
    # and a run is the network its spec describes, trained alone (not a perturbed copy)
    data = runner.load_data(small(0))
    net = init_population([64, 6, 6, 1], [("he", 2)], activation="tanh")
    _, hist = train(net, data.train.X, data.train.Y, learning_rate=0.5, iterations=40,
                    engine=engine)  # fmt: skip
    np.testing.assert_array_equal(with_twins[0]["cost_history"], hist.costs[0])


def test_perturbation_is_relative_seeded_and_of_its_size():
    W = [np.random.default_rng(0).standard_normal((50, 40)), np.zeros((3, 50))]
    a = chaos.perturb(W, chaos.twin_rng(7, 1))
    b = chaos.perturb(W, chaos.twin_rng(7, 1))
    c = chaos.perturb(W, chaos.twin_rng(7, 2))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    rel = (a[0] - W[0]) / W[0]
    assert 0.9e-12 < np.max(np.abs(rel)) <= 1.0e-12 * (1 + 1e-3)  # U(-1, 1) * eps
    assert abs(np.mean(rel)) < 1e-13 and np.all(a[1] == 0)
    w32 = chaos.perturb([W[0].astype(np.float32)], chaos.twin_rng(7, 1))[0]
    assert w32.dtype == np.float32 and not np.array_equal(w32, W[0].astype(np.float32))


def test_parting_step_is_the_first_step_beyond_the_tolerance():
    run = np.array([1.0, 0.9, 0.8, 0.7, np.nan])
    assert chaos.parting_step(run, run) is None
    assert chaos.parting_step(run, run * (1 + 1e-7)) is None  # below 1e-6 relative
    assert chaos.parting_step(run, run + np.array([0, 0, 2e-6, 0, np.nan])) == 2
    assert chaos.parting_step(run, np.array([1.0, 0.9, 0.8, 0.7, 0.6])) == 4  # one diverged
    small = run * 1e-3  # the tolerance is relative: a cost of 1e-3 parts at 2e-9
    assert chaos.parting_step(small, small + np.array([0, 5e-10, 2e-9, 0, np.nan])) == 2
    s = chaos.twin_summary(np.array([run, run, run + 1]), np.array([0.5, 0.5, 0.5]),
                           np.array([1.0, 1.0, 0.5]))  # fmt: skip
    assert s["parted_at"] == [None, 0] and s["chaotic"] and s["first_parted_at"] == 0
    assert s["final_accuracy"] == [1.0, 0.5]


def _post_results(data: ExperimentData, replicas: int = post.REPLICAS) -> dict:
    s = spec.parse(post.post_spec("digits", replicas=replicas))  # the data are given
    s.training = dataclasses.replace(s.training, diagnostics=False)
    return runner.run(s, data=data, jobs=2)


def _permuted(ds: Dataset, seed: int) -> Dataset:
    order = np.random.default_rng(seed).permutation(ds.n_examples)
    return dataclasses.replace(
        ds, X=ds.X[:, order], Y=ds.Y[:, order], example_ids=tuple(np.array(ds.example_ids)[order])
    )


@pytest.mark.slow
def test_verdict_lines_hold_under_another_rounding(cats_vs_dogs):
    """The post's experiment on its images, and again with its 100 examples in another
    order: the same gradient descent, every sum over examples rounded another way (as on
    another BLAS kernel). The chaotic runs part; zeros and random x 10 agree to rounding;
    the verdict lines are the same, word for word."""
    a = _post_results(ExperimentData(cats_vs_dogs, None))
    b = _post_results(ExperimentData(_permuted(cats_vs_dogs, 0), None))
    lines = [[v.line for v in post.verdicts(r)] for r in (a, b)]
    assert lines[0] == lines[1]
    assert [v.trains for v in post.verdicts(a)] == [False, False, True, True]
    found = C.compare(a, b)
    status = {r.key: r.status for r in found.runs}
    assert status["zeros/1"] in ("equal", "rounding") and status["random/1"] == "rounding"
    assert status["he/1"] in ("chaotic", "rounding") and found.ok
    he = next(r for r in a["runs"] if r["name"] == "he")
    assert he["chaotic"] and 10 < he["twin_parted_at"] < 60
    notes = post.chaotic_notes(a)
    assert any(re.match(r"he: chaotic at lr 0\.01 \(its twins parted from it at iteration "
                        r"\d+, median of 15\); this run's \d+% is one draw", n)
               for n in notes), notes  # fmt: skip


def _write_post_run(tmp_path, engine: str, data_dir) -> str:
    """The post's network on its images for 60 iterations (past the parting, ~30), with one
    twin, on `engine`: `initlab run`'s results directory."""
    path = tmp_path / f"{engine}.toml"
    runs = (
        '[[runs]]\nname = "zeros"\ninit = "zeros"\n'
        '[[runs]]\nname = "random"\ninit = { name = "random", scale = 10 }\n'
        '[[runs]]\nname = "he"\ninit = "he"\n[[runs]]\nname = "xavier"\ninit = "xavier"\n'
    )
    path.write_text(
        f'[data]\ntrain = "{data_dir.as_posix()}"\n[model]\nhidden = [5, 5]\n'
        f'[training]\nlearning_rate = 0.01\niterations = 60\nseed = 1\nstream = "legacy"\n'
        f'engine = "{engine}"\ndiagnostics = false\ntwins = 1\n' + runs
    )
    out = tmp_path / engine
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-figures"]) == 0
    return str(out)


@pytest.mark.slow
def test_compare_tells_chaotic_from_real_differences(cats_vs_dogs_dir, tmp_path, capsys):
    """Two result directories from `--engine direct` and `sample`: zeros and random x 10
    equal to rounding, He and Xavier different as chaotic runs are (exit 0). A non-chaotic
    run's number changed by 1e-4 is a difference that must not be (exit 1)."""
    direct = _write_post_run(tmp_path, "direct", cats_vs_dogs_dir)
    sample = _write_post_run(tmp_path, "sample", cats_vs_dogs_dir)
    capsys.readouterr()
    assert main(["results", "compare", direct, sample]) == 0
    out = capsys.readouterr().out
    assert "spec differs: training.engine: 'direct' -> 'sample'" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    for run in ("zeros/1", "random/1"):
        assert rows[run].split("│")[-2].strip() in ("equal", "rounding"), rows[run]
    for run in ("he/1", "xavier/1"):
        assert rows[run].split("│")[-2].strip() == "chaotic", rows[run]
    assert "0 differ where they must not" in out
    res = json.loads((tmp_path / "sample" / "results.json").read_text())
    res["runs"][1]["final_cost"] *= 1 + 1e-4  # random x 10: not chaotic
    (tmp_path / "sample" / "results.json").write_text(json.dumps(res))
    assert main(["results", "compare", direct, sample]) == 1
    out = capsys.readouterr().out
    assert "│ random/1 " in out and "DIFFERS" in out and "1 differ where they must not" in out


def test_results_carry_provenance_and_chaos_marks(tmp_path, capsys):
    out = tmp_path / "out"
    path = tmp_path / "s.toml"
    path.write_text('[data]\ntrain = "digits"\n[model]\nhidden = [4]\n'
                    '[training]\niterations = 30\nlearning_rate = 0.5\ndiagnostics = false\n'
                    '[[runs]]\ninit = "he"\n')  # fmt: skip
    assert main(["run", str(path), "--out", str(out), "--quiet", "--no-figures"]) == 0
    res = records.read_results(out)
    prov = res["provenance"]
    assert prov["numpy"] == np.__version__ and prov["dtype"] == "float64"
    assert prov["blas"] and {"internal_api", "version", "architecture"} <= set(prov["blas"][0])
    assert prov["cpu"] and res["chaos"]["symbol"] == chaos.SYMBOL
    assert res["runs"][0]["chaotic"] is False and res["runs"][0]["twins"]["n"] == 1
    # a chaotic run is marked in the table and the report, with the legend
    res["runs"][0]["chaotic"] = True
    res["summary"][0]["chaotic"] = 1
    records.write_results(
        out, {k: v for k, v in res.items() if k not in ("format", "schema_version")}
    )
    from initlab.report.html import write_report

    html = write_report(out)[0].read_text()
    assert f"he {chaos.SYMBOL}" in html and chaos.LEGEND in html and "provenance: initlab" in html
    assert main(["results", str(out)]) == 0
    text = capsys.readouterr().out
    assert chaos.SYMBOL in text and "chaotic: a twin" in text


def test_a_version_1_sweep_store_is_read_and_migrated(tmp_path):
    """A store written before chaos and provenance: read as it is (those columns None),
    migrated to version 2 (and on to 3) when opened for writing, then stores them."""
    with open_store(tmp_path, create=True) as s:
        s.add_runs([("r1", {"seed": 1}, {"data": "d", "hidden": [5], "activation": "tanh",
                                         "init": "he", "params": {}, "learning_rate": 0.1,
                                         "seed": 1})])  # fmt: skip
    con = sqlite3.connect(tmp_path / "sweep.sqlite")
    for col in ("chaotic", "twin_parted_at", "provenance"):
        con.execute(f"ALTER TABLE runs DROP COLUMN {col}")
    con.execute("DROP TABLE provenance")
    con.execute("DROP TABLE cells")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with open_store(tmp_path, readonly=True) as s:
        assert s.meta()["schema_version"] == "1" and s.rows()[0]["chaotic"] is None
        assert s.provenances() == {}
    rec = {"final_cost": 0.1, "train_accuracy": 1.0, "test_accuracy": None, "test_cost": None,
           "diverged": False, "diverged_at": None, "engine": "direct", "cost_history": [0.5],
           "chaotic": True, "twin_parted_at": 27, "provenance": {"numpy": "x"}}  # fmt: skip
    with open_store(tmp_path) as s:
        assert s.meta()["schema_version"] == "3" and s.cells() == []
        assert s.save_done(["r1"], [rec], seconds=1.0, worker="w", finished_at="t") == 1
        row = s.rows()[0]
        assert row["chaotic"] is True and row["twin_parted_at"] == 27
        assert list(s.provenances().values()) == [{"numpy": "x"}]
        assert row["provenance"] in s.provenances()


def test_a_sweep_with_twins_stores_chaos_and_provenance(tmp_path, capsys):
    """`[training] twins = 1` in a sweep: every stored run says whether it is chaotic, the
    provenance of its worker is stored once, and `results` and the report show both."""
    path = tmp_path / "sweep.toml"
    path.write_text('[data]\ntrain = "digits"\n[model]\nhidden = [4]\n'
                    '[training]\niterations = 20\nlearning_rate = 0.5\ntwins = 1\n'
                    '[axes]\ninit = ["he", "zeros"]\nseeds = 2\n')  # fmt: skip
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    with open_store(out, readonly=True) as s:
        rows, provs = s.rows(), s.provenances()
    assert len(rows) == 4 and all(r["chaotic"] is False for r in rows)
    assert len(provs) == 1 and {r["provenance"] for r in rows} == set(provs)
    assert next(iter(provs.values()))["numpy"] == np.__version__
    from initlab.report.html import write_report

    md = write_report(out)[1].read_text()
    assert "provenance: initlab" in md
