"""Outputs: a bad --out is one line before any work; a failed write after the work is one
line naming where the results were kept instead; figures of an earlier experiment do not
linger; run names never share a figure file."""

import errno
import json
import shutil
from pathlib import Path

import pytest

from initlab.cli import build_parser, main
from initlab.report import figures as figures_mod
from initlab.results import records

SPEC = """
[data]
train = "digits"
[model]
hidden = [3]
[training]
iterations = 6
seeds = 2
{runs}
"""


def spec_file(tmp_path, names=("he", "zeros"), file="exp.toml"):
    inits = [n.replace("-", " ").split()[0].lower() for n in names]
    runs = "".join(
        f'[[runs]]\nname = "{n}"\ninit = "{i}"\n' for n, i in zip(names, inits, strict=True)
    )
    path = tmp_path / file
    path.write_text(SPEC.format(runs=runs))
    return path


SWEEP = """
[data]
train = "digits"
[model]
hidden = [3]
[training]
iterations = 6
[axes]
init = ["he", "xavier"]
learning_rate = [0.01, 0.1]
"""


@pytest.fixture
def done_run(tmp_path):
    out = tmp_path / "done"
    assert main(["run", str(spec_file(tmp_path)), "--out", str(out), "--no-figures", "-q"]) == 0
    return out


def _no_work(monkeypatch):
    """Any training, measuring or sweeping fails the test: outputs are checked first."""

    def forbidden(*a, **k):
        raise AssertionError("work started before the output was checked")

    from initlab.analysis import theory
    from initlab.execution import runner, sweep
    from initlab.studies import deeplinear, scaling, sigprop, trainability

    monkeypatch.setattr(runner, "run", forbidden)
    monkeypatch.setattr(theory, "measure", forbidden)
    monkeypatch.setattr(sweep, "execute", forbidden)
    from initlab.execution import study

    monkeypatch.setattr(study, "execute", forbidden)  # every study command computes by it
    for module, name in ((deeplinear, "run"), (trainability, "run"), (scaling, "coord_check"),
                         (scaling, "lr_transfer"), (sigprop, "jacobian_record")):  # fmt: skip
        monkeypatch.setattr(module, name, forbidden)


def commands(tmp_path, out, done):
    sweep_spec = tmp_path / "sweep.toml"
    sweep_spec.write_text(SWEEP)
    return {
        "run": ["run", str(spec_file(tmp_path)), "--out", str(out)],
        "reproduce": ["reproduce", "--data", "digits", "--out", str(out)],
        "theory": [
            "theory",
            "variance",
            "--layers",
            "4",
            "1",
            "--examples",
            "20",
            "--members",
            "2",
            "--out",
            str(out),
        ],
        "deep-linear": [
            "theory",
            "deep-linear",
            "--train-depths",
            "2",
            "--width",
            "8",
            "--steps",
            "10",
            "--seeds",
            "1",
            "--out",
            str(out),
        ],
        "trainability": [
            "theory",
            "trainability",
            "--train-depths",
            "2",
            "--sigma-w2-grid",
            "1",
            "--steps",
            "3",
            "--seeds",
            "1",
            "--width",
            "8",
            "--out",
            str(out),
        ],
        "jacobian": [
            "theory",
            "jacobian",
            "--activation",
            "linear",
            "--depths",
            "1",
            "--width",
            "10",
            "--out",
            str(out),
        ],
        "coord-check": [
            "scaling",
            "coord-check",
            "--widths",
            "8",
            "16",
            "--steps",
            "1",
            "--seeds",
            "1",
            "--examples",
            "8",
            "--base-width",
            "8",
            "--out",
            str(out),
        ],
        "lr-transfer": [
            "scaling",
            "lr-transfer",
            "--widths",
            "8",
            "16",
            "--log2-lrs",
            "-5",
            "-5",
            "--steps",
            "2",
            "--examples",
            "16",
            "--batch-size",
            "8",
            "--base-width",
            "8",
            "--out",
            str(out),
        ],
        "report": ["report", str(done), "--out", str(out)],
        "sweep": ["sweep", str(sweep_spec), "--out", str(out), "--jobs", "1"],
        "csv": ["results", str(done), "--csv", str(out / "r.csv")],
        "parquet": ["results", str(done), "--parquet", str(out / "r.parquet")],
        "heatmap": ["results", str(done), "--heatmap", "init", "seed", "--out", str(out / "h.png")],
    }


@pytest.mark.parametrize("command", ["run", "reproduce", "theory", "deep-linear", "trainability",
                                     "jacobian", "coord-check", "lr-transfer", "report", "sweep",
                                     "csv", "parquet", "heatmap"])  # fmt: skip
@pytest.mark.parametrize("where", ["under a file", "an existing file"])
def test_a_bad_out_is_one_line_before_any_work(command, where, tmp_path, done_run, monkeypatch,
                                               capsys):  # fmt: skip
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file\n")
    out = blocker / "out" if where == "under a file" else blocker
    argv = commands(tmp_path, out, done_run)[command]
    if where == "an existing file" and command in ("csv", "parquet", "heatmap"):
        argv[-1] = str(tmp_path)  # the file option given an existing directory
    _no_work(monkeypatch)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "error:" in err[0] and (str(blocker) in err[0] or str(tmp_path) in err[0]), err
    assert blocker.read_text() == "a regular file\n"


def test_not_enough_free_space_is_refused_before_training(tmp_path, monkeypatch, capsys):
    from initlab.cli import _outputs

    usage = shutil.disk_usage(tmp_path)._replace(free=1000)
    monkeypatch.setattr(_outputs.shutil, "disk_usage", lambda p: usage)
    _no_work(monkeypatch)
    assert main(["run", str(spec_file(tmp_path)), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "free on its disk" in err and "need about" in err


@pytest.fixture
def full_disk(monkeypatch):
    """Every atomic write under the returned folder fails with ENOSPC (as a full disk does;
    as root, a read-only chmod would not stop the writes)."""
    from initlab.report import html
    from initlab.results import table
    from initlab.studies import _studyio, _widths

    full = []
    real = records.write_atomic

    def write_atomic(path, data):
        if any(Path(path).is_relative_to(f) for f in full):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    for module in (records, figures_mod, html, table, _studyio, _widths):  # studies: _studyio
        monkeypatch.setattr(module, "write_atomic", write_atomic)
    rescued = []
    real_mkdtemp = __import__("tempfile").mkdtemp

    def mkdtemp(*a, **k):
        rescued.append(Path(real_mkdtemp(*a, **k)))
        return str(rescued[-1])

    from initlab.cli import _outputs

    monkeypatch.setattr(_outputs.tempfile, "mkdtemp", mkdtemp)
    yield full, rescued
    for d in rescued:
        shutil.rmtree(d, ignore_errors=True)


def _rescue_line(capsys, out, rescued):
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [x for x in captured.err.splitlines() if "error:" in x]
    assert len(lines) == 1, captured.err
    assert "disk full" in lines[0] and str(out) in lines[0] and str(rescued[0]) in lines[0]
    return captured.out


@pytest.mark.parametrize("command", ["run", "reproduce"])
def test_a_full_disk_after_training_keeps_the_results_elsewhere(command, tmp_path, full_disk,
                                                                monkeypatch, capsys):  # fmt: skip
    full, rescued = full_disk
    out = tmp_path / "out"
    full.append(out)
    argv = commands(tmp_path, out, None)[command]
    if command == "reproduce":  # the post's experiment, 20 iterations instead of 1000
        from initlab.cli import reproduce

        real = reproduce.post_spec

        def short(*a, **k):
            spec = real(*a, **k)
            spec["training"]["iterations"] = 20
            return spec

        monkeypatch.setattr(reproduce, "post_spec", short)
    assert main(argv) == 1
    stdout = _rescue_line(capsys, out, rescued)
    results = records.read_results(rescued[0])  # all of it, readable
    assert len(results["runs"]) == 4  # 4 inits x 1 seed, 2 x 2 seeds
    assert (rescued[0] / "cost_curves.png").is_file()
    assert not (out / records.RESULTS_FILE).exists()
    # the table printed is the one stored: same final costs
    for s in results["summary"]:
        assert f"{s['final_cost']['mean']:.6f}" in stdout


def test_full_disk_for_theory_report_sweep_figures_and_exports(tmp_path, done_run, full_disk,
                                                               capsys):  # fmt: skip
    full, rescued = full_disk
    out = tmp_path / "out"
    out.mkdir()
    full.append(out)
    argvs = commands(tmp_path, out, done_run)
    argvs["sweep"] += ["--figures"]
    expected = {"theory": "theory.json", "report": "report.html", "sweep": "heatmap_final_cost_*.png",
                "csv": "r.csv", "parquet": "r.parquet", "heatmap": "h.png",
                "coord-check": "coord_check.json", "lr-transfer": "lr_transfer.json"}  # fmt: skip
    # the scaling studies in a directory of their own: a sweep's store takes no study's cells
    scaling_out = tmp_path / "scaling"
    scaling_out.mkdir()
    full.append(scaling_out)
    scaling = commands(tmp_path, scaling_out, done_run)
    for name, file in expected.items():
        rescued.clear()
        where = scaling_out if name in ("coord-check", "lr-transfer") else out
        assert main((scaling if where == scaling_out else argvs)[name]) == 1, name
        _rescue_line(capsys, where, rescued)
        assert any(rescued[0].glob(file)), (name, list(rescued[0].iterdir()))


def test_reusing_out_removes_the_earlier_experiments_figures(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(spec_file(tmp_path, ["he", "zeros"])), "--out", str(out), "-q"]) == 0
    assert {p.name for p in out.glob("cost_*.png")} >= {"cost_he.png", "cost_zeros.png"}
    assert main(["run", str(spec_file(tmp_path, ["xavier"])), "--out", str(out), "-q"]) == 0
    names = {p.name for p in out.glob("*.png")}
    assert names == {"cost_curves.png", "cost_curves_log.png", "accuracy.png", "cost_xavier.png"}
    mine = out / "notes.png"
    mine.write_bytes(b"not initlab's")
    assert main(["run", str(spec_file(tmp_path, ["he"])), "--out", str(out), "--no-figures",
                 "-q"]) == 0  # fmt: skip
    assert {p.name for p in out.glob("*.png")} == {"notes.png"}  # only initlab's own removed


def test_run_names_with_the_same_file_name_get_their_own_figures(tmp_path, capsys):
    out = tmp_path / "out"
    spec = spec_file(tmp_path, ["he a", "he-a", "HE-A"])
    assert main(["run", str(spec), "--out", str(out), "-q"]) == 0
    results = records.read_results(out)
    files = figures_mod.run_figure_names(results)
    assert len({f.lower() for f in files.values()}) == 3
    for rec in results["runs"]:
        if rec["replicate"] == 0:  # each file is that run's curve: its title names the run
            fig = figures_mod.cost_curve(rec)
            assert fig.axes[0].get_title().startswith(rec["name"] + ":")
            path = out / files[rec["name"]]
            assert path.is_file()
            assert path.read_bytes() == _png(fig)


def _png(fig):
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def test_a_results_file_without_runs_is_one_line(done_run, capsys):
    path = done_run / records.RESULTS_FILE
    data = json.loads(path.read_text())
    del data["runs"]
    path.write_text(json.dumps(data))
    for argv in (["report", str(done_run)], ["results", str(done_run)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "'runs'" in err[0] and str(path) in err[0], err


def test_heatmap_does_not_print_every_row(done_run, tmp_path, capsys):
    assert main(["results", str(done_run), "--heatmap", "init", "seed", "--out",
                 str(tmp_path / "h.png")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "heatmap:" in out and "4 runs shown" in out
    assert "initlab: sweep runs" not in out and "│" not in out


def test_default_output_directories_are_git_ignored():
    root = Path(__file__).resolve().parents[1]
    ignored = (root / ".gitignore").read_text().split()
    sub = build_parser()._subparsers._group_actions[0].choices
    for name, parser in sub.items():
        for action in parser._actions:
            if action.dest == "out" and isinstance(action.default, Path):
                assert f"/{action.default}/" in ignored, (name, action.default)


def test_outputs_helper_names_the_reason(tmp_path):
    from initlab.cli._outputs import reason, save

    def write(where):
        if where == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(where / "x"))
        (where / "x").write_text("1")
        return [where / "x"]

    saved = save(write, tmp_path, what="numbers")
    try:
        assert saved.where != tmp_path and (saved.where / "x").read_text() == "1"
        assert "permission denied" in saved.note and str(saved.where) in saved.note
        assert reason(OSError(errno.ENOSPC, "x")) == "disk full"
    finally:
        shutil.rmtree(saved.where)


def test_a_spec_whose_every_member_diverges_prints_its_table(tmp_path, capsys):
    """Every member diverged: no accuracy exists, yet the figures, the table and the exit code
    are as for any run (before: a ZeroDivisionError drawing the accuracy figure)."""
    from initlab.cli import main

    path = tmp_path / "diverge.toml"
    path.write_text('[data]\ntrain = "digits"\n[model]\nhidden = [5, 5]\n'
                    '[training]\niterations = 200\nlearning_rate = 100000\n'
                    '[[runs]]\nname = "random"\ninit = { name = "random", scale = 10 }\n')  # fmt: skip
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "diverged" in out
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert all(r["diverged"] for r in results["runs"])
    assert (tmp_path / "out" / "accuracy.png").is_file()
