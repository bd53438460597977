r"""A tall dataset, where the sample engine does not pay: initlab's direct engine vs PyTorch.

Data: 60,000 examples of 784 features, ``X`` (784, 60000) standard normal from
``default_rng(0)``, labels from a random linear rule ``Y = [w^T X > 0]`` (``w`` from the
same generator). Network [784, 128, 64, 1], ``--activation`` tanh (or relu), xavier
initialization (default stream, seed 0), learning rate 0.01, full batch.

Contenders, each given its data already in its dtype (no cast inside the timing):

- initlab ``training.train(engine="direct")`` in float64 and in float32;
- PyTorch float32 (and float64 with ``--torch-float64``), forward with torch tensors,
  backward by autograd (``_torchnet.py``), from the same initial weights;
- the script prints the dtypes a float32 network back-propagates in, seen through a hook
  (initlab before commit 6f28157 cast Y to float64, which made the whole backward pass of a
  float32 network run in float64; ``train`` now casts the labels to the network's dtype).

Each round runs every contender for ``--iterations`` (10) iterations, side by side;
``--rounds`` (5) rounds make 50 iterations each. Time per iteration is a run's time
divided by its iterations (every run also computes one final cost, on both sides).
Ratios are per round. Target: initlab float32 / torch float32 <= 1.3x (like for like);
initlab float64 / float32 and float64 / torch float32 are printed too.

    python benchmarks/bench_tall.py [--threads 1] [--rounds 5] [--iterations 10]
                                    [--activation tanh|relu] [--torch-float64]
"""

from __future__ import annotations

import numpy as np

import _torchnet  # exits with a message if torch is missing
import initlab
from _common import alternate, header, parser, ratios, set_threads, spread, verdict
from initlab.nn import training as training

LAYERS = [784, 128, 64, 1]
M = 60_000
LEARNING_RATE = 0.01


def dataset() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((LAYERS[0], M))
    w = rng.standard_normal(LAYERS[0])
    Y = (w @ X > 0).astype(np.float64)[None, :]
    return X, Y


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh")
    p.add_argument("--torch-float64", action="store_true", help="also time torch in float64")
    args = p.parse_args()
    global M
    if args.smoke:  # 2000 examples, 2 iterations, 1 round
        M, args.iterations, args.rounds = 2000, 2, 1
    set_threads(args.threads)
    header("bench_tall: 60000 x 784, direct engine vs PyTorch", args.threads)
    print(f"torch BLAS: {_torchnet.blas()}; backward by autograd")
    X64, Y = dataset()
    X32 = X64.astype(np.float32)
    T, act = args.iterations, args.activation
    print(
        f"X {X64.shape}, {LAYERS}, {act}, lr {LEARNING_RATE}, {T} iterations per run, "
        f"{args.rounds} rounds; labels: {Y.mean():.1%} ones\n"
    )
    nets = {
        dt: initlab.init_network(LAYERS, "xavier", activation=act, seed=0, dtype=dt)
        for dt in ("float64", "float32")
    }
    Xs = {"float64": X64, "float32": X32}
    dtypes = backward_dtypes(nets["float32"], X32, Y)
    print(f"dtype of dZ_1 .. dZ_L in a float32 network: {dtypes}")
    out: dict[str, np.ndarray] = {}

    def ours(dt: str):
        def fn(iterations: int) -> None:
            _, h = training.train(
                nets[dt], Xs[dt], Y, learning_rate=LEARNING_RATE, iterations=iterations,
                engine="direct",
            )  # fmt: skip
            out[dt] = np.append(h.costs[0], h.final_cost[0])

        return fn

    def theirs(dt: str):
        net = nets[dt]
        Ws = _torchnet.tensors([W[0] for W in net.weights], dt)
        bs = _torchnet.tensors([b[0] for b in net.biases], dt)
        Xt, Yt = _torchnet.tensors([Xs[dt], Y], dt)

        def fn(iterations: int) -> None:
            out["torch " + dt] = _torchnet.train(
                Ws, bs, Xt, Yt, learning_rate=LEARNING_RATE, iterations=iterations, activation=act
            )

        return fn

    contenders = {
        "initlab float64": ours("float64"),
        "initlab float32": ours("float32"),
        "torch float32": theirs("float32"),
    }
    if args.torch_float64:
        contenders["torch float64"] = theirs("float64")
    for fn in contenders.values():  # warm-up: first touch of buffers, thread pools
        fn(1)
    times = alternate({k: lambda fn=fn: fn(T) for k, fn in contenders.items()}, args.rounds)
    for name, t in times.items():
        print(f"{name:16} per iteration {spread([x / T for x in t], '.3f', ' s')}")
    r32 = ratios(times["initlab float32"], times["torch float32"])
    print(
        f"\ninitlab float32 / torch float32: {spread(r32, '.2f', 'x')}  "
        f"target <= 1.3x: {verdict(np.median(r32) <= 1.3)}"
    )
    pairs = [
        ("initlab float64", "torch float32"),
        ("initlab float64", "initlab float32"),
        ("initlab float64", "torch float64"),
    ]
    for a, b in pairs:
        if a in times and b in times:
            print(f"{a} / {b}: {spread(ratios(times[a], times[b]), '.2f', 'x')}")
    flops = 2 * M * (2 * LAYERS[0] * LAYERS[1] + 3 * LAYERS[1] * LAYERS[2] + 3 * LAYERS[2])
    print("throughput of the matrix products (forward and backward, per iteration):")
    for name, t in times.items():
        print(f"  {name:16} {flops * T / np.median(t) / 1e9:5.1f} GFLOP/s")
    print("\ncosts of the last run (before each update, then the final cost):")
    for name, costs in out.items():
        print(f"  {name:14} " + " ".join(f"{c:.6f}" for c in costs))
    rel = np.max(np.abs(out["torch float32"] - out["float32"]) / out["float64"])
    print(f"  torch float32 vs initlab float32, max rel diff {rel:.1e} (float32 rounding)")


def backward_dtypes(net, X: np.ndarray, Y: np.ndarray) -> str:
    """The dtypes of the back-propagated ``dZ_l`` in one iteration of `net`, via a hook."""
    seen: list[str] = []
    training.train(
        net, X, Y, learning_rate=LEARNING_RATE, iterations=1, engine="direct", record_at=[0],
        hooks=[lambda step: seen.extend(str(dZ.dtype) for dZ in step.dZs)],
    )  # fmt: skip
    return ", ".join(seen)


if __name__ == "__main__":
    main()
