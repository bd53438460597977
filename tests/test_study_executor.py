"""Studies on the sweep's executor (issue 23, item 1): content-keyed cells, stored exactly,
resumed after kill -9 and Ctrl-C, a full disk, and run on a Dask cluster or from a spec
written as TOML, always to the bits of one uninterrupted run; ``initlab results`` lists them.

The reference is one uninterrupted ``initlab theory trainability`` run of a small map
(:data:`ARGS`: 6 depths x 2 sigma_w^2 x 2 draws = 24 members in 6 populations, and the
curve's cell). Every other way of computing it must store the same records, compared as the
JSON text of each cell (floats by their shortest repr: equal text is equal bits).
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3

import pytest

from initlab.cli import main
from initlab.execution import study as S
from initlab.results import sweep_store
from initlab.results.sweep_store import open_store
from initlab.studies import deeplinear, jacobian_study, sigprop, specs, trainability
from study_store import done_cells, interrupted, records

ARGS = ["theory", "trainability", "--train-depths", "2", "3", "4", "5", "6", "7",
        "--sigma-w2-grid", "0.5", "1.75", "--width", "16", "--steps", "150", "--seeds", "2",
        "-q"]  # fmt: skip
N_CELLS = 6 * 2 * 2 + 1


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "map"
    assert main([*ARGS, "--out", str(out)]) == 0
    found = records(out)
    assert len(found) == N_CELLS
    return out, found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_map_resumes_to_the_bits_of_an_uninterrupted_one(reference, tmp_path,
                                                                         sig, monkeypatch):  # fmt: skip
    out = tmp_path / "map"
    code, err, stored = interrupted(ARGS, out, N_CELLS, sig)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:  # Ctrl-C: says what is stored and how to resume, exits 130
        assert code == 130, err
        assert f"interrupted: {stored} of {N_CELLS} cells are stored" in err, err
    before = records(out)
    with open_store(out, readonly=True) as s:  # nothing half-stored: done, or pending
        assert {c["status"] for c in s.cells()} <= {"done", "pending"}
    computed, real = [], trainability.compute  # the rerun computes only what is missing
    monkeypatch.setattr(trainability, "compute", lambda cs: computed.extend(cs) or real(cs))
    assert main([*ARGS, "--out", str(out), "--jobs", "1"]) == 0  # in this process: counted
    assert len(computed) == N_CELLS - stored
    assert records(out) == reference[1]
    with open_store(out, readonly=True) as s:  # the cells stored before are as they were
        assert all(c["attempts"] == 1 for c in s.cells() if c["id"] in before)


def test_a_local_dask_cluster_computes_the_same_bits(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", processes=True,
        dashboard_address=None,
    ) as cluster:  # fmt: skip
        assert main([*ARGS, "--out", str(out), "--scheduler", cluster.scheduler_address]) == 0
    assert records(out) == reference[1]
    with open_store(out, readonly=True) as s:
        workers = {c["worker"] for c in s.cells()}
    assert not any(w.endswith(f":{os.getpid()}") for w in workers)


def test_a_full_disk_leaves_a_store_that_resumes(reference, tmp_path, monkeypatch, capsys):
    """After the first population is stored the file may not grow (SQLite's
    ``max_page_count``, failing writes with SQLITE_FULL as a full disk does): the curve's
    record (two 121-float lists) needs new pages at the latest."""
    real = sweep_store.SweepStore.save_cells_done
    calls = []

    def save(self, *a, **k):
        if calls:
            pages = self._con.execute("PRAGMA page_count").fetchone()[0]
            self._con.execute(f"PRAGMA max_page_count = {pages}")
        calls.append(1)
        return real(self, *a, **k)

    monkeypatch.setattr(sweep_store.SweepStore, "save_cells_done", save)
    out = tmp_path / "full"
    assert main([*ARGS, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("initlab theory: error: disk full"), err
    assert str(out / "sweep.sqlite") in err[0] and "resume" in err[0]
    con = sqlite3.connect(out / "sweep.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
    assert 4 <= done_cells(out) < N_CELLS
    monkeypatch.undo()
    assert main([*ARGS, "--out", str(out)]) == 0
    assert records(out) == reference[1]


def test_the_written_spec_runs_with_initlab_sweep_to_the_same_bits(reference, tmp_path,
                                                                   capsys):  # fmt: skip
    """... also when every depth's population is split in two: a member's numbers do not
    depend on the population it is trained in."""
    spec = tmp_path / "map.toml"
    assert main([*ARGS, "--write-spec", str(spec)]) == 0
    assert "[study]" in spec.read_text() and 'kind = "trainability"' in spec.read_text()
    capsys.readouterr()
    out = tmp_path / "swept"  # populations of at most 3: each depth's 4 members split 2 + 2
    argv = ["sweep", str(spec), "--out", str(out), "--jobs", "2", "--max-population", "3", "-q"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"{N_CELLS} cells stored, 0 failed" in text and "2 local worker processes" in text
    assert "13 populations" in text
    assert "L \\ sigma_w^2" in text  # the study's own table
    assert records(out) == reference[1]
    # the theory command's store holds the very same cells: nothing to do
    assert main(["sweep", str(spec), "--out", str(reference[0]), "-q"]) == 0
    assert f"{N_CELLS} done before, 0 to run" in capsys.readouterr().out


def test_results_lists_filters_and_compares_the_cells(reference, tmp_path, capsys):
    out = reference[0]
    assert main(["results", str(out), "--where", "depth=7", "--sort=-test_accuracy"]) == 0
    text = capsys.readouterr().out
    assert "4 cells shown of 25; study: trainability" in text
    assert main(["results", str(out), "--where", "depth=1000"]) == 0  # none shown: the
    assert "0 cells shown of 25; study: trainability" in capsys.readouterr().out  # store's
    with open_store(out, readonly=True) as s:
        accs = sorted((c["record"]["test_accuracy"] for c in s.cells()
                       if c["config"].get("depth") == 7), reverse=True)  # fmt: skip
    shown = [float(line.split("│")[-3]) for line in text.splitlines()
             if line.startswith("│")]  # fmt: skip  # the test accuracy column, sorted
    assert shown == [float(f"{a:.6g}") for a in accs]
    assert main(["results", "compare", str(out), str(out)]) == 0
    assert f"{N_CELLS} cells: {N_CELLS} the same bits" in capsys.readouterr().out
    csv = tmp_path / "cells.csv"
    assert main(["results", str(out), "--where", "sigma_w2=0.5", "--csv", str(csv), "-q"]) == 0
    assert len(csv.read_text().splitlines()) == 1 + 12  # 6 depths x 2 draws
    capsys.readouterr()
    assert main(["results", str(out), "--mean"]) == 2  # a sweep's, not a study's
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--mean is for a sweep's runs" in err[0]


# --------------------------------------------------------------------------- the framework


def toy(configs):
    """A toy study's cells: exact values, NaN and infinities; ``x = 3`` fails while the
    environment says so."""
    if any(c["x"] == 3 for c in configs) and os.environ.get("INITLAB_TOY_FAIL"):
        raise RuntimeError("toy failure")
    return [{"y": math.sqrt(c["x"]), "nan": math.nan, "inf": [math.inf, -math.inf],
             "tiny": 5e-324, "neg0": -0.0} for c in configs]  # fmt: skip


def _toy(xs, group=lambda x: str(x % 2)):
    cells = [S.cell("toy", 1, {"x": x}, group(x)) for x in xs]
    return S.Study("toy", {"study": {"kind": "toy"}}, cells, f"{__name__}:toy", 2)


def test_cells_are_keyed_by_content_kind_and_version():
    a = S.cell("toy", 1, {"x": 1, "b": [1.0, 2]}, "g")
    assert a.id == S.cell("toy", 1, {"b": [1.0, 2], "x": 1}, "other group").id
    others = [S.cell("toy", 2, a.config, "g"), S.cell("toy2", 1, a.config, "g"),
              S.cell("toy", 1, {"x": 1, "b": [1.0, 2.5]}, "g")]  # fmt: skip
    assert len({a.id, *(c.id for c in others)}) == 4


def test_failures_are_stored_and_retried_and_records_round_trip_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("INITLAB_TOY_FAIL", "1")
    study = _toy(range(6))
    with S.prepare(study, tmp_path) as plan:
        report = S.execute(plan, jobs=1)
    assert report.failed == 2 and report.stored == 4  # the population of 3 (and 1) failed
    with open_store(tmp_path, readonly=True) as s:
        failed = [c for c in s.cells() if c["status"] == "failed"]
    assert {c["config"]["x"] for c in failed} == {1, 3} and "toy failure" in failed[0]["error"]
    monkeypatch.delenv("INITLAB_TOY_FAIL")
    with S.prepare(study, tmp_path) as plan:
        assert plan.done == 4 and plan.failed_before == 2
        assert S.execute(plan, jobs=1).stored == 2
    got = S.records(tmp_path, [c.id for c in study.cells])
    for c in study.cells:
        rec = got[c.id]
        assert rec["y"] == math.sqrt(c.config["x"]) and math.isnan(rec["nan"])
        assert rec["inf"] == [math.inf, -math.inf] and rec["tiny"] == 5e-324
        assert math.copysign(1, rec["neg0"]) == -1
    with open_store(tmp_path, readonly=True) as s:
        attempts = {c["config"]["x"]: c["attempts"] for c in s.cells()}
    assert attempts == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1, 5: 1}


def test_bad_study_specs_are_one_line_naming_the_key(tmp_path, capsys):
    cases = [
        ('[study]\nkind = "trainabilty"\n', "study.kind must be one of trainability"),
        ('[study]\nkind = "trainability"\n[trainability]\nwidht = 3\n', "'widht'"),
        ('[study]\nkind = "trainability"\n[trainability]\nwidth = 0\n', "width must be >= 1"),
        ('[study]\nkind = "trainability"\n[trainability]\ndepths = 4\n', "depths must be a list"),
        ('[study]\nkind = "trainability"\nmax_population = 0\n', "study.max_population"),
        ('[study]\nkind = "trainability"\n[axes]\ninit = ["he"]\n', "unknown key 'axes'"),
    ]
    for text, expected in cases:
        spec = tmp_path / "bad.toml"
        spec.write_text(text)
        assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0] and str(spec) in err[0], (text, err)
        assert not (tmp_path / "out").exists()


def test_a_map_in_the_old_layout_is_refused_by_name(tmp_path, capsys):
    (tmp_path / "trainability.json").write_text("{}")
    assert main([*ARGS, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0] and "earlier initlab" in err[0]
    assert not (tmp_path / "sweep.sqlite").exists()


# --------------------------------------------------------------------------- deep linear


class _Stop(Exception):
    pass


def _stop(stored, failed, total):
    if stored:
        raise _Stop


def test_deep_linear_resumed_from_its_spec_in_smaller_populations_is_the_same(tmp_path,
                                                                             capsys):  # fmt: skip
    """Stopped after its first population (one depth's 8 members), then resumed by
    ``initlab sweep`` of its spec on 2 processes in populations of at most 3: the records of
    one uninterrupted run, and the same learning times."""
    config = deeplinear.DeepLinearConfig(depths=(2, 4, 8), width=8, steps=60, seeds=2,
                                         rates=(0.1, 0.3))  # fmt: skip
    whole = deeplinear.run(config, tmp_path / "whole")
    cut = tmp_path / "cut"
    with pytest.raises(_Stop):
        deeplinear.run(config, cut, progress=_stop)
    assert len(records(cut)) == 8
    spec = specs.write(tmp_path / "dl.toml", deeplinear.spec(config, max_population=3))
    assert main(["sweep", str(spec), "--out", str(cut), "--jobs", "2", "-q"]) == 0
    text = capsys.readouterr().out
    assert "8 done before, 16 to run" in text and "orthogonal  gaussian" in text
    assert records(cut) == records(tmp_path / "whole")
    assert deeplinear.read(cut) == whole


def test_jacobian_spectra_resumed_are_the_record_computed_at_once(tmp_path):
    """A cell per (weight law, member chain): stopped after the first law's chains, resumed,
    the stored spectra are :func:`sigprop.jacobian_record`'s, bit for bit."""
    kw = dict(depths=(1, 3), width=30, members=3, seed=4)
    direct = sigprop.jacobian_record("tanh", 1.5, 0.05, **kw)
    config = jacobian_study.JacobianConfig("tanh", 1.5, 0.05, **kw)
    study = jacobian_study.study(config)
    with S.prepare(study, tmp_path) as plan, pytest.raises(_Stop):
        S.execute(plan, jobs=1, progress=_stop)
    with S.prepare(study, tmp_path) as plan:
        assert plan.done == 1 and len(plan.todo) == 5  # one chain per population
        S.execute(plan, jobs=1)
    assert sigprop.read(tmp_path, "jacobian") == direct
