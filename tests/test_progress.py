"""Progress when the output is not a terminal: a line at least every interval, with the
count done and the elapsed time."""

import io
import threading
import time

from initlab.cli import _common, main


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_lines_come_every_interval_even_without_updates():
    clock, stream = FakeClock(), io.StringIO()
    lines = _common.LineProgress("sweep", unit="runs", stream=stream, interval=0.02, clock=clock)
    lines.update(3, 12, failed=1)
    clock.now += 65  # 1 min 5 s of work, and no update meanwhile
    time.sleep(0.3)
    lines.close()
    out = stream.getvalue().splitlines()
    assert len(out) >= 3  # the timer wrote while nothing was updated, then the last line
    assert out[-1] == "sweep: 3/12 runs (25%), 1 failed, 0:01:05 elapsed"
    assert not any(t.name == "initlab-progress" for t in threading.enumerate())


def test_elapsed_is_hours_minutes_seconds():
    assert _common.elapsed(0) == "0:00:00"
    assert _common.elapsed(3725.9) == "1:02:05"


def test_run_and_sweep_log_progress_lines_to_a_pipe(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_common, "PROGRESS_INTERVAL", 0.01)
    spec = tmp_path / "exp.toml"
    spec.write_text(
        '[data]\ntrain = "digits"\n[model]\nhidden = [3]\n[training]\niterations = 50\n'
        '[[runs]]\ninit = "he"\n'
    )
    assert main(["run", str(spec), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.splitlines()  # capsys: stderr is not a terminal
    assert err[-1].startswith("training: 50/50 iterations (100%), 0:00:0"), err
    assert err[-1].endswith("elapsed")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        '[data]\ntrain = "digits"\n[model]\nhidden = [3]\n[training]\niterations = 20\n'
        '[axes]\ninit = ["he", "xavier"]\n'
    )
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "s"), "--jobs", "1"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("sweep: 2/2 runs (100%), 0:00:0"), err
    assert main(["run", str(spec), "--out", str(tmp_path / "o"), "-q"]) == 0
    assert capsys.readouterr().err == ""  # --quiet: nothing


def test_long_studies_log_progress_lines_to_a_pipe(tmp_path, monkeypatch, capsys):
    """The theory studies that train (trainability, deep linear, Jacobian spectra), the
    width-scaling studies and the report report progress like run and sweep: the last line
    counts every unit of work done, with the elapsed time; -q silences it."""
    monkeypatch.setattr(_common, "PROGRESS_INTERVAL", 0.01)
    cases = [
        (["theory", "deep-linear", "--train-depths", "2", "4", "--width", "8", "--steps",
          "20", "--seeds", "1"], "deep linear: 20/20 cells (100%)"),
        (["theory", "trainability", "--train-depths", "2", "3", "--sigma-w2-grid", "1", "2",
          "--steps", "5", "--seeds", "1", "--width", "8"], "trainability: 5/5 cells (100%)"),
        (["theory", "jacobian", "--activation", "linear", "--depths", "1", "2", "--width",
          "20"], "jacobian: 4/4 cells (100%)"),
        (["scaling", "coord-check", "--widths", "16", "32", "--steps", "1", "--seeds", "1",
          "--examples", "8", "--parametrizations", "sp", "mup", "--base-width", "16"],
         "coord check: 4/4 populations (100%)"),
        (["scaling", "lr-transfer", "--widths", "16", "32", "--log2-lrs", "-6", "-5", "--steps",
          "2", "--examples", "16", "--batch-size", "8", "--parametrizations", "sp"],
         "lr transfer: 2/2 populations (100%)"),
    ]  # fmt: skip
    cases.append((["report", str(tmp_path / "o1")], "report: 1/? figures"))  # trainability's
    assert main(["theory", "critical", "--sigma-b2-grid", "0"]) == 0  # seconds: no line
    assert capsys.readouterr().err == ""
    for i, (args, last) in enumerate(cases):
        out = ["--out", str(tmp_path / f"o{i}")]
        assert main([*args, *out]) == 0, args
        err = capsys.readouterr().err.splitlines()
        assert err and err[-1].startswith(last + ", 0:00:0"), (args, err[-3:])
        assert err[-1].endswith("elapsed")
        assert main([*args, *out, "-q"]) == 0
        assert capsys.readouterr().err == "", args
