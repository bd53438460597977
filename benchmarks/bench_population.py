r"""Population scaling: 100 networks (4 inits x 25 seeds) against one, on the post's data.

Both are ``init_population`` + ``training.train(engine="auto")`` on cats vs dogs
([67500, 5, 5, 1], tanh, lr 0.01, 1000 iterations); the population is the post's four
initializations (zeros, random x 10, he, xavier) with seeds 1..25 each, the single network
xavier seed 1. Each round runs K = 1 then K = 100, for the legacy stream (``RandomState``,
as the post) and the default stream (PCG64); the ratio K=100 / K=1 is taken per round.
Target: <= 3x.

Then where the time of K = 100 goes, by timing the pieces separately:

- initial draws (``init_parameters`` per member) and stacking them (``init_population``);
- setup of the sample engine: ``G = X^T X``, ``Z1(0) = W1(0) X`` (initlab's blocks of X's
  rows, ``nn.start.initial_product``, beside one GEMM per member), ``SampleEngine()`` in
  all, and for scale the cost of one copy of the weights (W1 is 270 MB);
- the iterations: from ``train``'s ``progress`` callback, time per iteration;
- after the loop: materializing ``W1 = W1(0) + C X^T`` (``SampleEngine.weight``);
- what-if rows (not initlab's code): ``Z1(0)`` and ``W1`` as one GEMM on the stacked rows
  ``(K n_1, .)`` instead of one GEMM per member, with their difference from initlab's;

and a cProfile of one K = 100 ``train`` call (top functions by own time).

    python benchmarks/bench_population.py [--threads 1] [--rounds 5]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time

import numpy as np

import initlab
from _common import (
    POST_INITS,
    POST_LAYERS,
    header,
    parser,
    post_data,
    ratios,
    set_threads,
    spread,
    verdict,
)
from initlab.init import build as build
from initlab.nn import engines as engines
from initlab.nn import network as network
from initlab.nn import start as start
from initlab.nn import training as training

LEARNING_RATE = 0.01
ITERATIONS = 1000
SEEDS = range(1, 26)
Z_OURS = "setup: Z1(0) = W1(0) X by blocks of X's rows (initial_product)"
Z_PER_MEMBER = "  the same as one GEMM per member (5x67500 @ 67500x100)"
W_OURS = "after: materialize W1 = W1(0) + C X^T (100 GEMMs)"
Z_STACKED = "what-if: Z1(0) as one GEMM (500x67500 @ 67500x100)"
W_STACKED = "what-if: W1 as one GEMM (500x100 @ 100x67500) + W1(0)"


def population(stream: str, K: int) -> network.Network:
    if K == 1:
        members = [("xavier", 1)]
    else:
        members = [(init, seed) for init in POST_INITS.values() for seed in SEEDS]
    return initlab.init_population(POST_LAYERS, members, activation="tanh", stream=stream)


def run(X, Y, stream: str, K: int):
    """init + train; returns (total seconds, init seconds, history, iteration timestamps)."""
    marks: list[float] = []
    t0 = time.perf_counter()
    net = population(stream, K)
    t1 = time.perf_counter()
    _, history = training.train(
        net,
        X,
        Y,
        learning_rate=LEARNING_RATE,
        iterations=ITERATIONS,
        progress=lambda i: marks.append(time.perf_counter()),
    )
    t2 = time.perf_counter()
    return t2 - t0, t1 - t0, history, (t1, marks[0], marks[-1], t2)


def scaling(X, Y, rounds: int) -> dict:
    runs = {(s, K): [] for s in ("legacy", "default") for K in (1, 100)}
    for _ in range(rounds):
        for key in runs:
            runs[key].append(run(X, Y, *key))
    for stream in ("legacy", "default"):
        one, many = runs[(stream, 1)], runs[(stream, 100)]
        total = ratios([r[0] for r in many], [r[0] for r in one])
        train_only = ratios([r[0] - r[1] for r in many], [r[0] - r[1] for r in one])
        print(f"stream {stream!r} (engine {many[0][2].engine!r}):")
        print(f"  K = 1   init + train {spread([r[0] for r in one], '.3f', ' s')}")
        print(f"  K = 100 init + train {spread([r[0] for r in many], '.3f', ' s')}")
        print(
            f"  ratio K=100 / K=1, init + train: {spread(total, '.2f', 'x')}  "
            f"target <= 3x: {verdict(np.median(total) <= 3)}"
        )
        print(f"  ratio K=100 / K=1, train only:   {spread(train_only, '.2f', 'x')}")
    return runs


def stacked_first_layer(W1: np.ndarray, X: np.ndarray) -> np.ndarray:
    K, n1, n0 = W1.shape
    return (W1.reshape(K * n1, n0) @ X).reshape(K, n1, X.shape[1])


def stacked_weight(eng: engines.SampleEngine) -> np.ndarray:
    K, n1, m = eng.C.shape
    W = np.empty_like(eng.W0)
    np.matmul(eng.C.reshape(K * n1, m), eng.X.T, out=W.reshape(K * n1, -1))
    return np.add(W, eng.W0, out=W)


def breakdown(X, Y, runs: dict, rounds: int) -> None:
    members = [(init, seed) for init in POST_INITS.values() for seed in SEEDS]
    rows: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        rows.setdefault(name, []).append(seconds)

    for _ in range(rounds):
        for stream in ("legacy", "default"):
            t0 = time.perf_counter()
            for init, seed in members:
                build.init_parameters(POST_LAYERS, init, initlab.make_rng(seed, stream))
            add(f"draws, {stream} stream (100 x init_parameters)", time.perf_counter() - t0)
            t0 = time.perf_counter()
            net = population(stream, 100)
            add(f"init_population, {stream} (draws + np.stack)", time.perf_counter() - t0)
        W1 = net.weights[0]
        t0 = time.perf_counter()
        X.T @ X
        add("setup: G = X^T X (100 x 100)", time.perf_counter() - t0)
        t0 = time.perf_counter()
        start.initial_product(W1, X)
        add(Z_OURS, time.perf_counter() - t0)
        t0 = time.perf_counter()
        network.first_layer(W1, X)
        add(Z_PER_MEMBER, time.perf_counter() - t0)
        t0 = time.perf_counter()
        eng = engines.SampleEngine(W1, X)
        add("setup: SampleEngine() total (G, Z1(0), C = 0, ...)", time.perf_counter() - t0)
        eng.C[:] = 1e-3 * eng.Z0  # a nonzero C, as after training
        t0 = time.perf_counter()
        [W.copy() for W in net.weights]
        add("for scale: one copy of the weights (W1 is 270 MB)", time.perf_counter() - t0)
        t0 = time.perf_counter()
        W_ours = eng.weight()
        add(W_OURS, time.perf_counter() - t0)
        # what-if, not initlab's code: the same products as one GEMM on the stacked rows
        t0 = time.perf_counter()
        Z0_stacked = stacked_first_layer(W1, X)
        add(Z_STACKED, time.perf_counter() - t0)
        t0 = time.perf_counter()
        W_stacked = stacked_weight(eng)
        add(W_STACKED, time.perf_counter() - t0)
    print("\nwhere the time goes for K = 100, pieces timed separately (seconds):")
    for name, values in rows.items():
        print(f"  {name:58} {spread(values, '.3f')}")
    same = np.array_equal(Z0_stacked, eng.Z0)  # eng.Z0: initial_product's
    rel = np.max(np.abs(W_stacked - W_ours)) / np.max(np.abs(W_ours))
    print(
        f"  what-if results vs initlab's: Z1(0) bit-for-bit equal: {same}; "
        f"W1 max abs diff / max |W1| = {rel:.1e}"
    )
    print(
        f"  Z1(0): initlab / one GEMM {spread(ratios(rows[Z_OURS], rows[Z_STACKED]), '.1f', 'x')}"
    )
    print(
        f"  W1:    initlab / one GEMM {spread(ratios(rows[W_OURS], rows[W_STACKED]), '.1f', 'x')}"
    )

    print("\nwithin train() for K = 100 (from its progress callback), seconds:")
    for stream in ("legacy", "default"):
        parts: dict[str, list[float]] = {}
        for total, t_init, _, (t1, first, last, t2) in runs[(stream, 100)]:
            per_it = (last - first) / (ITERATIONS - 1)
            parts.setdefault("init_population", []).append(t_init)
            parts.setdefault("train: before the loop (setup)", []).append(first - t1 - per_it)
            parts.setdefault(f"train: {ITERATIONS} iterations", []).append(ITERATIONS * per_it)
            parts.setdefault("train: after the loop (W1, final cost)", []).append(t2 - last)
            parts.setdefault("total", []).append(total)
        print(f"  stream {stream!r}:")
        for name, values in parts.items():
            print(f"    {name:40} {spread(values, '.3f')}")
    one = [(last - first) / (ITERATIONS - 1) for *_, (_, first, last, _) in runs[("legacy", 1)]]
    many = [(last - first) / (ITERATIONS - 1) for *_, (_, first, last, _) in runs[("legacy", 100)]]
    print(f"  time per iteration, K = 1:   {spread([t * 1e3 for t in one], '.3f', ' ms')}")
    print(f"  time per iteration, K = 100: {spread([t * 1e3 for t in many], '.3f', ' ms')}")
    print(f"  per-iteration ratio K=100 / K=1: {spread(ratios(many, one), '.1f', 'x')}")


def profile(X, Y) -> None:
    net = population("legacy", 100)
    prof = cProfile.Profile()
    prof.enable()
    training.train(net, X, Y, learning_rate=LEARNING_RATE, iterations=ITERATIONS)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    print("\ncProfile of one K = 100 train() call (legacy), top 12 by own time:")
    print("\n".join("  " + line for line in lines[2:]))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    global ITERATIONS
    if args.smoke:
        ITERATIONS, args.rounds = 5, 1
    set_threads(args.threads)
    header("bench_population: 100 networks vs 1 on the post's data", args.threads)
    X, Y = post_data(args.smoke)
    run(X, Y, "legacy", 100)  # warm-up
    runs = scaling(X, Y, args.rounds)
    breakdown(X, Y, runs, max(3, args.rounds // 2))
    profile(X, Y)


if __name__ == "__main__":
    main()
