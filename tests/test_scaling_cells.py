"""The scaling studies as cells on the study executor: the same bits stored or not, split into
populations or not, resumed after kill -9; listed and compared by ``initlab results``."""

import sqlite3

import numpy as np
import pytest

from initlab.cli import main
from initlab.studies import _widths, scaling
from study_store import interrupted, records

RESIDUAL = scaling.Architecture(depth=2, skip=True, branch_layers=2, branch_scaling="learnable")
LT = dict(widths=(16, 32), log2_lrs=(-4, 0, 4), steps=6, seeds=(0, 1), n_examples=96,
          optimizer="sgd", base_width=16, architecture=RESIDUAL)  # fmt: skip
CC = dict(widths=(16, 32), seeds=(0, 1, 2), steps=2, n_examples=48, base_width=16)


def test_stored_cells_are_the_bits_of_the_populations_trained_here(tmp_path, monkeypatch):
    """With out=DIR the executor computes the cells in two worker processes, each group
    split into populations of at most 4 members (6 per group), and the study read back from
    the store has every bit of the one computed here, group by group; a rerun computes
    nothing and reads the same."""
    here = scaling.lr_transfer(**LT)
    cc_here = scaling.coord_check(**CC, optimizer="adam", learning_rate=0.01)
    monkeypatch.setattr(_widths, "MAX_POPULATION", 4)
    stored = scaling.lr_transfer(**LT, out=tmp_path / "lt", jobs=2)
    cc = scaling.coord_check(**CC, optimizer="adam", learning_rate=0.01, out=tmp_path / "cc")
    for a, b in ((here.loss, stored.loss), (here.curves, stored.curves),
                 (cc_here.size, cc.size), (cc_here.change, cc.change)):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    assert np.isinf(here.loss).any()  # a diverged member (rate 2^4): stored as inf
    assert (stored.settings, cc.layers, cc.steps) == (here.settings, cc_here.layers, [0, 1, 2])
    con = sqlite3.connect(tmp_path / "lt" / "sweep.sqlite")
    pops = con.execute("SELECT population, count(*) FROM cells GROUP BY population").fetchall()
    con.close()
    assert max(p for p, _ in pops) <= 4 and sum(n for _, n in pops) == 24
    again = scaling.lr_transfer(**LT, out=tmp_path / "lt")
    np.testing.assert_array_equal(again.curves, here.curves)


def test_cells_with_other_data_are_not_stored(tmp_path):
    X, Y = _widths.digits(32)
    with pytest.raises(
        scaling.InitlabError, match=r"stores its cells \(out=\) for the bundled digits"
    ):
        scaling.lr_transfer(**{**LT, "n_examples": None}, data=(X, Y), out=tmp_path)


def test_lr_transfer_killed_halfway_resumes_to_the_bits_of_an_uninterrupted_run(tmp_path, capsys):
    """``initlab scaling lr-transfer --out DIR`` killed with SIGKILL after its first
    population, then run again: only the missing cells are computed, the result has every
    bit of an uninterrupted run's, ``initlab results DIR`` lists the 48 cells and
    ``initlab results compare`` finds every cell the same bits."""
    argv = ["scaling", "lr-transfer", "--widths", "32", "64", "128", "--log2-lrs", "-9", "-6",
            "--seeds", "2", "--steps", "60", "--examples", "128", "--batch-size", "32",
            "--base-width", "32", "-q"]  # fmt: skip
    out, whole = tmp_path / "killed", tmp_path / "whole"
    interrupted(argv, out, 48)
    assert not (out / "lr_transfer.json").exists()
    assert main([*argv, "--out", str(out)]) == 0
    con = sqlite3.connect(out / "sweep.sqlite")
    attempts = con.execute("SELECT max(attempts), count(*) FROM cells").fetchone()
    con.close()
    assert attempts == (1, 48)  # nothing computed twice
    assert main([*argv, "--out", str(whole)]) == 0
    a = scaling.LrTransfer.load(out / "lr_transfer.json")
    b = scaling.LrTransfer.load(whole / "lr_transfer.json")
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.curves, b.curves)
    assert records(out) == records(whole)  # every cell's record, as JSON text
    capsys.readouterr()
    assert main(["results", str(out)]) == 0
    assert "48 cells shown of 48; study: lr-transfer" in capsys.readouterr().out
    assert main(["results", "compare", str(out), str(whole)]) == 0
    assert "48 cells: 48 the same bits, 0 differ" in capsys.readouterr().out


def test_the_written_spec_runs_with_initlab_sweep_to_the_same_cells(tmp_path, capsys):
    """``initlab scaling coord-check --write-spec`` computes nothing; ``initlab sweep`` of
    that spec stores the cells the command stores (the same ids and bits) and prints and
    writes what it does; a bad key of the spec is one line naming it."""
    argv = ["scaling", "coord-check", "--widths", "16", "32", "--seeds", "2", "--steps", "1",
            "--examples", "16", "--residual", "--depth", "1", "--base-width", "16", "-q"]  # fmt: skip
    spec = tmp_path / "cc.toml"
    assert main([*argv, "--write-spec", str(spec)]) == 0
    assert f"wrote {spec}" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(tmp_path / "a"), "--jobs", "1", "-q"]) == 0
    swept = capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    direct = capsys.readouterr().out
    assert records(tmp_path / "a") == records(tmp_path / "b") and len(records(tmp_path / "b")) == 12
    verdicts = [line for line in direct.splitlines() if line.startswith("verdict ")]
    assert verdicts and all(line in swept for line in verdicts)
    a, b = (scaling.CoordCheck.load(tmp_path / d / "coord_check.json") for d in "ab")
    np.testing.assert_array_equal(a.size, b.size)
    assert a.settings == b.settings and a.settings["architecture"]["skip"] is True
    # a transfer shares the directory (as docs/scaling.md's runs and the report do)
    assert main(["scaling", "lr-transfer", "--widths", "8", "16", "--log2-lrs", "-5", "-5",
                 "--steps", "1", "--examples", "8", "--batch-size", "8", "--parametrizations",
                 "sp", "-q", "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["results", str(tmp_path / "b")]) == 0
    shown = capsys.readouterr().out  # one table per kind, and how many cells of each
    assert "14 cells shown of 14; study: coord-check (12 cells), lr-transfer (2 cells)" in shown
    assert "study cells (coord-check)" in shown and "study cells (lr-transfer)" in shown
    again = scaling.CoordCheck.load(tmp_path / "b" / "coord_check.json")
    np.testing.assert_array_equal(again.size, b.size)
    spec.write_text(spec.read_text().replace("steps = 1", "step = 1"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "c")]) == 2
    assert "unknown key 'step' in [coord-check]" in capsys.readouterr().err


def test_coord_check_ctrl_c_says_what_is_stored_and_how_to_resume(tmp_path):
    """Review P9: Ctrl-C in ``initlab scaling`` says, as the other study commands do, how
    many cells are stored and how to resume (it used to say only "interrupted")."""
    import signal

    argv = ["scaling", "coord-check", "--widths", "16", "32", "64", "128", "--seeds", "2",
            "--steps", "3", "--base-width", "16", "--jobs", "1", "-q"]  # fmt: skip
    out = tmp_path / "cc"
    code, err, stored = interrupted(argv, out, 24, signal.SIGINT)
    assert code == 130, err
    assert (f"interrupted: {stored} of 24 cells are stored in {out / 'sweep.sqlite'}; run the "
            "same command again to resume") in err, err  # fmt: skip
