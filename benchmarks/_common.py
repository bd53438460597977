"""Shared helpers of the benchmark scripts: the machine, thread limits, side-by-side timing.

Every figure the scripts print is a ratio of timings taken in one process, alternating
the contenders round by round (A, B, A, B, ...), so that a load change on a shared
machine hits both sides alike. A ratio is reported as the median over rounds of the
per-round ratio, with its spread (min..max over rounds) and the number of rounds.

Threads: ``--threads N`` limits NumPy's BLAS (via threadpoolctl) and PyTorch's intra-op
pool to N. The default is 1 because on a shared 2-core machine OpenBLAS's multithreaded
GEMM can become 10-200x slower as soon as another process competes for the cores
(presumably its threads spin-waiting for each other); see ``bench_threads.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import threadpoolctl

DATA = "/work/shared/datasets/cats-vs-dogs"
"""The post's cats-vs-dogs images (X is (67500, 100) float64)."""

POST_LAYERS = [67500, 5, 5, 1]
POST_INITS = {
    "zeros": "zeros",
    "random x10": {"name": "random", "scale": 10.0},
    "he": "he",
    "xavier": "xavier",
}
"""The post's four initializations, as initlab names them."""

_limits: list[object] = []  # keeps the threadpoolctl limiter alive for the whole process


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the options every script shares (``--threads``)."""
    p = argparse.ArgumentParser(
        description=doc.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--threads", type=int, default=1, help="BLAS and torch threads (default 1; see _common)"
    )
    p.add_argument(
        "--smoke", action="store_true",
        help="a seconds-long run on tiny synthetic data, to check that the script works (the "
        "test suite runs it); its figures mean nothing",
    )  # fmt: skip
    return p


SMOKE_SHAPE = (300, 40)
"""(features, examples) of the synthetic data of ``--smoke``."""


def post_data(smoke: bool) -> tuple[np.ndarray, np.ndarray]:
    """The post's X (67500, 100) and Y (1, 100); with `smoke`, a synthetic (300, 40)
    problem instead, and :data:`POST_LAYERS` starts with its width."""
    if not smoke:
        from initlab import data

        d = data.load(DATA)
        return d.X, d.Y
    rng = np.random.default_rng(0)
    X = rng.standard_normal(SMOKE_SHAPE)
    POST_LAYERS[0] = SMOKE_SHAPE[0]  # in place: every script imported this list
    return X, (X[:1] + 0.5 * X[1:2] > 0).astype(np.float64)


def set_threads(n: int) -> None:
    """Limit every BLAS/OpenMP pool loaded now (and torch's, if imported) to `n` threads.

    Call it after importing NumPy (and torch): threadpoolctl limits the libraries loaded.
    """
    if n < 1:
        raise SystemExit(f"--threads must be >= 1; got {n}")
    _limits.append(threadpoolctl.threadpool_limits(limits=n))
    torch = sys.modules.get("torch")  # only if the script imported it: torch is optional
    if torch is not None:
        torch.set_num_threads(n)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """A multi-line description of the machine, NumPy, its BLAS and the current load."""
    blas = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
        f"{i.get('threading_layer')}, {i.get('num_threads')} threads)"
        for i in threadpoolctl.threadpool_info()
        if i.get("user_api") == "blas"
    ]
    lines = [
        f"platform: {platform.platform()}; Python {platform.python_version()}",
        f"cpu: {cpu_model()}; {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable)",
        f"numpy {np.__version__}; BLAS: {'; '.join(blas) or 'none found by threadpoolctl'}",
    ]
    torch = sys.modules.get("torch")
    if torch is not None:
        lines.append(
            f"torch {torch.__version__}; {torch.get_num_threads()} intra-op threads; "
            f"MKL {torch.backends.mkl.is_available()}, "
            f"MKL-DNN {torch.backends.mkldnn.is_available()}"
        )
    lines.append(f"initlab: {initlab_version()}")
    lines.append(f"load average (1, 5, 15 min): {load()}")
    return "\n".join(lines)


def initlab_version() -> str:
    """initlab's version, its git commit and whether ``src/`` differs from it (read-only git)."""
    import initlab

    repo = Path(initlab.__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(repo), "status", "--porcelain", "--", "src"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return f"{initlab.__version__} (no git information)"
    return (
        f"{initlab.__version__}, commit {head}{' + uncommitted changes in src/' if dirty else ''}"
    )


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """``(seconds, fn())`` by ``time.perf_counter``."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def alternate(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Run every contender once per round, in order, for `rounds` rounds; seconds per run."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(timed(fn)[0])
    return times


def spread(values: Sequence[float], fmt: str = ".3g", unit: str = "") -> str:
    """``median (min..max, n=N)`` of `values`."""
    v = list(values)
    return (
        f"{statistics.median(v):{fmt}}{unit} (min {min(v):{fmt}}, max {max(v):{fmt}}, n={len(v)})"
    )


def ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-round ratios ``num[i] / den[i]``."""
    return [a / b for a, b in zip(num, den, strict=True)]


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def header(title: str, threads: int | str) -> None:
    print(f"== {title}")
    print(machine())
    print(f"threads used for BLAS/torch: {threads}")
    print()
