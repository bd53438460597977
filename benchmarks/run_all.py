"""Run the issue-4 benchmarks, each in its own fresh process, one after the other.

    python benchmarks/run_all.py [--threads 1] [--only post torch ...] [--out DIR]

Scripts (each also runs alone: ``python benchmarks/bench_<name>.py --help``):

- ``post``: the post's experiment, initlab vs the post's own algorithm (~2-5 min);
- ``torch``: the same against PyTorch float64/float32 on the CPU (~1-3 min);
- ``population``: 100 networks vs 1, with a breakdown and a profile (~1-2 min);
- ``tall``: 60000 x 784, direct engine vs PyTorch float32, float32 vs float64 (~2-4 min);
- ``memory``: peak memory of the post's experiment, in fresh subprocesses (< 1 min);
- ``threads``: 2 OpenBLAS threads vs 1, why the others default to ``--threads 1`` (~1 min);
- ``sweep``: the 720-run example sweep, wall and CPU time (~1-4 min);
- ``initializers``: drawing He-normal weights vs NumPy's own normal draw (seconds).
- ``studies``: trainability map, lr transfer, coordinate check vs torch and mup (~10 min);
- ``theory``: deep-linear learning time, Jacobian spectra, kernels vs torch and neural-tangents.
- ``study_jobs``: a study command with --jobs 1 against 2, with a competing process (~10 min).

``--smoke`` runs each script for seconds on tiny synthetic data (the test suite does):
it checks that they work, not how fast.

Every script prints the machine and ratios measured side by side in its one process.
``--out DIR`` also saves each script's output as ``DIR/bench_<name>.txt``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "post", "torch", "population", "tall", "memory", "threads", "sweep", "initializers", "floor",
    "scaling", "studies", "theory", "study_jobs",
)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    p.add_argument("--only", nargs="+", choices=SCRIPTS, default=list(SCRIPTS))
    p.add_argument("--out", type=Path, help="folder for each script's output")
    p.add_argument("--smoke", action="store_true", help="seconds-long runs on tiny data")
    args = p.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in args.only:
        script = HERE / f"bench_{name}.py"
        cmd = [sys.executable, str(script), "--threads", str(args.threads)]
        cmd += ["--smoke"] if args.smoke else []
        print(f"\n$ {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in proc.stdout:  # echo as it comes
            print(line, end="", flush=True)
            lines.append(line)
        code = proc.wait()
        print(f"[{script.name}: exit {code}, {time.perf_counter() - t0:.0f} s]", flush=True)
        if args.out:
            (args.out / f"bench_{name}.txt").write_text("".join(lines))
        if code:
            failed.append(script.name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
