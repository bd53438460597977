"""``initlab inits``: bad options refused in one line before any work (issue 21)."""

from __future__ import annotations

import pytest

from bad_input import refused, refused_limited

CASES = [
    (["he", "--shape", "1000000", "1000000"], ["--shape 1000000 x 1000000", "TiB of memory"]),
    (["he", "--shape", "0", "3"], ["--shape must be >= 1; got 0"]),
    (["he", "--shape", "-4"], ["--shape must be >= 1"]),
    (["he", "--seed", "-1"], ["--seed must be >= 0"]),
    (["he", "--seed", "18446744073709551616", "--stream", "legacy"], ["below 2**32"]),
    (["he", "--seed", str(10**400)], ["--seed must be finite", "digits"]),
    (["x" * 1_000_000], ["unknown initializer", "1,000,002 characters"]),
    (["he", "--param", "gain"], ["--param takes KEY=VALUE"]),
    (["random", "--param", "scale=nan"], ["scale"]),
]


@pytest.mark.parametrize(("argv", "contains"), CASES, ids=lambda v: " ".join(v)[:50])
def test_refused_in_one_line(argv, contains, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = refused(["inits", *argv], capsys, tmp_path, *contains)
    assert len(line) <= 1100  # a value of a million characters is cut


def test_huge_shape_refused_under_a_memory_limit(tmp_path):
    refused_limited(["inits", "he", "--shape", "100000", "100000"], tmp_path, "GiB of memory")


@pytest.mark.parametrize("name", ["he", "trunc_normal", "orthogonal"])
def test_estimate_bounds_the_peak(name, capsys):
    """The sample's peak (tracemalloc, NumPy's arrays included) is below the estimate the
    guard uses, 5 float64 copies of the weight (orthogonal's QR needs about 4)."""
    import tracemalloc

    from initlab.cli import main

    argv = ["inits", name, "--shape", "600", "500"]
    assert main(argv) == 0
    tracemalloc.start()
    try:
        assert main(argv) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    capsys.readouterr()
    assert 8 * 600 * 500 < peak <= 5 * 8 * 600 * 500, peak
