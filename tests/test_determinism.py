"""Same spec, same bits, whatever the BLAS thread count.

The honest test is a fresh process per thread count: ``OPENBLAS_NUM_THREADS`` (and its
siblings) set before NumPy loads its BLAS, as a user sets it. On the post's images the
He and Xavier runs are chaotic (a rounding difference at one product decides them by
iteration ~30, see the README), so any thread-dependent rounding anywhere in the pipeline
shows in their numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

VOLATILE = {"created", "seconds", "machine"}
"""Top-level keys of results.json that are about the run, not its numbers."""


def _initlab(args: list[str], threads: int, tmp_path) -> dict:
    """``python -m initlab ARGS --out DIR`` under `threads` BLAS threads; its results.json."""
    out = tmp_path / f"threads-{threads}"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, "-m", "initlab", *args, "--out", str(out), "--quiet"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    results = json.loads((out / "results.json").read_text())
    return {k: v for k, v in results.items() if k not in VOLATILE}


def _assert_same(one: dict, two: dict) -> None:
    assert one["runs"] and [r["name"] for r in one["runs"]] == [r["name"] for r in two["runs"]]
    for r1, r2 in zip(one["runs"], two["runs"], strict=True):
        for key in r1:  # every number of every run, diagnostics and theory included
            assert r1[key] == r2[key], (r1["name"], key)
    assert one == two


@pytest.mark.slow
def test_reproduce_gives_the_same_bits_on_one_and_two_threads(cats_vs_dogs_dir, tmp_path):
    """`initlab reproduce --data` with its defaults (the sample engine, diagnostics on)."""
    args = ["reproduce", "--data", str(cats_vs_dogs_dir)]
    one, two = (_initlab(args, n, tmp_path) for n in (1, 2))
    assert {r["engine"] for r in one["runs"]} == {"sample"}
    _assert_same(one, two)


@pytest.mark.slow
def test_direct_engine_gives_the_same_bits_on_one_and_two_threads(cats_vs_dogs_dir, tmp_path):
    """The direct engine on the post's images, past the iteration where He and Xavier part
    ways under a rounding difference (~30), with an LSUV member (its products run outside
    the training loop)."""
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'[data]\ntrain = "{cats_vs_dogs_dir.as_posix()}"\n'
        '[model]\nhidden = [5, 5]\nactivation = "tanh"\n'
        '[training]\nlearning_rate = 0.01\niterations = 60\nseed = 1\nstream = "legacy"\n'
        'engine = "direct"\ndiagnostics = false\n'
        '[[runs]]\nname = "he"\ninit = "he"\n'
        '[[runs]]\nname = "xavier"\ninit = "xavier"\n'
        '[[runs]]\nname = "lsuv"\ninit = { name = "lsuv", tol = 0.1, max_iter = 10 }\n'
    )
    one, two = (_initlab(["run", str(spec)], n, tmp_path) for n in (1, 2))
    assert {r["engine"] for r in one["runs"]} == {"direct"}
    _assert_same(one, two)
