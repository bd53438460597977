"""``initlab theory STUDY``: one subcommand per study with only its own options, and the old
grammar (``initlab theory --critical ...``) kept for one release with a one-line notice that
names the new form, giving the same printed lines and the same files, byte for byte."""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from pathlib import Path

import pytest

from initlab.cli import _theory_grammar as grammar
from initlab.cli import build_parser, main

SUBCOMMANDS = ["variance", "critical", "correlation", "jacobian", "trainability", "deep-linear",
               "kernels"]  # fmt: skip

# (new form after "theory", old form after "theory"): small runs of every study
PAIRS = [
    (["variance", "--layers", "12", "8", "1", "--members", "2", "--examples", "16", "--init",
      "random:scale=0.3", "--input-dim", "5", "--seed", "3"],
     ["--layers", "12", "8", "1", "--members", "2", "--examples", "16", "--init",
      "random:scale=0.3", "--input-dim", "5", "--seed", "3"]),
    (["critical", "--activation", "tanh", "relu", "--sigma-b2-grid", "0", "0.1"],
     ["--critical", "--activation", "tanh", "relu", "--sigma-b2-grid", "0", "0.1"]),
    (["correlation", "--sigma-b2", "0.05", "--depth", "3", "--width", "30", "--members", "2",
      "--c0", "0.2", "0.9"],
     ["--correlation", "--sigma-b2", "0.05", "--depth", "3", "--width", "30", "--members", "2",
      "--c0", "0.2", "0.9"]),
    (["jacobian", "--activation", "linear", "--depths", "1", "2", "--width", "12", "-q"],
     ["--jacobian", "--activation", "linear", "--depths", "1", "2", "--width", "12", "-q"]),
    (["deep-linear", "--train-depths", "2", "--width", "6", "--steps", "20", "--seeds", "1",
      "-q"],
     ["--deep-linear", "--train-depths", "2", "--width", "6", "--steps", "20", "--seeds", "1",
      "-q"]),
    (["trainability", "--train-depths", "2", "--sigma-w2-grid", "1.5", "--steps", "3",
      "--seeds", "1", "--width", "6", "-q"],
     ["--trainability", "--train-depths", "2", "--sigma-w2-grid", "1.5", "--steps", "3",
      "--seeds", "1", "--width", "6", "-q"]),
    (["kernels", "--activation", "relu", "--sigma-b2", "0.1", "--hidden-layers", "1", "--width",
      "8", "--train-examples", "6", "--ntk-widths", "8", "16", "--members", "2",
      "--train-widths", "8", "--steps", "3", "--max-depth", "2", "-q"],
     ["--kernels", "--activation", "relu", "--sigma-b2", "0.1", "--hidden-layers", "1",
      "--width", "8", "--train-examples", "6", "--ntk-widths", "8", "16", "--members", "2",
      "--train-widths", "8", "--steps", "3", "--max-depth", "2", "-q"]),
]  # fmt: skip


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["theory", *argv])


def _study_namespace(argv: list[str]) -> dict:
    """What a study reads: the namespace after either grammar's normalisation."""
    args = _parse(argv)
    old = grammar.old_form(args)
    args = old[0] if old else grammar.complete(args)
    return {k: v for k, v in vars(args).items() if k != "theory_command"}


def _timeless(name, data: bytes) -> bytes:
    """A file's bytes, but of a store (trainability's) only the cells' ids and records (its
    timings, workers and creation time differ between any two runs)."""
    if name.name != "sweep.sqlite":
        return data
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / name.name).write_bytes(data)
        con = sqlite3.connect(Path(tmp) / name.name)
        cells = con.execute("SELECT id, status, record FROM cells ORDER BY id").fetchall()
        con.close()
    assert cells and all(c[1] == "done" for c in cells)
    return json.dumps(cells).encode()


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["theory", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    listing = text[text.index("positional arguments") :]
    for name in SUBCOMMANDS:
        assert f"\n    {name}" in listing, name
    assert "--sigma-b2-grid" not in text and "--trainability" not in text.split("\n\n")[0]


@pytest.mark.parametrize(
    ("argv", "foreign"),
    [
        (["critical", "--width", "5"], "--width 5"),
        (["critical", "--seed", "1"], "--seed 1"),
        (["variance", "--layers", "4", "1", "--c0", "0.5"], "--c0 0.5"),
        (["deep-linear", "--activation", "tanh"], "--activation tanh"),
        (["correlation", "--activation", "tanh", "relu"], "relu"),
        (["jacobian", "--train-depths", "2"], "--train-depths 2"),
        (["kernels", "--sigma-w2-grid", "1"], "--sigma-w2-grid 1"),
        (["trainability", "--no-map"], "--no-map"),
    ],
)
def test_a_subcommand_takes_only_its_own_options(argv, foreign, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["theory", *argv])
    assert exit_.value.code == 2
    assert f"unrecognized arguments: {foreign}" in capsys.readouterr().err


@pytest.mark.parametrize(("new", "old"), PAIRS, ids=[p[0][0] for p in PAIRS])
def test_both_grammars_give_the_study_the_same_arguments(new, old):
    """Every value the study reads, defaults included, is the same under both forms."""
    assert _study_namespace(new) == _study_namespace(old)


@pytest.mark.parametrize(("new", "old"), PAIRS, ids=[p[0][0] for p in PAIRS])
def test_both_grammars_print_and_write_the_same_bytes(new, old, tmp_path, monkeypatch, capsys):
    """Each form runs in its own folder with the same relative --out: the printed lines are
    equal, every file is equal byte for byte, and the old form adds one line on stderr, the
    notice naming the subcommand."""
    runs = {}
    for form, argv in (("new", new), ("old", old)):
        (tmp_path / form).mkdir()
        monkeypatch.chdir(tmp_path / form)
        assert main(["theory", *argv, "--out", "out"]) == 0, form
        out, err = capsys.readouterr()
        root = tmp_path / form / "out"
        files = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        runs[form] = (out, err, files)
    assert runs["new"][0] == runs["old"][0] and runs["new"][0]
    assert runs["new"][2].keys() == runs["old"][2].keys() and runs["new"][2]
    for name, data in runs["new"][2].items():
        assert _timeless(name, data) == _timeless(name, runs["old"][2][name]), name
    assert runs["new"][1] == ""
    notice = runs["old"][1].splitlines()
    assert len(notice) == 1, notice
    assert "deprecated" in notice[0] and f"`initlab theory {new[0]}" in notice[0]


def test_old_form_still_ignores_options_its_study_does_not_read(capsys):
    """As before the subcommands: ``--critical --seed 3`` runs (the seed is unused)."""
    assert main(["theory", "--critical", "--seed", "3", "--sigma-b2-grid", "0.1"]) == 0
    out, err = capsys.readouterr()
    assert main(["theory", "critical", "--sigma-b2-grid", "0.1"]) == 0
    assert capsys.readouterr().out == out
    assert err.startswith("initlab theory: note: `initlab theory --critical ...` is deprecated")


def test_every_option_belongs_to_a_study_and_has_its_help_there():
    used = {dest for study in grammar.STUDIES.values() for dest in study.options}
    assert used == set(grammar.OPTIONS) == set(grammar.HELP)
    for name, study in grammar.STUDIES.items():
        for dest in study.options:
            assert grammar._help(dest, name), (name, dest)


def test_an_abbreviation_is_resolved_among_the_subcommands_options():
    """``--cri`` would be ambiguous across all the studies (--critical, --criterion), not among
    deep-linear's options; ``--train`` is trainability's --train-depths, but ambiguous among
    kernels' (--train-widths, --train-examples)."""
    assert _parse(["deep-linear", "--cri", "0.5"]).criterion == 0.5
    assert _parse(["trainability", "--train", "2", "3"]).train_depths == [2, 3]
    with pytest.raises(SystemExit):
        _parse(["kernels", "--train", "8"])
