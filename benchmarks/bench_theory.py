r"""The theory studies beside their peers: deep-linear learning time, Jacobian spectra, kernels.

- ``deep-linear`` (:func:`initlab.studies.deeplinear.train_depth` at the study's defaults:
  depths 2..64, width 32, 2 inits x 5 rates x 2 seeds, 400 full-batch GD steps) beside
  ``torch bmm`` (:mod:`_torchstudies`) training the same populations on the same data and
  rates (identity units, the linear head's cost);
- ``jacobian`` (:func:`initlab.analysis.jacobian.jacobian_spectra`, ``initlab theory
  jacobian``'s defaults: tanh at the critical sigma_w^2 = 1, sigma_b^2 = 0, width 400, depths
  1 4 16 64, 2 members, Gaussian and orthogonal weights) beside PyTorch doing the same
  arithmetic (:func:`torch_spectra`: the same draws' laws from torch's generator, the same
  chain of products :math:`J \leftarrow D_l (W_l J)` from :math:`J = D_1 W_1`,
  ``torch.linalg.svdvals``; orthogonal weights by the QR of a Gaussian matrix with the sign
  correction, as initlab's: ``torch`` forms Q (``linalg.qr``), ``torch reflectors`` applies
  it as initlab does, as Householder reflectors (``geqrf``, ``ormqr``));
- ``kernels`` (:func:`initlab.analysis.kernels.mlp_kernels`, NNGP and NTK of a 2-hidden-layer
  MLP, NTK parametrization, relu and erf: closed forms on both sides) beside neural-tangents'
  jitted ``kernel_fn`` (``--nt-python PATH``, an interpreter with neural-tangents; its
  kernels are held to initlab's before timing);
- ``correlation``: the correlation map's theory is a quadrature of milliseconds (no peer);
  its time per call is printed.

Rounds interleave the contenders; each figure is the median over rounds of peer / initlab
(> 1: initlab is faster), min..max, one thread, float64; in wall time, and for the peers in
this process also in process time (CPU seconds: less sensitive to a shared machine's load).

    python benchmarks/bench_theory.py [--rounds 3] [--nt-python PATH] [--only ...]
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.linalg  # noqa: F401  (its OpenBLAS loaded before set_threads limits the pools)
import torch

import _torchstudies as peers
from _common import header, load, parser, ratios, set_threads, spread

HERE = Path(__file__).resolve().parent


def deep_linear_case(smoke: bool, nt_python: str | None) -> dict:
    """Deep linear nets, orthogonal vs Gaussian, full-batch GD: initlab vs torch bmm."""
    from initlab.init.build import init_population
    from initlab.studies import deeplinear as dl

    cfg = dl.DeepLinearConfig(depths=(2, 3), width=8, steps=5) if smoke else dl.DeepLinearConfig()
    task = dl.teacher_task(cfg.width, cfg.seed)
    X, Y, _ = task
    seeds = dl.child_seeds(cfg.seed + 1, cfg.seeds)
    members = [(dl.INITS[name], s) for name in dl.INITS for _ in cfg.rates for s in seeds]
    pops = []
    for depth in cfg.depths:  # train_depth's populations and rates
        net = init_population([cfg.width] * (depth + 1), members, activation="linear",
                              head="linear")  # fmt: skip
        lr = np.array([r / depth for _ in dl.INITS for r in cfg.rates for _ in seeds])
        pops.append((net, lr))

    def initlab():
        return [np.ravel(dl.train_depth(cfg, d, task)["initial_cost"]) for d in cfg.depths]

    def bmm():
        return [peers.train_bmm(net.weights, net.biases, X, Y, [None] * cfg.steps,
                                [lr] * (2 * len(net.weights)), activation="linear",
                                head="linear")[:, 0] for net, lr in pops]  # fmt: skip

    return {"initlab": initlab, "torch bmm": bmm}


def torch_spectra(act: str, w2: float, b2: float, q: float, depths, N: int, members: int,
                  weights: str, seed: int, reflectors: bool = False) -> np.ndarray:  # fmt: skip
    r""":func:`initlab.analysis.jacobian.jacobian_spectra`'s arithmetic in PyTorch, float64:
    per layer the draws (A, then the bias noise), :math:`h = W x + \sigma_b \xi`,
    :math:`J \leftarrow D (W J)` (the first layer: :math:`J = D W`, no product by
    :math:`I`, as initlab), ``svdvals`` at each depth. Orthogonal W: ``torch.linalg.qr`` and
    the sign correction, W formed; or with `reflectors`, initlab's method in torch:
    ``torch.geqrf`` and ``torch.ormqr`` applied to :math:`S [J \mid x]`, Q never formed."""
    phi = {"tanh": torch.tanh, "linear": lambda h: h}[act]
    dphi = {"tanh": lambda h, x: 1 - x * x, "linear": lambda h, x: torch.ones_like(h)}[act]
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    out = np.empty((members, len(depths), N))
    for k in range(members):
        x = phi(math.sqrt(q) * torch.randn(N, generator=g, dtype=f64))
        J = None
        for l in range(1, depths[-1] + 1):
            A = torch.randn(N, N, generator=g, dtype=f64)
            noise = torch.randn(N, generator=g, dtype=f64)
            if weights == "orthogonal" and reflectors and J is not None:
                a, tau = torch.geqrf(A)
                s = torch.where(torch.diagonal(a) < 0, -1.0, 1.0).to(f64)[:, None]
                Y = math.sqrt(w2) * torch.ormqr(a, tau, s * torch.cat([J, x[:, None]], 1))
                WJ, Wx = Y[:, :N], Y[:, N]
            else:
                if weights == "orthogonal":
                    Q, R = torch.linalg.qr(A)
                    W = math.sqrt(w2) * (Q * torch.sign(torch.diagonal(R)))
                else:
                    W = A * math.sqrt(w2 / N)
                WJ, Wx = (W if J is None else W @ J), W @ x
            h = Wx + math.sqrt(b2) * noise
            x = phi(h)
            J = dphi(h, x)[:, None] * WJ
            if l in depths:
                out[k, depths.index(l)] = torch.linalg.svdvals(J).numpy()
    return out


def jacobian_case(smoke: bool, nt_python: str | None) -> dict:
    """``initlab theory jacobian``'s spectra (both weight laws) vs PyTorch (svdvals)."""
    from initlab.analysis import jacobian as jac

    depths, N, members, w2, b2 = ((1, 2), 20, 2, 1.0, 0.0) if smoke else ((1, 4, 16, 64), 400,
                                                                        2, 1.0, 0.0)  # fmt: skip
    laws = ("gaussian", "orthogonal")

    def initlab():
        return [jac.jacobian_spectra("tanh", w2, b2, depths=depths, width=N, weights=law,
                                     members=members).singular_values for law in laws]  # fmt: skip

    q = jac._q_input(jac._activations.get("tanh"), w2, b2)

    def peer(reflectors=False):
        return [torch_spectra("tanh", w2, b2, q, depths, N, members, law, 0, reflectors)
                for law in laws]  # fmt: skip

    return {"initlab": initlab, "torch": peer,
            "torch reflectors": lambda: peer(reflectors=True)}  # fmt: skip


def jacobian_breakdown(smoke: bool) -> None:
    """The chain's operations at width 400, initlab's (NumPy and SciPy: OpenBLAS and its
    LAPACK) beside torch's (MKL), one thread: a product W [J | x]; one SVD's singular values;
    an orthogonal layer (initlab: ``geqrt`` + ``gemqrt`` on S [J | x]; torch: ``linalg.qr``
    + the sign + the product, or ``geqrf`` + ``ormqr``); one Gaussian draw. Interleaved
    call by call, the median of 21."""
    from scipy.linalg import lapack

    from initlab.analysis import jacobian as jac

    N, reps = (20, 1) if smoke else (400, 21)
    rng, g = np.random.default_rng(0), torch.Generator().manual_seed(0)
    A, C = rng.standard_normal((N, N)), np.asfortranarray(rng.standard_normal((N, N + 1)))
    At, Ct = torch.from_numpy(A), torch.from_numpy(np.ascontiguousarray(C))
    D = np.empty_like(C, order="F")  # initlab's products go to reused buffers

    layers = jac._Layers("orthogonal", N)  # initlab's orthogonal layer on its buffers
    layers.A[...] = A
    CF = layers(None, C[:, N])

    def qr_layer():
        Q, R = torch.linalg.qr(At)
        return (Q * torch.sign(torch.diagonal(R))) @ Ct

    def reflector_layer():
        a, tau = torch.geqrf(At)
        return torch.ormqr(a, tau, torch.where(torch.diagonal(a) < 0, -1.0, 1.0).to(At)[:, None]
                           * Ct)  # fmt: skip

    ops = {
        "W [J | x]": (lambda: np.matmul(A, C, out=D), lambda: At @ Ct, None),
        "singular values": (lambda: lapack.dgesdd(C[:, :N], compute_uv=0),
                            lambda: torch.linalg.svdvals(Ct[:, :N]), None),
        "orthogonal layer": (lambda: layers(CF, C[:, N]), qr_layer, reflector_layer),
        "N x N normals": (lambda: rng.standard_normal((N, N)),
                          lambda: torch.randn(N, N, generator=g, dtype=torch.float64), None),
    }  # fmt: skip
    for name, fns in ops.items():  # interleaved call by call; the median per contender
        fns = [f for f in fns if f is not None]
        runs: list[list[float]] = [[] for _ in fns]
        for _ in range(reps + 1):
            for f, r in zip(fns, runs, strict=True):
                t0 = time.perf_counter()
                f()
                r.append((time.perf_counter() - t0) * 1e3)
        t = [statistics.median(r[1:]) for r in runs]  # the first call: warm-up
        more = f", torch geqrf + ormqr {t[2]:.2f} ms" if len(t) > 2 else ""
        print(f"  width {N}, {name}: initlab {t[0]:.2f} ms, torch {t[1]:.2f} ms{more} "
              f"(initlab / torch {t[0] / t[1]:.2f})")  # fmt: skip


def _kernel_data(smoke: bool):
    from initlab.studies import kernels as ek

    sizes = (16,) if smoke else (128, 1024)
    return [ek.examples(m, 2)[0] for m in sizes]


def kernels_case(smoke: bool, nt_python: str | None) -> dict:
    """NNGP and NTK of an MLP 64 -> 512 -> 512 -> 1 (relu, erf) vs neural-tangents."""
    from initlab.analysis.kernels import mlp_kernels
    from initlab.studies.kernels import gaussian_init

    w2, b2, hidden = 2.0, 0.05, [512, 512]
    runs = [(X, a) for X in _kernel_data(smoke) for a in ("relu", "erf")]

    def initlab():
        return [mlp_kernels(X, layer_sizes=[X.shape[0], *hidden, 1], init=gaussian_init(w2),
                            activation=a, sigma_b2=b2) for X, a in runs]  # fmt: skip

    contenders = {"initlab": initlab}
    if nt_python:
        contenders["neural-tangents"] = lambda: [run_nt(nt_python, X, a, w2, b2, hidden)
                                                 for X, a in runs]  # fmt: skip
    return contenders


def run_nt(python: str, X: np.ndarray, act: str, w2: float, b2: float, hidden) -> dict:
    """One run of :mod:`_ntkernels`: its kernels, its first and compiled seconds, and the
    whole process's."""
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inp, X=X, activation=act, w2=w2, b2=b2, widths=np.array(hidden))
        t0 = time.perf_counter()
        proc = subprocess.run([python, str(HERE / "_ntkernels.py"), str(inp), str(out)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        run = json.loads(proc.stdout.splitlines()[-1])
        run["process"] = time.perf_counter() - t0
        with np.load(out) as k:
            run["nngp"], run["ntk"] = k["nngp"], k["ntk"]
    return run


def correlation_case(smoke: bool, nt_python: str | None) -> None:
    """The correlation map's theory: milliseconds per call (a quadrature), no peer."""
    from initlab.analysis import correlation as corr

    c = np.linspace(0.0, 1.0, 81)
    n = 3 if smoke else 200
    for label, fn in (
        ("depth_scales(tanh, 1.0, 0.05)", lambda: corr.depth_scales("tanh", 1.0, 0.05)),
        ("correlation_map(tanh, 1.0, 0.05, 81 values of c)",
         lambda: corr.correlation_map("tanh", 1.0, 0.05, c)),
        ("depth_scales(relu, 2.0, 0.0)", lambda: corr.depth_scales("relu", 2.0, 0.0)),
    ):  # fmt: skip
        fn()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        print(f"  {label}: {(time.perf_counter() - t0) / n * 1e6:.0f} us per call (n={n})")


CASES = {"deep-linear": deep_linear_case, "jacobian": jacobian_case, "kernels": kernels_case,
         "correlation": correlation_case}  # fmt: skip


def check(name: str, results: dict) -> None:
    """Before timing: the peers compute initlab's numbers. Deep linear: the same step-0
    costs. Kernels: neural-tangents' to 1e-7 relative to the largest entry (every entry
    agrees to 1e-14 but relu's NTK diagonal, 6.6e-9 off: neural-tangents clips the
    correlation below 1 there). Jacobian: other draws of the same laws, so the mean of
    sigma^2 agrees to 25%."""
    ours = results["initlab"]
    for peer, theirs in results.items():
        if peer == "initlab":
            continue
        pairs = list(zip(ours, theirs, strict=True))
        if name == "kernels":
            err = max(np.max(np.abs(getattr(k, f) - t[f])) / np.max(np.abs(getattr(k, f)))
                      for k, t in pairs for f in ("nngp", "ntk"))  # fmt: skip
            ok = err < 1e-7  # relu's NTK diagonal: 6.6e-9 (neural-tangents clips c < 1)
        elif name == "jacobian" and peer == "torch reflectors":  # torch's draws: the same
            err = max(np.max(np.abs(t - r)) / np.max(r) for t, r in zip(theirs, results["torch"],
                                                                     strict=True))  # fmt: skip
            ok = err < 1e-12
        elif name == "jacobian":
            err = max(abs(np.mean(t**2) / np.mean(o**2) - 1) for o, t in pairs)
            ok = err < 0.25
        else:
            err = np.max(np.abs(np.concatenate(theirs) - np.concatenate(ours)))
            ok = err < 1e-10
        ref = "torch (relative to s_max)" if peer == "torch reflectors" else "initlab"
        print(f"  {peer} vs {ref}: max |difference| {err:.1e}")
        if not ok:
            raise SystemExit(f"{peer} does not compute initlab's numbers ({name})")


def bench(name: str, smoke: bool, rounds: int, nt_python: str | None) -> None:
    print(f"-- {name}: {CASES[name].__doc__}")
    contenders = CASES[name](smoke, nt_python)
    if contenders is None:
        return
    times: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}  # this process's CPU seconds
    nt: list[list[dict]] = []
    for r in range(rounds):
        results = {}
        for who, fn in contenders.items():
            t0, c0 = time.perf_counter(), time.process_time()
            results[who] = fn()
            times[who].append(time.perf_counter() - t0)
            cpu[who].append(time.process_time() - c0)
        if r == 0:
            check(name, results)
        if "neural-tangents" in results:
            nt.append(results["neural-tangents"])
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in times.items())
              + f"; load {load()}")  # fmt: skip
    base = times["initlab"]
    series = {k: v for k, v in times.items() if k != "initlab" and k != "neural-tangents"}
    if nt:
        print(f"  neural-tangents with JAX {nt[0][0]['jax']} (jit, float64, 1 thread):")
        labels = {"compiled": "compiled", "first": "first call, compilation included",
                  "process": "whole process, start-up included"}  # fmt: skip
        for key, label in labels.items():
            series[f"neural-tangents {label}"] = [sum(run[key] for run in rnd) for rnd in nt]
    in_process = {f"{k}, process time": cpu[k] for k in series if k in contenders}
    for who, t in {**series, **in_process}.items():  # process time: less sensitive to load
        rs = ratios(t, cpu["initlab"] if who in in_process else base)
        print(f"  {who} / initlab: {spread(rs, '.2f', 'x')}")
    if name == "jacobian":
        jacobian_breakdown(smoke)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--nt-python", help="a Python interpreter with neural-tangents (kernels)")
    args = p.parse_args()
    set_threads(args.threads)
    header("the theory studies beside their peers (float64)", args.threads)
    rounds = 1 if args.smoke else args.rounds
    for name in args.only:
        bench(name, args.smoke, rounds, args.nt_python)


if __name__ == "__main__":
    main()
