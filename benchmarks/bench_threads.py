r"""BLAS threads: the post's experiment with 2 OpenBLAS threads against 1, side by side.

Why the other scripts default to ``--threads 1``: on a 2-core machine shared with other
processes, OpenBLAS's multithreaded GEMM can be far slower than its single-threaded one
(presumably its threads spin-waiting for each other when one is descheduled). Each round runs, with
``threadpoolctl.threadpool_limits`` at 1 then at 2 threads:

- ``G = X^T X`` on the post's X (67500, 100);
- ``Z1(0) = W1(0) X`` for the post's 4 members (``network.first_layer``);
- the whole post experiment (``init_population`` of 4 + ``train``, engine auto, 1000 it).

Prints the per-round ratio 2 threads / 1 thread (< 1 means 2 threads help) and the load
average before and after, since the answer depends on what else runs.

    python benchmarks/bench_threads.py [--rounds 3]
"""

from __future__ import annotations

import threadpoolctl

import initlab
from _common import (
    POST_INITS,
    POST_LAYERS,
    header,
    load,
    parser,
    post_data,
    ratios,
    spread,
    timed,
)
from initlab.nn import network as network
from initlab.nn import training as training


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    header("bench_threads: OpenBLAS with 2 threads vs 1 (--threads is ignored)", "1 and 2")
    X, Y = post_data(args.smoke)
    iterations = 10 if args.smoke else 1000
    if args.smoke:
        args.rounds = 1
    members = [(init, 1) for init in POST_INITS.values()]
    net = initlab.init_population(POST_LAYERS, members, activation="tanh", stream="legacy")

    def experiment() -> None:
        net = initlab.init_population(POST_LAYERS, members, activation="tanh", stream="legacy")
        training.train(net, X, Y, learning_rate=0.01, iterations=iterations)

    pieces = {
        "G = X^T X": lambda: X.T @ X,
        "Z1(0) = W1(0) X, 4 members": lambda: network.first_layer(net.weights[0], X),
        "post experiment (init + train)": experiment,
    }
    times = {(name, n): [] for name in pieces for n in (1, 2)}
    for _ in range(args.rounds + 1):  # the first round is a warm-up, dropped
        for name, fn in pieces.items():
            for n in (1, 2):
                with threadpoolctl.threadpool_limits(limits=n):
                    times[(name, n)].append(timed(fn)[0])
    for name in pieces:
        one, two = times[(name, 1)][1:], times[(name, 2)][1:]
        print(f"{name}:")
        print(f"  1 thread  {spread(one, '.3f', ' s')}")
        print(f"  2 threads {spread(two, '.3f', ' s')}")
        print(f"  ratio 2 threads / 1 thread: {spread(ratios(two, one), '.2f', 'x')}")
    print(f"\nload average at the end (1, 5, 15 min): {load()}")


if __name__ == "__main__":
    main()
