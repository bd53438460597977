"""Issue 23 as its users meet it: the studies on the executor, run the way the docs show
(a review of the merged work; each test is a bug found and fixed)."""

import sqlite3

import pytest

from initlab._validation import InitlabError
from initlab.cli import main
from initlab.studies import scaling

TINY_LT = dict(widths=(8, 16), log2_lrs=(-5, -5), steps=1, n_examples=8, batch_size=8,
               parametrizations=("sp",), base_width=8)  # fmt: skip


def cell_count(out) -> int:
    con = sqlite3.connect(out / "sweep.sqlite")
    try:
        return con.execute("SELECT count(*) FROM cells").fetchone()[0]
    finally:
        con.close()


def test_another_lr_transfer_into_the_same_directory_is_refused(tmp_path, capsys):
    """README: "A directory holds one spec of each kind of study ... another spec of a kind
    already there is refused". A transfer with other steps into a transfer's directory was
    silently added beside it (two transfers in one store, the JSON and figure of the last);
    it is refused in one line naming what to do, before any cell is computed, while a
    coordinate check still shares the directory."""
    out = tmp_path / "lt"
    scaling.lr_transfer(**TINY_LT, out=out)
    assert cell_count(out) == 2
    with pytest.raises(InitlabError, match=r"holds another study.*--extend"):
        scaling.lr_transfer(**{**TINY_LT, "steps": 2}, out=out)
    assert cell_count(out) == 2
    argv = ["scaling", "lr-transfer", "--widths", "8", "16", "--log2-lrs", "-5", "-5",
            "--examples", "8", "--batch-size", "8", "--parametrizations", "sp",
            "--base-width", "8", "-q", "--out", str(out)]  # fmt: skip
    assert main([*argv, "--steps", "1"]) == 0  # the same spec: nothing to do
    assert main([*argv, "--steps", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another study" in err[0], err
    assert cell_count(out) == 2
    scaling.coord_check(widths=(8, 16), seeds=(0,), steps=1, n_examples=8, base_width=8,
                        parametrizations=("sp",), out=out)  # fmt: skip
    assert cell_count(out) == 4


@pytest.mark.parametrize(
    ("study", "bad", "message"),
    [
        ("lr_transfer", {"seeds": ()}, "seeds needs at least one value"),
        ("lr_transfer", {"log2_lrs": ()}, "log2_lrs needs at least one value"),
        ("lr_transfer", {"parametrizations": ()}, "parametrizations needs at least one value"),
        ("lr_transfer", {"seeds": ("a",)}, "seeds[0] must be an integer"),
        ("lr_transfer", {"seeds": (0, -1)}, "seeds[1] must be >= 0"),
        ("lr_transfer", {"log2_lrs": (-5, float("nan"))}, "log2_lrs[1] must be finite"),
        ("lr_transfer", {"jobs": 2}, "jobs and scheduler need out"),
        ("coord_check", {"parametrizations": ()}, "parametrizations needs at least one value"),
        ("coord_check", {"seeds": ()}, "seeds needs at least one value"),
        ("coord_check", {"seeds": (-1,)}, "seeds[0] must be >= 0"),
        ("coord_check", {"learning_rate": float("nan")}, "learning_rate"),
        ("coord_check", {"scheduler": "tcp://127.0.0.1:1"}, "jobs and scheduler need out"),
    ],
)
def test_the_scaling_api_names_a_bad_argument(study, bad, message):
    """In a notebook, an empty or bad list of the scaling studies was a NumPy reshape error,
    an IndexError or a JSON error, and ``jobs``/``scheduler`` without ``out`` were silently
    ignored; each is now an InitlabError naming the argument, before any training."""
    base = dict(widths=(8, 16), steps=1, n_examples=8, parametrizations=("sp",), seeds=(0,))
    if study == "lr_transfer":
        base.update(log2_lrs=(-5,), batch_size=8)
    with pytest.raises(InitlabError) as info:
        getattr(scaling, study)(**{**base, **bad})
    assert message in str(info.value), str(info.value)


def test_scaling_api_docstrings_describe_every_parameter():
    """``help(scaling.coord_check)`` pointed to a private function for its settings; the
    docstrings are numpydoc, with every parameter of the signature and of the settings."""
    import inspect

    from initlab.studies import lrtransfer
    from initlab.studies import scaling as sc

    for public, plan in ((sc.coord_check, sc._plan), (sc.lr_transfer, lrtransfer._plan)):
        doc = inspect.getdoc(public)
        assert "Parameters\n----------" in doc and "Returns\n-------" in doc
        names = [*inspect.signature(public).parameters, *inspect.signature(plan).parameters]
        for name in names:
            if name in ("settings", "max_population", "source"):
                continue
            assert f"\n{name} :" in doc or f", {name} :" in doc or f"\n{name}," in doc, name


def test_theory_help_says_where_the_studies_store_their_results(capsys):
    """``initlab theory --help`` said every study writes DIR/<study>.json; the studies on the
    executor store their cells in DIR/sweep.sqlite (there is no trainability.json)."""
    with pytest.raises(SystemExit):
        main(["theory", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "DIR/<study>.json" not in text
    assert "DIR/sweep.sqlite" in text and "initlab results DIR" in text
    assert "--write-spec FILE.toml" in text and "DIR/critical.json" in text


def test_write_spec_onto_a_directory_names_the_directory(tmp_path, capsys, monkeypatch):
    """``--write-spec .`` said "Device or resource busy: ./..x8f3.tmp", naming a temporary
    file that no longer exists; the one line names the directory the user gave."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.toml").mkdir()
    status = main(["theory", "deep-linear", "--write-spec", "spec.toml"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1, err
    assert "spec.toml" in err[0] and "directory" in err[0].lower() and ".tmp" not in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_results_csv_of_a_study_is_checked_before_the_table(tmp_path, capsys):
    """``initlab results STUDY_DIR --csv DIR`` printed the table, then failed to write onto
    the directory and made a stray /tmp/initlab-rescued-* folder (a sweep's store refuses it
    at once); now one line, exit 2, nothing printed or made."""
    from bad_input import refused

    out = tmp_path / "lt"
    scaling.lr_transfer(**TINY_LT, out=out)
    folder = tmp_path / "folder"
    folder.mkdir()
    line = refused(["results", str(out), "--csv", str(folder)], capsys, tmp_path, "--csv")
    assert "is a directory" in line
    assert main(["results", str(out), "--csv", str(tmp_path / "a" / "c.csv"), "-q"]) == 0
    assert (tmp_path / "a" / "c.csv").read_text().count("\n") == 3  # header and 2 cells


def test_a_sweep_into_a_studys_directory_says_what_is_there(tmp_path, capsys):
    """A sweep into a study's directory said "holds another sweep: ... the store has 0 runs
    this spec does not have"; it says the store holds a study's cells, and which, and a
    study into a sweep's directory says it holds a sweep's runs."""
    from bad_input import refused

    out = tmp_path / "lt"
    scaling.lr_transfer(**TINY_LT, out=out)
    spec = tmp_path / "tiny.toml"
    spec.write_text('[data]\ntrain = "digits"\n[training]\niterations = 2\n'
                    '[axes]\ninit = ["he"]\nhidden = [[4]]\nlearning_rate = [0.01]\n')  # fmt: skip
    line = refused(["sweep", str(spec), "--out", str(out), "-q"], capsys, tmp_path)
    assert "holds studies' cells (lr-transfer), not a sweep's runs" in line, line
    runs = tmp_path / "runs"
    assert main(["sweep", str(spec), "--out", str(runs), "-q", "--jobs", "1"]) == 0
    capsys.readouterr()
    with pytest.raises(InitlabError, match="holds a sweep's runs, not a study's cells"):
        scaling.lr_transfer(**TINY_LT, out=runs)


def test_ctrl_c_without_out_says_nothing_is_kept(monkeypatch, capsys):
    """Without --out the store is temporary: Ctrl-C must not say "stored in /tmp/...; run
    the same command again to resume" (nothing is there to resume from)."""
    from initlab.execution import study

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study, "execute", stop)
    assert main(["theory", "jacobian", "--width", "4", "--depths", "1", "--members", "1"]) == 130
    err = capsys.readouterr().err
    assert "interrupted: 0 of 2 cells were computed; nothing is kept without --out" in err, err
    assert "resume" not in err.replace("and resume)", "")


def test_sweep_and_results_help_name_the_studies(capsys):
    """Review P7: ``sweep --help`` named only kind "trainability", ``results --help`` only
    results.json compared run by run, ``initlab --help`` only runs."""
    import re

    from initlab.studies.specs import KINDS

    def shown(argv):
        with pytest.raises(SystemExit):
            main(argv)
        return re.sub(r"\s+", " ", capsys.readouterr().out)

    sweep = shown(["sweep", "--help"])
    assert all(kind in sweep for kind in KINDS), sweep
    assert "same memory and work limits as its command" in sweep
    assert "two studies' stores cell by cell" in shown(["results", "--help"])
    top = shown(["--help"])
    assert "or compute a study (a study spec)" in top and "or the cells of a study" in top


def test_an_incomplete_kernel_study_names_its_missing_parts_readably(tmp_path, capsys):
    """Review (seen): the missing depth scan was named by its cell group, "depth 8" (8 is
    the width, not a depth); it is "depth (width 8)"."""
    from initlab.studies import kernel_study

    out = tmp_path / "k"
    assert main(["theory", "kernels", "--hidden-layers", "1", "--width", "8",
                 "--train-examples", "8", "--ntk-widths", "8", "16", "--members", "2",
                 "--train-widths", "16", "--steps", "5", "--max-depth", "2", "-q",
                 "--out", str(out)]) == 0  # fmt: skip
    con = sqlite3.connect(out / "sweep.sqlite")
    con.execute("UPDATE cells SET status = 'pending', record = NULL WHERE group_key LIKE 'depth%'")
    con.commit()
    con.close()
    with pytest.raises(InitlabError, match=r"1 of \d+ cells not stored: depth \(width 8\)\)"):
        kernel_study.read(out)
