r"""The sample engine against its floor, and what diagnostics cost.

Three measurements on the post's cats-vs-dogs X (67500, 100), [67500, 5, 5, 1], tanh,
learning rate 0.01, 1000 full-batch iterations, legacy stream seed 1, one BLAS thread:

1. **Floor.** The first layer's floating-point operations of the post's four members on
   the sample engine, ``initlab.nn.engines.flops("sample", 67500, 100, K=4, n1=5,
   steps=1000)`` (setup :math:`2 n_0 m^2 + 2 K n_1 n_0 m`, materializing :math:`W_1` at the
   end, and :math:`2 K n_1 m^2` per step: about 2.3 GFLOP), divided by the single-thread
   rate of a large square GEMM measured in the same process. Against it: the Python API,
   ``init_population`` + ``training.train(engine="sample")`` (which returns the trained
   network, so it materializes :math:`W_1` once). Rounds alternate GEMM and API; the
   ratio API / floor is taken per round.
2. **Diagnostics.** The same training with the per-layer recorder at the default
   iterations (0, 1, 2, 5, ..., 999), over the same training without it, per round.
3. **Population.** ``initlab run``'s training step (``experiment.runner.train_group``,
   diagnostics on, records built) for 100 members (He, seeds 1..100) over one member,
   with ``jobs=1`` (one thread) and with the default jobs (the usable cores: the
   population in chunks on that many threads, :mod:`initlab.execution.threads`), the
   weights drawn from the post's legacy stream and from the default stream (a spec's
   default).

    python benchmarks/bench_floor.py [--rounds 5] [--smoke]

``--smoke`` runs every step on a small synthetic problem ((300, 40), 20 iterations,
16 members, one round) to check that the script works; its figures mean nothing.
"""

from __future__ import annotations

import statistics

import numpy as np

import initlab
from _common import DATA, POST_INITS, header, parser, ratios, set_threads, spread, timed
from initlab.analysis.diagnostics import Recorder, record_iterations
from initlab.execution import runner, threads
from initlab.nn import engines, training
from initlab.specs.spec import parse


def gemm_rate(n: int) -> float:
    """Floating-point operations per second of one ``(n, n) @ (n, n)`` float64 product."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    A @ B  # warm up
    return 2.0 * n**3 / min(timed(lambda: A @ B)[0] for _ in range(3))


def post_train(X, Y, T, diagnostics=False):
    """The post's 4 members, init + train on the sample engine, as the API is used."""
    pop = initlab.init_population(
        [X.shape[0], 5, 5, 1], [(init, 1) for init in POST_INITS.values()],
        activation="tanh", stream="legacy",
    )  # fmt: skip
    hooks, at = [], ()
    if diagnostics:
        hooks, at = [Recorder(3, pop.K, activation="tanh")], record_iterations(T)
    return training.train(
        pop, X, Y, learning_rate=0.01, iterations=T, engine="sample", record_at=at, hooks=hooks
    )


def group(data, K, T, jobs=1, stream="legacy"):
    """``initlab run``'s training of K He members (seeds 1..K), diagnostics on, on `jobs`
    threads (None: the usable cores), their weights from `stream` (the post's legacy
    stream, or ``"default"``, a spec's default)."""
    spec = parse(
        {
            "data": {"train": "digits"},  # replaced by `data`; parse needs a source
            "model": {"hidden": [5, 5], "activation": "tanh"},
            "training": {"learning_rate": 0.01, "iterations": T, "seed": 1, "seeds": K,
                         "stream": stream, "engine": "sample", "diagnostics": True},
            "runs": [{"name": "he", "init": "he"}],
        }
    )  # fmt: skip
    return runner.train_group(list(spec.runs), data, spec.model, spec.training, jobs=jobs)


def load(smoke: bool):
    if smoke:
        rng = np.random.default_rng(0)
        X = rng.standard_normal((300, 40)) / np.sqrt(300)
        return X, (X[:1] > 0).astype(float)
    d = initlab.data.load(DATA)
    return d.X, d.Y


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    args = p.parse_args()
    set_threads(args.threads)
    header(
        "bench_floor: the sample engine against its floor; diagnostics; populations", args.threads
    )
    X, Y = load(args.smoke)
    T, K_big, rounds = (20, 16, 1) if args.smoke else (1000, 100, args.rounds)
    n0, m = X.shape
    flops = engines.flops("sample", n0, m, 4, 5, T)
    print(f"data X {X.shape}; {T} iterations; first-layer flops of 4 members: {flops:.3g}")

    rates, api, diag = [], [], []
    for _ in range(rounds):
        rates.append(gemm_rate(1000 if not args.smoke else 200))
        api.append(timed(lambda: post_train(X, Y, T))[0])
        diag.append(timed(lambda: post_train(X, Y, T, diagnostics=True))[0])
    floor = [flops / r for r in rates]
    print(f"single-thread GEMM rate: {spread([r / 1e9 for r in rates], '.1f', ' GFLOP/s')}")
    print(f"floor (flops / rate):    {spread(floor, '.3g', ' s')}")
    print(f"API (init + train):      {spread(api, '.3g', ' s')}")
    print(f"API / floor:             {spread(ratios(api, floor), '.2f', 'x')}  (target <= 2x)")
    print(f"with diagnostics:        {spread(diag, '.3g', ' s')}; "
          f"over without: {spread(ratios(diag, api), '.2f', 'x')}")  # fmt: skip

    ids = tuple(map(str, range(m)))
    data = runner.ExperimentData(initlab.data.Dataset(X, Y, "bench", ids), None)
    jobs = len(threads.split(K_big, threads.usable_cores()))
    for stream in ("legacy", "default"):
        one, big, par = [], [], []
        for _ in range(rounds):
            one.append(timed(lambda s=stream: group(data, 1, T, stream=s))[0])
            big.append(timed(lambda s=stream: group(data, K_big, T, stream=s))[0])
            par.append(timed(lambda s=stream: group(data, K_big, T, jobs=None, stream=s))[0])
        print(f"{stream} stream: run, 1 member, diagnostics: {spread(one, '.3g', ' s')}")
        print(
            f"  {K_big} members, diagnostics: {spread(big, '.3g', ' s')}; "
            f"over 1 member: {spread(ratios(big, one), '.2f', 'x')}  (jobs=1)"
        )
        print(f"  the same on {jobs} thread(s): {spread(par, '.3g', ' s')}; over 1 member: "
              f"{spread(ratios(par, one), '.2f', 'x')}  (default jobs: the usable cores, "
              f"{threads.usable_cores()}; target <= 10x)")  # fmt: skip
    print(f"median API / floor {statistics.median(ratios(api, floor)):.2f}x")


if __name__ == "__main__":
    main()
