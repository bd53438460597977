"""``initlab results``: damaged results and bad options, one line naming the file and the
field; a store failing its integrity check is read with a warning (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

from bad_input import damaged_copy, refused, refused_limited, stored_results
from initlab.cli import main


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    return stored_results(tmp_path_factory.mktemp("stored"))


DAMAGED = [
    ("sweep", "sql:UPDATE runs SET final_cost = 'abc' WHERE rowid = 2",
     ["sweep.sqlite", "final_cost must be a number or null; got 'abc'"]),
    ("sweep", "sql:UPDATE runs SET seed = 'x' WHERE rowid = 1", ["seed must be an integer"]),
    ("sweep", "sql:UPDATE runs SET hidden = '\"wide\"'", ["hidden must be a list"]),
    ("sweep", "sql:UPDATE runs SET train_accuracy = X'00ff'", ["train_accuracy"]),
    ("run", 'json:runs.0.final_cost="abc"',
     ["results.json", "runs[0].final_cost must be a number or null"]),
    ("run", "json:runs=5", ["results.json", "runs must be a list; got 5"]),
    ("run", 'json:runs.0.seed="one"', ["runs[0].seed must be an integer"]),
    ("run", 'json:runs.0.cost_history=["a"]', ["runs[0].cost_history must be a list of numbers"]),
    ("run", 'json:spec.model.hidden="5"', ["spec.model.hidden must be a list of integers"]),
    ("run", "json:summary={}", ["summary must be a list"]),
]  # fmt: skip


@pytest.mark.parametrize(("which", "how", "contains"), DAMAGED, ids=[d[1][:40] for d in DAMAGED])
def test_damaged_results_named(which, how, contains, stored, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = stored[0] if which == "sweep" else stored[1]
    bad = damaged_copy(source, tmp_path / "bad", how)
    refused(["results", str(bad)], capsys, tmp_path, *contains)


OPTIONS = [
    (["--csv", ""], ["--csv is empty"]),
    (["--parquet", " "], ["--parquet is empty"]),
    (["--heatmap", "init", "seed", "--out", ""], ["--out is empty"]),
    (["--limit", "-1"], ["--limit must be >= 0"]),
    (["--where", "init"], ["--where needs AXIS=VALUE"]),
    (["--where", "seed=abc"], ["--where seed=VALUE needs a number"]),
    (["--sort", "nothing"], ["--sort: unknown column"]),
    (["--heatmap", "nope", "seed", "--out", "h.png"], ["--heatmap X must be one of", "'nope'"]),
    (["--heatmap", "init", "init", "--out", "h.png"], ["two different axes"]),
    (
        ["--heatmap", "init", "seed", "--metric", "speed", "--out", "h.png"],
        ["--metric must be one of"],
    ),
    (["--heatmap", "init", "seed"], ["--heatmap needs --out"]),
    # a heatmap's own options without --heatmap used to be ignored in silence
    (["--metric", "train_accuracy"], ["--metric is for --heatmap X Y (the metric it draws)"]),
    (["--aggregate", "max", "--mean"], ["--aggregate is for --heatmap X Y", "drop --aggregate"]),
    (["--out", "h.png"], ["--out is for --heatmap X Y (the file it draws into)"]),
]


@pytest.mark.parametrize(("argv", "contains"), OPTIONS, ids=lambda v: " ".join(v)[:40])
def test_bad_options(argv, contains, stored, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["results", str(stored[0]), *argv], capsys, tmp_path, *contains)


def test_metric_and_aggregate_draw_the_heatmap(stored, tmp_path, monkeypatch):
    """With --heatmap, --metric and --aggregate choose what each cell is: here the largest
    train accuracy over the two seeds of each init (x: init, y: hidden), read back from the
    figure drawn and held to the store's rows."""
    from initlab.report import sweep as sweep_plots
    from initlab.results.table import load_rows

    drawn = []
    original = sweep_plots.heatmap
    monkeypatch.setattr(sweep_plots, "heatmap", lambda *a, **k: drawn.append(original(*a, **k))
                        or drawn[-1])  # fmt: skip
    png = tmp_path / "h.png"
    assert main(["results", str(stored[0]), "--heatmap", "init", "hidden", "--metric",
                 "train_accuracy", "--aggregate", "max", "--out", str(png), "-q"]) == 0  # fmt: skip
    assert png.read_bytes()[:4] == b"\x89PNG"
    grid = np.asarray(drawn[0].axes[0].images[0].get_array())
    rows = load_rows(stored[0])
    by_init = [[r["train_accuracy"] for r in rows if r["init"] == i] for i in ("he", "xavier")]
    assert grid.ravel().tolist() == [max(v) for v in by_init]
    assert all(max(v) > np.mean(v) for v in by_init)  # the mean (the default) would differ
    assert "max over seeds" in drawn[0].axes[0].get_title()


def test_store_failing_its_integrity_check_is_read_with_a_warning(stored, capsys, tmp_path):
    bad = damaged_copy(stored[0], tmp_path / "bad", "zero-index")
    assert main(["results", str(bad)]) == 0
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: "), err
    assert "sweep.sqlite fails SQLite's integrity check" in lines[0]
    assert "4 runs shown" in out
    assert main(["results", str(stored[0])]) == 0  # the intact store: no warning
    assert capsys.readouterr().err == ""


def test_a_store_that_is_a_fifo_never_blocks(tmp_path):
    """SQLite would wait for ever on its first read of a FIFO: refused by name (a child with
    a timeout)."""
    import os

    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "sweep.sqlite")
    refused_limited(["results", "d"], tmp_path, "sweep store", "is a FIFO", timeout=30)


def test_a_results_file_that_is_a_fifo(capsys, tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "d" / "results.json")
    refused(["results", "d"], capsys, tmp_path, "results file", "is a FIFO")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny study's store (a Jacobian spectrum of one cell group)."""
    out = tmp_path_factory.mktemp("study") / "S"
    assert main(["theory", "jacobian", "--width", "4", "--depths", "1", "--members", "1",
                 "--out", str(out), "-q"]) == 0  # fmt: skip
    return out


@pytest.mark.parametrize(("other", "why"), [("missing", "it does not exist"),
                                            ("empty", "it has no sweep.sqlite"),
                                            ("sweep", "its sweep.sqlite holds a sweep's runs"),
                                            ("run", "it has no sweep.sqlite")])  # fmt: skip
@pytest.mark.parametrize("order", ["study-first", "study-second"])
def test_compare_of_a_study_names_the_other_directory(other, why, order, study, stored, capsys,
                                                      tmp_path, monkeypatch):  # fmt: skip
    """Review P3: beside a study's store, the directory that holds no cells is named (it
    used to say "no results in directory A" of the study)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    path = {"missing": tmp_path / "missing", "empty": tmp_path / "empty",
            "sweep": stored[0], "run": stored[1]}[other]  # fmt: skip
    pair = [str(study), str(path)] if order == "study-first" else [str(path), str(study)]
    refused(["results", "compare", *pair], capsys, tmp_path,
            f"{study} holds a study's cells, so {path} must", why)  # fmt: skip


@pytest.mark.parametrize("option", [["--metric", "final_cost"], ["--aggregate", "max"],
                                    ["--out", "h.png"]])  # fmt: skip
def test_heatmap_options_on_a_study_are_refused(option, study, capsys, tmp_path, monkeypatch):
    """Review (seen): --metric, --aggregate and --out were silently ignored on a study's
    store, whose cells have no heatmap."""
    monkeypatch.chdir(tmp_path)
    refused(["results", str(study), *option], capsys, tmp_path,
            f"{option[0]} is for a sweep's runs; {study} holds a study's cells")  # fmt: skip
