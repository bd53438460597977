"""Time a 4096 x 4096 ``he_normal`` (truncated normal) against ``rng.standard_normal``.

Both are timed side by side in one process, alternating, `--repeat` times each; the median
of each and their ratio are printed, for NumPy's ``Generator`` and for the legacy
``RandomState`` stream. Target: ratio <= 1.5.

    python benchmarks/bench_initializers.py [--n 4096] [--repeat 9]
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np
import scipy

from _common import parser, set_threads
from initlab._rng import make_rng
from initlab.init import catalogue as initializers


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(stream: str, n: int, repeat: int) -> tuple[float, float]:
    init = initializers.get("he_normal")
    rng = make_rng(0, stream)
    shape = (n, n)
    init(shape, rng), rng.standard_normal(shape)  # warm up
    ours, base = [], []
    for _ in range(repeat):
        ours.append(_time(lambda: init(shape, rng)))
        base.append(_time(lambda: rng.standard_normal(shape)))
    return statistics.median(ours), statistics.median(base)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--repeat", type=int, default=9)
    args = p.parse_args()
    if args.smoke:
        args.n, args.repeat = 64, 1
    set_threads(args.threads)
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}"
    )
    print(f"shape ({args.n}, {args.n}), float64, median of {args.repeat}")
    for stream in ("default", "legacy"):
        ours, base = bench(stream, args.n, args.repeat)
        print(
            f"{stream:8} he_normal {ours * 1e3:8.1f} ms   standard_normal {base * 1e3:8.1f} ms"
            f"   ratio {ours / base:.2f}"
        )


if __name__ == "__main__":
    main()
