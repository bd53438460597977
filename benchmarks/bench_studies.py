r"""The studies beside their peers: trainability map, lr transfer and coordinate check (issue 23).

Each study runs as a user runs it (:mod:`initlab.studies.trainability`,
:func:`initlab.studies.scaling.lr_transfer`, :func:`~initlab.studies.scaling.coord_check`)
beside PyTorch peers doing the same arithmetic on the same initial parameters, data, batches and
rates, float64, one thread (:mod:`_torchstudies`): ``torch bmm`` (the members stacked, one
batched product per layer) and ``torch loop`` (one model and ``torch.optim`` per member); for
the coordinate check also mup's ``get_coord_data`` (its own models of the same sizes: SP and
muP, the same widths, seeds, steps and rate). Rounds interleave the contenders; each figure is
the median over rounds of the per-round ratio peer / initlab (> 1: initlab is faster). Before
timing, the peers' step-0 costs are held to initlab's (they train the same networks).

``--jax-python PATH`` also runs the trainability map's training in JAX (jit + vmap + lax.scan,
float64; :mod:`_jaxstudy`) in that interpreter, and reports JAX's compiled time and its time
with tracing and compilation against initlab's training of the same populations.

    python benchmarks/bench_studies.py [--rounds 3] [--jax-python /path/to/python] [--only ...]
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import _torchstudies as peers
from _common import header, load, parser, ratios, set_threads, spread

HERE = Path(__file__).resolve().parent


def trainability_case(smoke: bool, dtype: str = "float64"):
    """The map of 3 depths x 6 sigma_w^2 x 2 seeds, 300 SGD steps of 64 at width 64."""
    from initlab.nn.batches import Schedule
    from initlab.studies import trainability as tr

    cfg = tr.TrainabilityConfig(
        depths=(2, 3) if smoke else (4, 8, 16), sigma_w2=(0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
        seeds=2, steps=6 if smoke else 300, width=16 if smoke else 64, dtype=dtype,
    )  # fmt: skip
    task = tr.load_task(cfg.task, cfg.test_fraction, cfg.seed)
    m = task["X"].shape[1]
    sched = Schedule(m, iterations=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed)
    batches = [sched.cols(i) for i in range(cfg.steps)]
    nets = [tr.population(cfg, d, 64, 10, task["head"]) for d in cfg.depths]

    def initlab():
        return [tr.train_depth(cfg, d, task)["initial_cost"] for d in cfg.depths]

    def peer(fn, **kw):
        def run():
            return [
                fn(net.weights, net.biases, task["X"], task["Y"], batches,
                   [np.full(net.K, cfg.learning_rate)] * (2 * len(net.weights)),
                   activation=cfg.activation, **kw)[:, 0]
                for net in nets
            ]  # fmt: skip

        return run

    # the study measures the test set before training, the whole training set and the test
    # set after it: the stacked peer computes the same logits (the loop peer does not)
    bmm = {"evaluate": ([task["X_test"]], [task["X"], task["X_test"]])}
    if dtype == "float32":  # torch bmm only: the loop is far behind at float64 already
        bmm["dtype"] = torch.float32
        return {"initlab": initlab, "torch bmm": peer(peers.train_bmm, **bmm)}, None
    contenders = {"initlab": initlab, "torch bmm": peer(peers.train_bmm, **bmm)}
    contenders["torch loop"] = peer(peers.train_loop)
    return contenders, (cfg, task, nets, batches)


def _model_rates(arch, X, Y, n, seeds, p, n0, optimizer, lrs):
    """A population of `arch` (its weights and biases) and each parameter's rates (K,)."""
    model, scale = arch.build(X.shape[0], n, Y.shape[0], seeds, p, n0, optimizer)
    return model.params[0::2], model.params[1::2], [lrs * s for s in scale]


def lr_transfer_case(smoke: bool, dtype: str = "float64"):
    """SP and muP, widths 64..512, learning rates 2^-10..2^-3, 2 seeds; Adam, 40 steps of 32."""
    from initlab.data import load, sample
    from initlab.nn.batches import Schedule
    from initlab.studies import scaling

    widths = (16, 32) if smoke else (64, 128, 256, 512)
    log2_lrs, seeds, kw = tuple(range(-10, -2)), [0, 1], {"steps": 3 if smoke else 40}
    ds = sample(load("digits10"), 256)
    arch, X, Y = scaling.Architecture(), ds.X, ds.one_hot()
    lrs = np.repeat(2.0 ** np.array(log2_lrs, dtype=float), len(seeds))
    order = Schedule(X.shape[1], kw["steps"], batch_size=32, seed=0, order="stream")
    batches = [order.cols(i) for i in range(kw["steps"])]  # lr_transfer's

    def initlab():
        return scaling.lr_transfer(
            widths, log2_lrs, seeds=seeds, base_width=widths[0], dtype=dtype, **kw
        ).curves[..., 0]

    def peer(fn, **final):
        def run():
            out = []
            for p in ("sp", "mup"):
                for n in widths:
                    Ws, bs, rates = _model_rates(
                        arch, X, Y, n, seeds * len(log2_lrs), p, widths[0], "adam", lrs
                    )
                    J = fn(Ws, bs, X, Y, batches, rates, activation="relu", optimizer="adam",
                           dtype=getattr(torch, dtype), **final)  # fmt: skip
                    out.append(J[:, 0])
            return out

        return run

    # the study's record is each member's final loss on the whole training set: the peers
    # compute those logits too
    return {"initlab": initlab, "torch bmm": peer(peers.train_bmm, evaluate=((), [X])),
            "torch loop": peer(peers.train_loop, evaluate=[X])}  # fmt: skip


def coord_check_case(smoke: bool, dtype: str = "float64"):
    """SP and muP, widths 64..2048, 4 seeds, 2 SGD steps at 0.5 on 128 digits (3 passes)."""
    from initlab.studies import scaling

    widths = (16, 32) if smoke else (64, 128, 256, 512, 1024, 2048)
    from initlab.data import load, sample

    ds = sample(load("digits10"), 128)
    arch, X, Y = scaling.Architecture(), ds.X, ds.one_hot()
    seeds, lr = [0, 1, 2, 3], 0.5

    def initlab():
        kw = {"learning_rate": lr, "base_width": widths[0], "dtype": dtype}
        return scaling.coord_check(widths, ("sp", "mup"), seeds=seeds, **kw)

    def observe(t, Zs, first=[]):  # noqa: B006 - the step-0 records, kept across calls
        if t == 0:
            first[:] = Zs
        return [(Z.abs().mean((-2, -1)), (Z - Z0).abs().mean((-2, -1)))
                for Z, Z0 in zip(Zs, first, strict=True)]  # fmt: skip

    def peer(fn):
        def run():
            for p in ("sp", "mup"):
                for n in widths:
                    Ws, bs, rates = _model_rates(
                        arch, X, Y, n, seeds, p, widths[0], "sgd", np.full(4, lr)
                    )
                    fn(Ws, bs, X, Y, [None] * 3, rates, activation="relu", observe=observe,
                       dtype=getattr(torch, dtype))  # fmt: skip

        return run

    contenders = {"initlab": initlab, "torch bmm": peer(peers.train_bmm),
                  "torch loop": peer(peers.train_loop)}  # fmt: skip
    if dtype == "float32":  # mup's peer is drawn in float64 (the same arithmetic as initlab's)
        return contenders
    mup_run = _mup_peer(widths, X, Y, lr, len(seeds))
    if mup_run is not None:
        contenders["mup get_coord_data"] = mup_run
    return contenders


def _mup_peer(widths, X, Y, lr, nseeds):
    r"""mup's ``get_coord_data`` on torch MLPs 64 -> n -> n -> n -> 10 (ReLU, ``MuReadout``),
    SP and muP, the same arithmetic as initlab's: after ``set_base_shapes`` every weight is
    drawn again, as mup's README asks of a user (``mup.init`` or one's own init), from normal
    draws in float64 at initlab's standard deviations (He's :math:`\sqrt{2/\text{fan-in}}`
    times the parametrization's factor, :func:`initlab.init.parametrization.layer_scales`;
    ``MuReadout``'s times its ``width_mult``, which it divides its output by), biases zero.
    (``nn.Linear``'s own kaiming-uniform draws in float32, made first, stay: they are what
    building a torch model costs.) Its run returns the two data frames (SP, muP). None (and a
    note) when mup or its pandas is missing."""
    try:
        import pandas  # noqa: F401 - mup.coord_check imports it
        from mup import MuReadout, set_base_shapes
        from mup.coord_check import get_coord_data
    except ImportError as e:
        print(f"note: mup's get_coord_data is left out ({e})")
        return None
    from initlab.init.parametrization import layer_scales

    nn, n0 = torch.nn, widths[0]

    def mlp(n, base):
        model = nn.Sequential(nn.Linear(64, n), nn.ReLU(), nn.Linear(n, n), nn.ReLU(),
                              nn.Linear(n, n), nn.ReLU(), MuReadout(n, 10)).double()  # fmt: skip
        model = set_base_shapes(model, base)
        factors = layer_scales("sp" if base is None else "mup", [64, n, n, n, 10], n0).init
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, f in zip(linears, factors, strict=True):
                mult = lin.weight.infshape.width_mult() if isinstance(lin, MuReadout) else 1.0
                lin.weight.normal_(0.0, (2.0 / lin.in_features) ** 0.5 * f * mult)
                lin.bias.zero_()
        return model

    data = [(torch.from_numpy(X.T.copy()), torch.from_numpy(Y.argmax(0)))] * 3

    def run():
        frames = []
        for mup in (False, True):
            base = mlp(n0, None) if mup else None
            models = {n: (lambda n=n, b=base: mlp(n, b)) for n in widths}
            frames.append(get_coord_data(models, data, optimizer="sgd", lr=lr, mup=mup,
                                         nseeds=nseeds, nsteps=3, cuda=False,
                                         show_progress=False))  # fmt: skip
        return frames

    return run


def same_coordinates(results: dict, tol: float = 0.05) -> None:
    r"""mup's step-0 sizes :math:`\operatorname{mean}|x|` of each linear layer at the widest
    width, averaged over seeds, against initlab's: other draws of the same laws, so they
    agree statistically: at width 2048 the hidden layers within `tol` (relative; four other
    sets of 4 seeds of initlab's spread by up to 5% at width 256, a spread that shrinks as
    1/sqrt(width)), the readout, whose size rests on 10 rows a seed, within 4 `tol` (14% at
    width 256). Below width 1024 (``--smoke``), printed only."""
    ours, frames = results["initlab"], results.get("mup get_coord_data")
    if frames is None:
        return
    n = ours.widths[-1]
    for i, (p, df) in enumerate(zip(ours.parametrizations, frames, strict=True)):
        at = df[(df.width == n) & (df.t == 1)]
        theirs = [at[at.module == m].l1.mean() for m in ("0", "2", "4", "6")]
        mine = ours.size[i, :, 0, -1, :].mean(axis=-1)
        rel = np.abs(np.array(theirs) / mine - 1)
        print(f"  step-0 mean |x| at width {n}, {p}: mup / initlab - 1 by layer "
              + ", ".join(f"{r:+.3f}" for r in np.array(theirs) / mine - 1))  # fmt: skip
        if n >= 1024 and not ((rel[:-1] < tol).all() and rel[-1] < 4 * tol):
            raise SystemExit(f"mup's {p} networks do not start as initlab's (coord-check)")


def coord_check_breakdown(smoke: bool) -> None:
    """Where the coordinate check's time goes: building the populations as it does (a
    width's draws shared up to ``studies._draws.SHARED_BYTES``, a population's arrays
    recycled for the next) beside training them, and the widest layer's three products in
    NumPy (OpenBLAS) and torch (MKL), per member, the same shapes and layouts; ``V A`` and
    ``V^T dZ`` also written transposed and copied back, as ``ResMLP`` computes them at this
    width (``nn.residual._product``)."""
    from dataclasses import asdict

    from initlab.studies import _draws, _widths, scaling

    widths = (16, 32) if smoke else (64, 128, 256, 512, 1024, 2048)
    arch, (X, Y) = scaling.Architecture(), _widths.digits(128)
    groups = [[{"width": n, "seed": s, "dtype": "float64", "architecture": asdict(arch)}
               for s in range(4)] for n in widths for _ in ("sp", "mup")]  # fmt: skip
    shared = _draws.SharedDraws(groups, X, Y)
    t0 = time.perf_counter()
    for g, p in zip(groups, ["sp", "mup"] * len(widths), strict=True):
        Ws = shared.weights(g)
        model, _ = arch.build(X.shape[0], g[0]["width"], Y.shape[0], range(4), p, widths[0],
                              "sgd", weights=Ws)  # fmt: skip
        shared.spare = model.params[: 2 * len(Ws) : 2]
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    scaling.coord_check(widths, ("sp", "mup"), seeds=[0, 1, 2, 3], learning_rate=0.5,
                        base_width=widths[0])  # fmt: skip
    print(f"  breakdown: building every population {build:.2f} s of the whole check "
          f"{time.perf_counter() - t0:.2f} s")  # fmt: skip
    n, m, rng = widths[-1], X.shape[1], np.random.default_rng(0)
    V, A, dZ = (rng.standard_normal(shape) for shape in ((n, n), (n, m), (n, m)))
    T, out = np.empty((m, n)), np.empty((n, m))

    def transposed(a, b):  # the product written transposed, copied back
        if isinstance(a, torch.Tensor):
            return a @ b
        np.matmul(a, b, out=T.T)
        return np.copyto(out, T.T)

    products = {
        "V A": (lambda a, b: a @ b, (V, A)),
        "dZ A^T": (lambda a, b: a @ b.T, (dZ, A)),
        "V^T dZ": (lambda a, b: a.T @ b, (V, dZ)),
        "V A, numpy written transposed": (transposed, (V, A)),
        "V^T dZ, numpy written transposed": (lambda a, b: transposed(a.T, b), (V, dZ)),
    }
    reps = 1 if smoke else 5
    for name, (f, (a, b)) in products.items():
        t = []
        for args in ((a, b), (torch.from_numpy(a), torch.from_numpy(b))):
            f(*args)
            t0 = time.perf_counter()
            for _ in range(reps):
                f(*args)
            t.append((time.perf_counter() - t0) / reps * 1e3)
        print(f"  width {n}, {name} ({m} columns): numpy {t[0]:.1f} ms, torch {t[1]:.1f} ms "
              f"(numpy / torch {t[0] / t[1]:.2f})")  # fmt: skip


def coord_check_float32_case(smoke: bool):
    """The same check in float32 (``coord_check(..., dtype="float32")``) vs torch float32."""
    return coord_check_case(smoke, "float32")


def lr_transfer_float32_case(smoke: bool):
    """The same transfer in float32 (``lr_transfer(..., dtype="float32")``) vs torch float32."""
    return lr_transfer_case(smoke, "float32")


def trainability_float32_case(smoke: bool):
    """The same map in float32 (``TrainabilityConfig(dtype="float32")``) vs torch bmm float32."""
    return trainability_case(smoke, "float32")


CASES = {"trainability": trainability_case, "lr-transfer": lr_transfer_case,
         "coord-check": coord_check_case,
         "trainability-float32": trainability_float32_case,
         "lr-transfer-float32": lr_transfer_float32_case,
         "coord-check-float32": coord_check_float32_case}  # fmt: skip


def same_start(name: str, results: dict) -> None:
    """The peers' step-0 costs are initlab's (same networks, data and batch) to 1e-10
    (float32: 1e-5); mup's coordinate check, drawn by torch, by :func:`same_coordinates`."""
    if name.startswith("coord-check"):
        same_coordinates(results)
        return
    tol = 1e-5 if name.endswith("float32") else 1e-10
    ours = np.ravel(np.asarray(results["initlab"], dtype=float))
    for peer, theirs in results.items():
        if peer == "initlab":
            continue
        err = np.max(np.abs(np.ravel(np.asarray(theirs, dtype=float)) - ours))
        print(f"  step-0 costs, {peer} vs initlab: max |difference| {err:.1e}")
        if not err < tol:
            raise SystemExit(f"{peer} does not train the same networks as initlab ({name})")


def bench(name: str, smoke: bool, rounds: int, jax_python: str | None) -> None:
    print(f"-- {name}: {CASES[name].__doc__}")
    made = CASES[name](smoke)
    contenders = made[0] if isinstance(made, tuple) else made
    times: dict[str, list[float]] = {k: [] for k in contenders}
    jax_runs: list[dict] = []
    for r in range(rounds):
        results = {}
        for who, fn in contenders.items():
            t0 = time.perf_counter()
            results[who] = fn()
            times[who].append(time.perf_counter() - t0)
        if r == 0:
            same_start(name, results)
        if jax_python and name == "trainability":  # float64 only
            jax_runs.append(run_jax(jax_python, *made[1]))
            if r == 0:  # the same networks: the same step-0 costs
                same_start(name, {"initlab": results["initlab"],
                                  "JAX": [run["J0"] for run in jax_runs[0]["runs"]]})  # fmt: skip
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
              + f"; load {load()}")  # fmt: skip
    base = times["initlab"]
    for who, t in times.items():
        if who != "initlab":
            print(f"  {who} / initlab: {spread(ratios(t, base), '.2f', 'x')}")
    if jax_runs:
        report_jax(jax_runs, base)
    if name == "coord-check":
        coord_check_breakdown(smoke)


def run_jax(python: str, cfg, task, nets, batches) -> dict:
    """One run of :mod:`_jaxstudy` on the map's populations, in `python`; its JSON and the
    wall seconds of the whole process (start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        B = max(len(c) for c in batches)
        cols = np.array([np.pad(c, (0, B - len(c))) for c in batches])
        files = []
        for net in nets:
            f = Path(tmp) / f"depth-{len(net.weights)}.npz"
            arrays = {f"W{l}": W for l, W in enumerate(net.weights)}
            arrays |= {f"b{l}": b for l, b in enumerate(net.biases)}
            np.savez(f, X=task["X"], Y=task["Y"], cols=cols, count=[len(c) for c in batches],
                     lr=cfg.learning_rate, activation=cfg.activation, **arrays)  # fmt: skip
            files.append(str(f))
        t0 = time.perf_counter()
        proc = subprocess.run([python, str(HERE / "_jaxstudy.py"), *files],
                              capture_output=True, text=True, check=True)  # fmt: skip
        out = json.loads(proc.stdout.splitlines()[-1])
    out["process"] = time.perf_counter() - t0
    return out


def report_jax(runs: list[dict], initlab: list[float]) -> None:
    compiled = [sum(r["compiled"] for r in run["runs"]) for run in runs]
    first = [sum(r["first"] for r in run["runs"]) for run in runs]
    print(f"  JAX {runs[0]['jax']} (jit + vmap + lax.scan, float64, 1 thread):")
    for label, t in (
        ("compiled", compiled),
        ("first call, compilation included", first),
        ("whole process, start-up included", [r["process"] for r in runs]),
    ):
        print(f"  JAX {label} / initlab: {spread(ratios(t, initlab), '.2f', 'x')}")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--jax-python", help="a Python interpreter with JAX (trainability only)")
    args = p.parse_args()
    set_threads(args.threads)
    header("the studies beside their peers (float64)", args.threads)
    rounds = 1 if args.smoke else args.rounds
    for name in args.only:
        bench(name, args.smoke, rounds, args.jax_python)


if __name__ == "__main__":
    main()
