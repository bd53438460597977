"""Time the 720-run sweep of ``examples/sweep.toml`` as a user runs it.

4 inits (zeros, random x 10, he, xavier) x 3 activations (tanh, relu, sigmoid) x 3 depths
([5, 5], [5, 5, 5], [5, 5, 5, 5]) x 4 learning rates (0.001 .. 0.03) x 5 seeds, 1000
iterations each, on the post's 100 images (67,500 features: the sample-space engine).
Runs ``python -m initlab sweep SPEC --out TMPDIR`` in a subprocess and times it from the
outside: wall clock including process start-up, data loading in the workers and every
store write. Also prints the CPU time of the sweep and its workers, which other load on
the machine disturbs less than the wall clock. Then checks that a second invocation has
nothing to do. Target: < 60 s of wall time.

    python benchmarks/bench_sweep.py [--data ../shared/datasets/cats-vs-dogs] [--jobs N]
                                     [--iterations 1000] [--seeds 5]
"""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import parser, post_data, set_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cats-vs-dogs"


def spec_text(data: Path, iterations: int, seeds: int) -> str:
    text = (REPO / "examples" / "sweep.toml").read_text()
    text = text.replace('train = "cats-vs-dogs"', f'train = "{data}"')
    text = text.replace("iterations = 1000", f"iterations = {iterations}")
    return text.replace("seeds = 5", f"seeds = {seeds}")


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, numpy {np.__version__}; "
        f"load average before: {load[0]:.2f}"
    )


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--jobs", type=int, help="passed to initlab sweep (default: all cores)")
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args()
    set_threads(args.threads)  # for this process; the sweep's workers use 1 BLAS thread
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:  # 144 runs of 5 iterations on tiny synthetic data, in this process
            X, Y = post_data(smoke=True)
            args.data = Path(tmp) / "smoke.npz"
            np.savez(args.data, X=X.T, y=Y[0])
            args.iterations, args.seeds, args.jobs = 5, 1, 1
        elif not args.data.is_dir():
            sys.exit(f"no data at {args.data}; pass --data FOLDER of the post's images")
        spec = Path(tmp) / "sweep.toml"
        spec.write_text(spec_text(args.data.resolve(), args.iterations, args.seeds))
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "initlab", "sweep", str(spec), "--out", str(out), "-q"]
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the sweep and its workers
        cpu = usage.ru_utime + usage.ru_stime
        t0 = time.perf_counter()
        again = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        second = time.perf_counter() - t0
        con = sqlite3.connect(out / "sweep.sqlite")
        n, done, diverged, chunks, train_s = con.execute(
            "SELECT count(*), sum(status = 'done'), sum(diverged), count(DISTINCT seconds), "
            "(SELECT sum(s) FROM (SELECT DISTINCT worker, seconds AS s FROM runs)) FROM runs"
        ).fetchone()
        size = (out / "sweep.sqlite").stat().st_size
        con.close()
    print(f"runs: {n} ({done} done, {diverged} diverged) in {chunks} populations")
    print(f"wall time: {wall:.1f} s  (target < 60 s); training time summed over workers: "
          f"{train_s:.1f} s; store: {size / 1e6:.1f} MB")  # fmt: skip
    print(f"CPU time (user + system, the sweep process and its workers): {cpu:.1f} s, i.e. "
          f"at least {cpu / (os.cpu_count() or 1):.1f} s of wall time on {os.cpu_count()} idle "
          "cores")  # fmt: skip
    print(f"second invocation: {second:.1f} s, {('nothing to do' in again and 'ok') or again}")


if __name__ == "__main__":
    main()
