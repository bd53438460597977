"""Every benchmark script runs (``--smoke``: seconds on tiny synthetic data), so none rots
unnoticed when the library changes; run_all.py knows every script and exits 0."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENBLAS_NUM_THREADS": "1"}


def test_there_are_scripts_and_run_all_knows_each():
    assert len(SCRIPTS) >= 8
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    assert {f"bench_{n}.py" for n in run_all.SCRIPTS} == {p.name for p in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_each_benchmark_runs_in_smoke_mode(script):
    if "import _torchnet" in script.read_text() and importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch (pip install 'torch==2.13.*')")
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke", "--threads", "1"],
        capture_output=True, text=True, timeout=180, env=_env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert len(proc.stdout.splitlines()) >= 3  # it reported something


def test_run_all_passes_smoke_on_and_exits_0(tmp_path):
    cmd = [sys.executable, str(BENCH / "run_all.py"), "--smoke", "--only", "initializers",
           "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--smoke" in proc.stdout and "exit 0" in proc.stdout
    assert "median of 1" in (tmp_path / "bench_initializers.txt").read_text()
