"""``initlab theory``: bad options refused in one line before any work (issue 21)."""

from __future__ import annotations

import tracemalloc

import pytest

from bad_input import refused, refused_limited
from initlab.cli import _checks, build_parser, main

CASES = [
    # memory: estimate against the limit, before any allocation
    (
        ["variance", "--layers", "1000000000", "1"],
        ["--layers 1000000000 1", "EiB", "refused before"],
    ),
    (
        ["correlation", "--width", "1000000", "--depth", "10000"],
        ["theory correlation at --width", "TiB"],
    ),
    (["jacobian", "--width", "1000000"], ["theory jacobian at --width 1000000"]),
    # too much work from the members alone: the line names them
    (["correlation", "--members", "10000000"], ["--members 10000000", "fewer --c0 values"]),
    (["jacobian", "--members", "1000000"], ["--members 1000000", "fewer --members"]),
    (
        ["trainability", "--width", "1000000", "--out", "OUT"],
        ["theory trainability at --width", "PiB"],
    ),
    (["deep-linear", "--width", "100000"], ["theory deep-linear at --width", "of memory"]),
    # an explicit value is checked, never replaced by a default
    (["correlation", "--width", "0"], ["--width must be >= 1; got 0"]),
    (["correlation", "--width", "1"], ["--width must be >= 2; got 1"]),
    (["jacobian", "--width", "-3"], ["--width must be >= 1"]),
    (["variance", "--layers", "10", "10"], ["--layers", "must be 1; got 10"]),
    (["variance", "--layers", "10", "0", "1"], ["--layers must be >= 1; got 0"]),
    (["variance", "--layers", "10", "1", "--input-dim", "0"], ["--input-dim must be >= 1"]),
    (["correlation", "--sigma-w2", "0"], ["--sigma-w2 must be > 0"]),
    (["correlation", "--sigma-w2", "nan"], ["--sigma-w2 must be finite"]),
    (["jacobian", "--sigma-w2", "inf"], ["--sigma-w2 must be finite"]),
    (["variance", "--layers", "10", "1", "--sigma-b2", "-1"], ["--sigma-b2 must be >= 0"]),
    (["variance", "--layers", "10", "1", "--examples", "0"], ["--examples must be >= 1; got 0"]),
    (["variance", "--layers", "10", "1", "--members", "0"], ["--members must be >= 1"]),
    (["variance", "--layers", "10", "1", "--seed", "-1"], ["--seed must be >= 0"]),
    (["correlation", "--c0", "0.5", "1.5"], ["--c0 must be <= 1; got 1.5"]),
    (["correlation", "--depth", "0"], ["--depth must be >= 1"]),
    (["jacobian", "--depths", "4", "0"], ["--depths must be >= 1"]),
    (["critical", "--sigma-b2-grid", "0", "-1"], ["--sigma-b2-grid must be >= 0"]),
    (["trainability", "--steps", "0", "--out", "OUT"], ["--steps must be >= 1"]),
    (["trainability", "--seeds", "0", "--out", "OUT"], ["--seeds must be >= 1"]),
    (["trainability", "--learning-rate", "-1", "--out", "OUT"], ["--learning-rate must be > 0"]),
    (["trainability", "--sigma-w2-grid", "1", "0", "--out", "OUT"], ["--sigma-w2-grid"]),
    (["trainability", "--batch-size", "0", "--out", "OUT"], ["--batch-size must be >= 1"]),
    (["trainability", "--multiple", "0", "--out", "OUT"], ["--multiple must be > 0"]),
    (["trainability", "--train-depths", "0", "--out", "OUT"], ["--train-depths must be >= 1"]),
    (["trainability", "--jobs", "0", "--out", "OUT"], ["--jobs must be >= 1"]),
    (["trainability", "--scheduler", "nohost", "--out", "OUT"], ["--scheduler 'nohost'"]),
    (["trainability", "--write-spec", "s.toml", "--out", "OUT"], ["--write-spec", "drop --out"]),
    (["deep-linear", "--jobs", "-2"], ["--jobs must be >= 1"]),
    (["deep-linear", "--rates", "nan"], ["--rates must be finite"]),
    (["variance", "--layers", "10", "1", "--out", ""], ["--out is empty"]),
    (
        ["variance", "--layers", "10", "1", "--init", "x" * 100_000],
        ["unknown initializer", "characters"],
    ),
    # the grammar: a study is named, its options follow it
    ([], ["needs a study, one of variance, critical"]),
    (["variance"], ["initlab theory variance needs --layers"]),
    (["--seed", "1", "critical"], ["options go after the study's name", "got --seed"]),
    (["jacobian", "--write-spec", "s.toml", "--out", "OUT"], ["--write-spec", "drop --out"]),
    (["jacobian", "--write-spec", "s.toml", "--jobs", "2"], ["--write-spec", "drop --jobs"]),
    (["deep-linear", "--write-spec", "s.toml", "--scheduler", "h:1"], ["drop --scheduler"]),
    (["jacobian", "--jobs", "0"], ["--jobs must be >= 1"]),
    (["correlation", "--no-map", "--out", "OUT"], ["--no-map", "drop --out"]),
    (["correlation", "--no-map", "--write-spec", "S.toml"], ["--no-map", "drop --write-spec"]),
    (["kernels", "--write-spec", "S.toml", "--out", "OUT"], ["--write-spec", "drop --out"]),
    (["correlation", "--jobs", "0", "--out", "OUT"], ["--jobs must be >= 1"]),
    (["deep-linear", "--write-spec", "."], ["--write-spec .: is a directory"]),
    (["jacobian", "--write-spec", " "], ["--write-spec is empty"]),
]

OLD_CASES = [
    # the old grammar (one release): the same refusals in one line (its notice follows a run)
    (["--correlation", "--width", "0"], ["--width must be >= 1; got 0"]),
    (["--layers", "10", "10"], ["--layers", "must be 1; got 10"]),
    (["--trainability", "--steps", "0", "--out", "OUT"], ["--steps must be >= 1"]),
    (["--jacobian", "--width", "1000000"], ["theory jacobian at --width 1000000"]),
    (["--out", "OUT"], ["initlab theory variance needs --layers"]),
    (["--correlation", "--trainability"], ["choose one study; got --correlation and --train"]),
    (["--critical", "--kernels"], ["choose one study; got --critical and --kernels"]),
]


@pytest.mark.parametrize(("argv", "contains"), CASES + OLD_CASES, ids=lambda v: " ".join(v)[:60])
def test_refused_in_one_line(argv, contains, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(["theory", *argv], capsys, tmp_path, *contains)
    assert line.startswith("initlab theory: error: ") and len(line) < 1200


LIMITED = [
    (["variance", "--layers", "100000", "100000", "1"], ["GiB of memory"]),
    (["jacobian", "--depths", "1000000"], ["floating-point operations", "hours"]),
    (["correlation", "--width", "3000", "--depth", "2000000"], ["floating-point"]),
    (["kernels", "--ntk-widths", "64", "10000000"], ["--ntk-widths up to 10000000", "PiB"]),
    (["kernels", "--steps", "100000000000"], ["--steps 100000000000", "floating-point"]),
]


@pytest.mark.parametrize(("argv", "contains"), LIMITED,
                         ids=["memory", "depths", "depth", "kernel-widths", "kernel-steps"])  # fmt: skip
def test_refused_under_limits(argv, contains, tmp_path):
    """Without the guards: a MemoryError (or the OOM killer), or hours of work. In a child
    limited to 3 GiB of address space and 60 s, the refusal comes before either."""
    refused_limited(["theory", *argv], tmp_path, *contains)


def test_max_memory_option_sets_the_limit(capsys, tmp_path, monkeypatch):
    """A study that fits the machine is refused under --max-memory, with that limit named;
    a malformed size is itself one line."""
    monkeypatch.chdir(tmp_path)
    argv = ["theory", "variance", "--layers", "300", "1", "--examples", "64"]
    line = refused(["--max-memory", "100K", *argv], capsys, tmp_path, "--max-memory")
    assert "100.0 KiB" in line or "0.1 MiB" in line
    refused(["--max-memory", "lots", *argv], capsys, tmp_path, "--max-memory must be")
    assert main([*argv, "--members", "2"]) == 0  # no limit left behind
    capsys.readouterr()


STUDIES = [
    (None, ["variance", "--layers", "400", "400", "1", "--examples", "256", "--members", "2"]),
    (
        "correlation",
        ["correlation", "--width", "600", "--depth", "3", "--members", "2", "--jobs", "1"],
    ),  # computed in this process, whose peak is traced
    (
        "jacobian",
        ["jacobian", "--width", "300", "--depths", "1", "3", "--members", "1", "--jobs", "1"],
    ),
    (
        "kernels",
        "kernels --ntk-widths 64 512 --members 2 --train-widths 64 512 --steps 3 --max-depth 2 "
        "--jobs 1".split(),
    ),
]


@pytest.mark.parametrize(("study", "argv"), STUDIES, ids=lambda v: str(v)[:20])
def test_estimate_bounds_the_peak(study, argv, capsys):
    """No study allocates more than its estimate: tracemalloc's peak (NumPy's arrays are
    traced) of a second run (imports done by the first) stays below it."""
    args = build_parser().parse_args(["theory", *argv])
    cost = _checks.theory_cost(args, study)
    assert main(["theory", *argv]) == 0
    tracemalloc.start()
    try:
        assert main(["theory", *argv]) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    capsys.readouterr()
    assert peak <= cost.bytes, (peak, cost.bytes)
    assert peak > cost.bytes / 20  # the estimate is of the right order, not just large
