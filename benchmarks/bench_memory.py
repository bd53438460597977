r"""Peak memory of the post's experiment in initlab, beyond the data.

Experiment: cats vs dogs X (67500, 100) float64 (54 MB), [67500, 5, 5, 1], tanh, lr 0.01,
1000 iterations, zeros / random x 10 / he / xavier from legacy seed 1 as one population,
``training.train(engine="auto")`` (the sample engine). Target: peak extra memory
<= 2 x X.nbytes + 50 MB = 158 MB.

Each measurement runs in a fresh subprocess (``--child``) that imports initlab, loads the
data, notes its resident set size (RSS, ``VmRSS``), then runs the experiment and reports:

- ``ru_maxrss``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on Linux) at the end,
  minus the RSS after imports and loading. The process high-water mark also covers the
  loading itself, so this is an upper bound when loading peaked higher than training;
- ``VmHWM``: the same high-water mark after resetting it once the data is loaded
  (``echo 5 > /proc/self/clear_refs``), minus the RSS after loading: the peak of the
  experiment alone, as the OS counts it (every page touched, allocator slack included);
- ``tracemalloc``: in a second fresh subprocess, started after loading, the peak of the
  bytes allocated and not yet freed (NumPy reports its array buffers to tracemalloc).
  It counts what was asked for, not pages: freed blocks reused by the allocator are not
  double-counted, and memory NumPy never touched counts in full.

    python benchmarks/bench_memory.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from _common import (
    POST_INITS,
    POST_LAYERS,
    header,
    parser,
    post_data,
    set_threads,
    spread,
    verdict,
)

MB = 1e6


def _status(field: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(mode: str, smoke: bool) -> None:
    """Load the data, then run the experiment once, measuring memory by `mode`."""
    import tracemalloc

    import initlab
    from initlab.nn import training as training

    X, Y = post_data(smoke)
    out = {"x_bytes": X.nbytes, "maxrss_after_load": resource.getrusage(0).ru_maxrss * 1024}
    out["rss_after_load"] = _status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        out["hwm_reset"] = True
    except OSError:
        out["hwm_reset"] = False
    if mode == "tracemalloc":
        tracemalloc.start()
    t0 = time.perf_counter()
    members = [(init, 1) for init in POST_INITS.values()]
    net = initlab.init_population(POST_LAYERS, members, activation="tanh", stream="legacy")
    iterations = 10 if smoke else 1000
    _, history = training.train(net, X, Y, learning_rate=0.01, iterations=iterations)
    out["seconds"] = time.perf_counter() - t0
    if mode == "tracemalloc":
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out["hwm"] = _status("VmHWM")
    out["rss_end"] = _status("VmRSS")
    out["engine"] = history.engine
    out["final_cost"] = history.final_cost.tolist()
    out["accuracy"] = history.final_accuracy.tolist()
    print(json.dumps(out))


def measure(mode: str, threads: int, smoke: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--threads", str(threads)]
    cmd += ["--smoke"] if smoke else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        set_threads(args.threads)
        child(args.child, args.smoke)
        return
    set_threads(args.threads)
    header("bench_memory: peak memory of the post's experiment (initlab, auto)", args.threads)
    repeat = 1 if args.smoke else args.repeat
    rss = [measure("rss", args.threads, args.smoke) for _ in range(repeat)]
    traced = [measure("tracemalloc", args.threads, args.smoke) for _ in range(repeat)]
    x = rss[0]["x_bytes"]
    limit = 2 * x + 50 * MB
    print(f"X: {x / MB:.1f} MB; limit 2 x X + 50 MB = {limit / MB:.1f} MB")
    costs = ", ".join(f"{c:.4f}" for c in rss[0]["final_cost"])
    print(f"engine {rss[0]['engine']!r}; final costs {costs}; accuracy {rss[0]['accuracy']}")
    print(f"{repeat} fresh subprocesses per method; MB = 10^6 bytes\n")
    load = [r["rss_after_load"] / MB for r in rss]
    print(f"RSS after imports and loading:            {spread(load, '.1f', ' MB')}")
    peak_load = [(r["maxrss_after_load"] - r["rss_after_load"]) / MB for r in rss]
    print(f"  loading's own peak above that RSS:      {spread(peak_load, '.1f', ' MB')}")
    a = [(r["maxrss"] - r["rss_after_load"]) / MB for r in rss]
    b = [(r["hwm"] - r["rss_after_load"]) / MB for r in rss]
    c = [r["traced_peak"] / MB for r in traced]
    end = [(r["rss_end"] - r["rss_after_load"]) / MB for r in rss]
    rows = [
        ("ru_maxrss - RSS after loading", a),
        ("VmHWM (reset after loading) - RSS", b) if rss[0]["hwm_reset"] else None,
        ("tracemalloc peak (NumPy + Python)", c),
    ]
    for row in rows:
        if row is None:
            print("  (VmHWM could not be reset on this kernel: /proc/self/clear_refs)")
            continue
        name, values = row
        ok = verdict(np.median(values) <= limit / MB)
        print(f"{name:41} {spread(values, '.1f', ' MB')}  <= {limit / MB:.0f} MB: {ok}")
    print(f"RSS at the end (trained net alive) - RSS after loading: {spread(end, '.1f', ' MB')}")
    print(f"experiment time in the RSS runs: {spread([r['seconds'] for r in rss], '.2f', ' s')}")


if __name__ == "__main__":
    main()
