"""``initlab scaling``: bad options refused in one line before any work (issue 21)."""

from __future__ import annotations

import pytest

from bad_input import refused, refused_limited

CC, LT = ["scaling", "coord-check"], ["scaling", "lr-transfer"]

CASES = [
    # memory: the largest population's estimate against the limit
    ([*CC, "--widths", "64", "10000000"], ["width 10000000", "of memory"]),
    ([*LT, "--log2-lrs", "-1000000", "1000000"], ["2,000,001 members", "of memory"]),
    ([*LT, "--seeds", "100000000"], ["of memory"]),
    # ranges: an explicit value is checked, never replaced
    ([*CC, "--lr", "-1"], ["--lr must be > 0; got -1.0"]),
    ([*CC, "--lr", "nan"], ["--lr must be finite"]),
    ([*CC, "--lr", "0"], ["--lr must be > 0"]),
    ([*CC, "--steps", "0"], ["--steps must be >= 1; got 0"]),
    ([*LT, "--steps", "0"], ["--steps must be >= 1; got 0"]),
    ([*CC, "--seeds", "0"], ["--seeds must be >= 1; got 0"]),
    ([*LT, "--seeds", "-2"], ["--seeds must be >= 1"]),
    ([*CC, "--widths", "0", "64"], ["--widths must be >= 1; got 0"]),
    ([*CC, "--examples", "0"], ["--examples must be >= 1"]),
    ([*CC, "--examples", "5000"], ["--examples must be <= 1797"]),
    ([*LT, "--examples", "-1"], ["--examples must be >= 0"]),
    ([*LT, "--log2-lrs", "3", "-3"], ["--log2-lrs LO HI needs LO <= HI"]),
    ([*CC, "--band", "0"], ["--band must be > 0"]),
    ([*CC, "--base-width", "0"], ["--base-width must be >= 1"]),
    ([*CC, "--alpha", "inf"], ["--alpha must be finite"]),
    ([*CC, "--depth", "-1"], ["--depth must be >= 0"]),
    ([*CC, "--branch-layers", "0", "--residual"], ["--branch-layers must be >= 1"]),
    ([*LT, "--batch-size", "0"], ["--batch-size must be >= 1"]),
    ([*CC, "--out", ""], ["--out is empty"]),
    ([*LT, "--out", " "], ["--out is empty"]),
    ([*LT, "--base-width", "8", "--write-spec", "s.toml", "--jobs", "2"], ["drop --jobs"]),
    ([*LT, "--base-width", "8", "--scheduler", "nohost"], ["--scheduler 'nohost'"]),
    ([*CC, "--base-width", "8", "--out", "o", "--jobs", "0"], ["--jobs must be >= 1; got 0"]),
    (
        [*CC, "--base-width", "8", "--write-spec", "s.toml", "--out", "o"],
        ["--write-spec writes the spec and computes nothing"],
    ),
    ([*CC, "--base-width", "8", "--write-spec", "."], ["--write-spec .: is a directory"]),
    (["scaling", "figures", "missing.json"], ["no result file missing.json"]),
    (["scaling", "figures", "x.json", "--out", ""], ["--out is empty"]),
]


@pytest.mark.parametrize(("argv", "contains"), CASES, ids=lambda v: " ".join(v)[:60])
def test_refused_in_one_line(argv, contains, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(argv, capsys, tmp_path, *contains)
    assert line.startswith("initlab scaling: error: ")


FILES = [
    ("text", "this is not JSON\n", "not JSON"),
    ("list", "[1, 2, 3]", "is not a coord_check.json"),
    ("kind", '{"kind": "other"}', "is not a coord_check.json"),
    ("old", '{"kind": "coord-check"}', "is not an initlab coord-check result"),
    ("truncated", '{"kind": "coord-check", "schema": 1}', "is damaged"),
    ("binary", b"\xff\xfe\x00garbage", "not JSON"),
]


@pytest.mark.parametrize(("name", "content", "expected"), FILES, ids=[f[0] for f in FILES])
def test_figures_of_a_bad_file(name, content, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "x.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused(["scaling", "figures", str(path)], capsys, tmp_path, str(path), expected)


LIMITED = [
    ([*LT, "--log2-lrs", "-1000000", "1000000"], ["2,000,001 members"]),
    ([*CC, "--depth", "100000"], ["--depth 100000"]),
]


@pytest.mark.parametrize(("argv", "contains"), LIMITED, ids=["lr-grid", "depth"])
def test_refused_under_a_memory_limit(argv, contains, tmp_path):
    """Refused before the first layer is made, in a child limited to 3 GiB of address space
    (a deep network would otherwise grow layer by layer until the machine runs out)."""
    refused_limited(argv, tmp_path, *contains, "of memory")


PEAKS = [
    (
        False,
        [
            *CC,
            "--widths",
            "128",
            "512",
            "--steps",
            "1",
            "--seeds",
            "2",
            "--examples",
            "64",
            "--parametrizations",
            "mup",
            "--base-width",
            "64",
            "-q",
        ],
    ),
    (
        True,
        [
            *LT,
            "--widths",
            "128",
            "512",
            "--steps",
            "2",
            "--log2-lrs",
            "-6",
            "-5",
            "--examples",
            "64",
            "--parametrizations",
            "mup",
            "--base-width",
            "64",
            "-q",
        ],
    ),
]


@pytest.mark.parametrize(("lr_transfer", "argv"), PEAKS, ids=["coord-check", "lr-transfer"])
def test_estimate_bounds_the_peak(lr_transfer, argv, capsys):
    """tracemalloc's peak of a run (imports done by a first run) stays below the estimate."""
    import tracemalloc

    from initlab.cli import _checks, build_parser, main

    cost = _checks.scaling_cost(build_parser().parse_args(argv), lr_transfer)
    assert main(argv) == 0
    tracemalloc.start()
    try:
        assert main(argv) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    capsys.readouterr()
    assert cost.bytes / 20 < peak <= cost.bytes, (peak, cost.bytes)
