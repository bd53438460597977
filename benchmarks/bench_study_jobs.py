r"""A study command with its defaults, --jobs 1 against more jobs, under a competing process.

What a user waits for: the whole process's wall time of ``initlab theory trainability`` (or
``initlab scaling lr-transfer``, ``theory correlation``, ``theory jacobian``) with its
default settings, each into a fresh ``--out``
directory, while a second CPU-bound process (``python -c "while True: pass"``) runs for the
whole measurement. Rounds interleave the variants (``--jobs 1``, ``--jobs 2``, the command's
default); each figure is the median over rounds, with the min and max.

    python benchmarks/bench_study_jobs.py [--rounds 3] [--command trainability|lr-transfer|...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "trainability": ["theory", "trainability", "-q"],
    "lr-transfer": ["scaling", "lr-transfer", "--base-width", "64", "-q"],  # no default: required
    "correlation": ["theory", "correlation"],
    "jacobian": ["theory", "jacobian", "-q"],
}
VARIANTS = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"], "default": []}
SMOKE = ["theory", "correlation", "--width", "16", "--depth", "3", "--members", "2"]
"""``--smoke``: one round of a tiny correlation study (does the script still run?)."""


def _run(argv: list[str], out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "initlab", *argv, "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--command", choices=COMMANDS, default="trainability")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads outside the studies' training (OMP_NUM_THREADS)",
    )
    p.add_argument("--smoke", action="store_true", help="one round of a tiny study")
    args = p.parse_args()
    if args.threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    command = SMOKE if args.smoke else COMMANDS[args.command]
    if args.smoke:
        args.rounds, args.variants = 1, ["--jobs 1"]
    print(f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    times: dict[str, list[float]] = {v: [] for v in args.variants}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for v in args.variants:
                    t = _run([*command, *VARIANTS[v]], Path(tmp) / f"{r}-{v}")
                    times[v].append(t)
                    print(f"round {r}: {v}: {t:.1f} s", flush=True)
    finally:
        busy.kill()
        busy.wait()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    name = "smoke" if args.smoke else args.command
    for v, ts in times.items():
        print(f"{name} {v}: median {statistics.median(ts):.1f} s wall "
              f"({min(ts):.1f}-{max(ts):.1f}, n = {len(ts)})")  # fmt: skip


if __name__ == "__main__":
    main()
