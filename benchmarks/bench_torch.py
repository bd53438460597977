r"""The post's experiment: initlab against PyTorch on the CPU (autograd, float64 and float32).

Experiment: cats vs dogs X (67500, 100), [67500, 5, 5, 1], tanh, learning rate 0.01, 1000
full-batch iterations, zeros / random x 10 / he / xavier from legacy seed 1.

- initlab: ``init_population`` of the 4 members + ``training.train(engine="auto")`` (the
  sample-space engine), one call.
- PyTorch: the same 4 initial parameter sets (taken from initlab, so both start from the
  same numbers), trained one network after the other as the post does, with the forward
  pass written with torch tensors and the backward pass by autograd (see ``_torchnet.py``),
  in float64 and in float32.

Each round runs initlab, torch float64 and torch float32 once each, side by side. PyTorch
runs ``--torch-iterations`` (default 200) per network and its time is scaled linearly to
1000 (every iteration does the same work; ``--torch-iterations 1000`` runs in full).
Prints the speed-up of initlab over each (target >= 10x), and checks that torch float64
computes the same costs (zeros and random x 10, < 5e-8 relative).

    python benchmarks/bench_torch.py [--threads 1] [--rounds 3] [--torch-iterations 200]
"""

from __future__ import annotations

import time

import numpy as np

import _torchnet  # exits with a message if torch is missing
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
from initlab.nn import training as training

LEARNING_RATE = 0.01
ITERATIONS = 1000


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--torch-iterations", type=int, default=200, choices=range(100, 1001, 100))
    args = p.parse_args()
    set_threads(args.threads)
    header("bench_torch: the post's experiment, initlab vs PyTorch (CPU)", args.threads)
    print(f"torch BLAS: {_torchnet.blas()}; backward by autograd\n")
    global ITERATIONS
    if args.smoke:
        ITERATIONS, args.rounds, args.torch_iterations = 100, 1, 100
    X, Y = post_data(args.smoke)
    members = [(init, 1) for init in POST_INITS.values()]

    def ours(engine: str = "auto", iterations: int = ITERATIONS):
        net = initlab.init_population(POST_LAYERS, members, activation="tanh", stream="legacy")
        return training.train(
            net, X, Y, learning_rate=LEARNING_RATE, iterations=iterations, engine=engine
        )[1]

    net = initlab.init_population(POST_LAYERS, members, activation="tanh", stream="legacy")
    costs = {}

    def theirs(dtype: str, iterations: int):
        Xt, Yt = _torchnet.tensors([X, Y], dtype)
        out = []
        for k in range(net.K):
            Ws = _torchnet.tensors([W[k] for W in net.weights], dtype)
            bs = _torchnet.tensors([b[k] for b in net.biases], dtype)
            out.append(
                _torchnet.train(Ws, bs, Xt, Yt, learning_rate=LEARNING_RATE, iterations=iterations)
            )
        costs[dtype] = np.array(out)

    n = args.torch_iterations
    history = ours()  # warm-up, and the costs to compare
    theirs("float64", 20)
    times = {"initlab": [], "direct": [], "float64": [], "float32": []}
    for _ in range(args.rounds):
        for name in times:
            t0 = time.perf_counter()
            if name == "initlab":
                ours()
            elif name == "direct":
                ours("direct", n)
            else:
                theirs(name, n)
            times[name].append(time.perf_counter() - t0)
    scale = ITERATIONS / n
    direct = [x * scale for x in times["direct"]]

    print(f"initlab, engine {history.engine!r}, 4 members, init + train, {ITERATIONS} it:")
    print(f"  {spread(times['initlab'], '.3f', ' s')}  (best method)")
    print(f"initlab, engine 'direct' (the same method as torch: W1 @ X), {ITERATIONS} it:")
    print(
        f"  {spread(direct, '.3f', ' s')}"
        + ("" if n == ITERATIONS else f" (ran {n} it, x{scale:g})")
    )
    for dtype in ("float64", "float32"):
        t = [x * scale for x in times[dtype]]
        note = "" if n == ITERATIONS else f" (ran {n} it per network, x{scale:g})"
        print(f"torch {dtype}, 4 networks one after the other, {ITERATIONS} it{note}:")
        print(f"  {spread(t, '.2f', ' s')}")
        r = ratios(t, times["initlab"])
        print(
            f"  speed-up of initlab, best method (paired per round): {spread(r, '.1f', 'x')}  "
            f"target >= 10x: {verdict(np.median(r) >= 10)}"
        )
        print(
            f"  speed-up of initlab, same method (direct): {spread(ratios(t, direct), '.1f', 'x')}"
        )

    print(f"\ncosts, torch vs initlab, first {n} costs before each update:")
    for dtype in ("float64", "float32"):
        for k, method in enumerate(POST_INITS):
            ref = history.costs[k, :n]
            rel = np.max(np.abs(costs[dtype][k, :n] - ref) / np.abs(ref))
            print(f"  {dtype} {method:11} max rel diff {rel:.1e}")
    rel = max(
        np.max(np.abs(costs["float64"][k, :n] - history.costs[k, :n]) / history.costs[k, :n])
        for k in (0, 1)
    )
    print(
        f"  torch float64 = initlab for zeros and random x10 (< 5e-8): {verdict(rel < 5e-8)};\n"
        "  he and xavier are chaotic at lr 0.01 (rounding differences grow exponentially,\n"
        "  see bench_post.py); float32 differs by its own rounding."
    )


if __name__ == "__main__":
    main()
