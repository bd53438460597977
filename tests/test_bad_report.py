"""``initlab report``: damaged results are one line naming the file and the field; a store
failing its integrity check is reported with a warning (issue 21)."""

from __future__ import annotations

import pytest

from bad_input import damaged_copy, refused, stored_results
from initlab.cli import main


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    return stored_results(tmp_path_factory.mktemp("stored"))


DAMAGED = [
    ("sweep", "sql:UPDATE runs SET final_cost = 'abc' WHERE rowid = 2",
     ["sweep.sqlite", "final_cost must be a number or null; got 'abc'"]),
    ("sweep", "sql:UPDATE runs SET learning_rate = 'fast'", ["learning_rate must be a number"]),
    ("run", 'json:runs.0.final_cost="abc"', ["results.json", "runs[0].final_cost"]),
    ("run", "json:runs=5", ["results.json", "runs must be a list"]),
    ("run", "json:spec=[]", ["results.json", "spec must be a table"]),
]  # fmt: skip


@pytest.mark.parametrize(("which", "how", "contains"), DAMAGED, ids=[d[1][:40] for d in DAMAGED])
def test_damaged_results_named(which, how, contains, stored, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = stored[0] if which == "sweep" else stored[1]
    bad = damaged_copy(source, tmp_path / "bad", how)
    out = tmp_path / "report" / "new"  # not created: a refused report leaves no folder
    refused(["report", str(bad), "--out", str(out)], capsys, tmp_path, *contains)
    out.parent.mkdir()  # an existing place: nothing may be written into it
    refused(["report", str(bad), "--out", str(out.parent)], capsys, tmp_path, *contains)


OPTIONS = [
    (["--out", ""], ["--out is empty"]),
    (["--axes", "init", "x" * 10_000], ["--axes Y must be one of", "characters"]),
    (["--axes", "seed", "seed"], ["two different axes"]),
]


@pytest.mark.parametrize(("argv", "contains"), OPTIONS, ids=lambda v: " ".join(v)[:30])
def test_bad_options(argv, contains, stored, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(["report", str(stored[0]), *argv], capsys, tmp_path, *contains)


def test_store_failing_its_integrity_check_is_reported_with_a_warning(stored, capsys, tmp_path):
    bad = damaged_copy(stored[0], tmp_path / "bad", "zero-index")
    assert main(["report", str(bad), "--out", str(tmp_path / "r"), "-q"]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "fails SQLite's integrity check" in lines[0], lines
    assert (tmp_path / "r" / "report.html").is_file()
