r"""``initlab verify``: the published numbers initlab reproduces, checked on this machine.

Each check returns a :class:`Claim`: what is claimed, the published number, what this
machine measured, and whether it holds. Deterministic numbers are held to their digits;
numbers of random networks to a bound stated in the check (finite width, few networks);
chaotic runs by their verdict over replicas (:mod:`initlab.studies.post`). The whole
list (:func:`claims`) takes about a minute on a laptop. The PyTorch parity check lives in
:mod:`initlab.torch.parity` (this package does not import torch).

References: Dabbura's post (zeros, random x 10, He, Xavier); Schoenholz, Gilmer, Ganguli,
Sohl-Dickstein (2017), *Deep information propagation*; Glorot & Bengio (2010); He, Zhang,
Ren, Sun (2015), *Delving deep into rectifiers*; Pennington, Schoenholz, Ganguli (2017,
2018), products of random matrices; Saxe, McClelland, Ganguli (2014); Yang & Hu (2021),
*Tensor Programs IV* (muP).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from initlab.studies import post as _post


@dataclass(frozen=True)
class Claim:
    """One checked claim: ``claim | published | this machine | verdict``."""

    claim: str
    published: str
    measured: str
    holds: bool

    @property
    def verdict(self) -> str:
        return "holds" if self.holds else "FAILS"


def _same_digits(a: float, b: float, digits: int = 8) -> bool:
    return abs(a - b) <= 0.5 * 10 ** (1 - digits) * abs(b)


def post_claims(data: str, replicas: int = _post.REPLICAS) -> list[Claim]:
    """The post on its images at `data`: zeros' and random x 10's printed costs and
    accuracies (8 significant digits), and the verdict over `replicas` replicas that He
    and Xavier train while zeros and random x 10 do not."""
    from initlab.execution import runner
    from initlab.specs import spec

    s = spec.parse(_post.post_spec(data, replicas=replicas))
    s.training = _no_diagnostics(s.training)
    results = runner.run(s, jobs=1)
    runs = {r["name"]: r for r in results["runs"] if r["replicate"] == 0}
    out = []
    for name, costs in _post.POST_COSTS.items():
        ours = [float(runs[name]["cost_history"][i]) for i in range(99, 1000, 100)]
        worst = max(abs(o - p) / p for o, p in zip(ours, costs, strict=True))
        acc, published = runs[name]["train_accuracy"], _post.POST_ACCURACY[name]
        same = all(_same_digits(o, p) for o, p in zip(ours, costs, strict=True))
        out.append(Claim(
            f"post: {name} init's costs at 100..1000 iterations (8 digits) and accuracy",
            f"{costs[-1]:.8g} ... ; {100 * published:.0f}%",
            f"{ours[-1]:.8g} (worst rel. diff {worst:.1e}); {100 * acc:.0f}%",
            same and acc == published,
        ))  # fmt: skip
    for v in _post.verdicts(results):
        expected = v.name in ("he", "xavier")
        out.append(Claim(
            f"post: {v.name} {'trains' if expected else 'does not train'} (most of "
            f"{v.n} replicas reach >= {100 * _post.VERDICT_AT:.0f}%)",
            f"{100 * v.published:.0f}%" if v.published is not None else "-",
            f">= 90% in {100 * v.trained:.0f}%, >= 99% in {100 * v.reached:.0f}% "
            f"[{100 * v.reached_low:.0f}, {100 * v.reached_high:.0f}]; median "
            f"{100 * v.median:.0f}%",
            v.trains == expected,
        ))  # fmt: skip
    return out


def _no_diagnostics(training):
    from dataclasses import replace

    return replace(training, diagnostics=False)


def critical_claim() -> Claim:
    """Schoenholz et al.: tanh's critical sigma_w^2 at sigma_b^2 = 0.05 is 1.76."""
    from initlab.analysis.correlation import critical_line

    w2 = critical_line("tanh", [0.05])[0].sigma_w2
    return Claim("Schoenholz et al.: tanh critical sigma_w^2 at sigma_b^2 = 0.05", "1.76",
                 f"{w2:.5f}", round(w2, 2) == 1.76)  # fmt: skip


def depth_scale_claim() -> Claim:
    r"""Schoenholz et al. eq. (9): :math:`\xi_c = -1/\ln \chi_c` is the rate at which the
    iterated correlation map approaches :math:`c^*`, at tanh points on both sides of the
    critical line; and :math:`\xi_c = \infty` on it. Measured: the map iterated from
    :math:`c^* \pm 10^{-4}`, its contraction per layer, to 1e-3 relative."""
    from initlab.analysis import correlation as C

    parts, ok = [], True
    for w2 in (1.5, 3.0):
        d = C.depth_scales("tanh", w2, 0.05)
        c = d.c_star
        near = c - 1e-4 if c == 1.0 else c + 1e-4
        rate = (C.correlation_map("tanh", w2, 0.05, near) - c) / (near - c)
        xi = -1 / math.log(rate)
        ok &= abs(xi - d.xi_c) <= 1e-3 * d.xi_c
        parts.append(f"{w2:g}: {d.xi_c:.3f} vs map {xi:.3f}")
    at = C.depth_scales("tanh", C.critical_line("tanh", [0.05])[0].sigma_w2, 0.05)
    ok &= at.xi_c == math.inf
    return Claim("Schoenholz et al.: xi_c = -1/ln chi_c at sigma_w^2 = 1.5, 3 (tanh, "
                 "sigma_b^2 = 0.05); infinite at 1.76", "-1/ln chi_c; inf at criticality",
                 "; ".join(parts) + f"; at 1.76: {at.xi_c}", ok)  # fmt: skip


def glorot_claim() -> Claim:
    r"""Glorot & Bengio (2010): in the linear regime each layer multiplies the variance by
    :math:`n \mathrm{Var}[W]`: 1/3 for the standard :math:`U[\pm 1/\sqrt n]`, 1 for the
    normalized (Glorot) init at equal widths. Measured on 4 linear networks of width 500 and
    5 layers, geometric mean per layer; holds within 5%."""
    from initlab.analysis.theory import measure

    standard = {"name": "variance_scaling", "scale": 1 / 3, "mode": "fan_in",
                "distribution": "uniform"}  # fmt: skip
    ratios = []
    for init in (standard, "glorot_uniform"):
        q = measure([500] * 6, init, "linear", members=4, m=64).q_members.mean(axis=0)
        ratios.append(float((q[-1] / q[0]) ** (1 / (len(q) - 1))))
    ok = abs(ratios[0] - 1 / 3) <= 0.05 / 3 and abs(ratios[1] - 1) <= 0.05
    return Claim("Glorot & Bengio: variance ratio per layer, standard vs normalized init",
                 "1/3 and 1", f"{ratios[0]:.4f} and {ratios[1]:.4f}", ok)  # fmt: skip


def he_claim() -> Claim:
    r"""He et al. (2015), eq. (10): a 30-layer ReLU network keeps its variance with
    :math:`\mathrm{Var}[W] = 2/n` and loses :math:`2^{-29}` of it from layer 1 to 30 with
    :math:`1/n` (the post's Xavier). Measured: the mean of :math:`Z_l^2` on 4 networks of
    width 256 and 64 inputs :math:`N(0, 1)`; holds within a factor 2 (log2 within 1: at
    finite width each layer's ratio fluctuates by about :math:`\sqrt{2/n}`, and 29 of them
    compound)."""
    from initlab.init.catalogue import get
    from initlab.nn.activations import get as activation

    relu, n, got = activation("relu"), 256, []
    for init in ("he", "xavier"):
        draw, ratios = get(init), []
        for rng in (np.random.default_rng((30, k)) for k in range(4)):
            A = rng.standard_normal((n, 64))
            q = []
            for _ in range(30):
                Z = draw((n, n), rng) @ A
                q.append(float(np.mean(Z * Z)))
                A = relu(Z)
            ratios.append(q[-1] / q[0])
        got.append(float(np.mean(ratios)))
    ok = abs(math.log2(got[0])) <= 1 and abs(math.log2(got[1]) + 29) <= 1
    return Claim("He et al.: 30-layer ReLU, variance of layer 30 over layer 1, He vs 1/n",
                 "1 and 2^-29 = 1.9e-09", f"{got[0]:.3f} and {got[1]:.2g}", ok)  # fmt: skip


def jacobian_claim() -> Claim:
    r"""Pennington et al.: the squared singular values of a product of L Gaussian
    :math:`N(0, 1/N)` matrices have mean 1 and variance L; of orthogonal ones, variance 0.
    Measured: L = 4, N = 300, 3 products; mean within 3%, variance within 15% of L (the
    finite-N bias is :math:`L(L+1)/N`)."""
    from initlab.analysis.jacobian import jacobian_spectra

    lam = {w: jacobian_spectra("linear", 1.0, 0.0, depths=(4,), width=300, weights=w,
                               members=3, seed=1).singular_values[:, 0] ** 2
           for w in ("gaussian", "orthogonal")}  # fmt: skip
    mean, var = float(lam["gaussian"].mean()), float(lam["gaussian"].var(axis=-1).mean())
    var_o = float(lam["orthogonal"].var(axis=-1).mean())
    ok = abs(mean - 1) <= 0.03 and abs(var - 4) <= 0.15 * 4 and var_o <= 1e-20
    return Claim("Pennington et al.: Jacobian s^2 of 4 layers, Gaussian mean/var, orthogonal var",
                 "1 / 4; 0", f"{mean:.3f} / {var:.3f}; {var_o:.1e}", ok)  # fmt: skip


def saxe_claim() -> Claim:
    """Saxe et al. (2014): with orthogonal weights the learning time of a deep linear
    network does not grow with depth (at rate eta_0 / D); Gaussian weights learn ever more
    slowly. initlab's study at depths 8 and 16: orthogonal within a factor 2, Gaussian
    slower by more than 3 (or not within its 400 steps)."""
    from initlab.studies import deeplinear

    t = deeplinear.run(deeplinear.DeepLinearConfig(depths=(8, 16)))["time"]
    o, g = t["orthogonal"], t["gaussian"]
    g32 = math.inf if g[1] is None else g[1]
    ok = o[1] is not None and o[1] <= 2 * o[0] and g[0] is not None and g32 > 3 * g[0]
    shown = lambda v: "> 400" if v is None else f"{v:g}"  # noqa: E731
    return Claim("Saxe et al.: deep linear learning time at depth 8 -> 16 (steps)",
                 "orthogonal: depth-independent; Gaussian: grows",
                 f"orthogonal {shown(o[0])} -> {shown(o[1])}; "
                 f"gaussian {shown(g[0])} -> {shown(g[1])}", ok)  # fmt: skip


def mup_claim() -> Claim:
    """Tensor Programs IV: under muP every layer's activation size is flat in width after
    an SGD step (fitted slope within the band), under SP the output's grows."""
    from initlab.analysis.coordcheck import DEFAULT_BAND
    from initlab.studies import scaling

    c = scaling.coord_check((32, 64, 128, 256), ("sp", "mup"), optimizer="sgd", base_width=32,
                            learning_rate=0.5, steps=2, seeds=range(4), n_examples=64)  # fmt: skip
    rows = c.rows("size")
    mup = max(abs(r.slope) for r in rows["mup"] if r.step >= 1)
    sp = min(r.slope for r in rows["sp"] if r.step >= 1 and r.layer == "output")
    return Claim("Yang & Hu (muP): coordinate check, widths 32..256, |slope| after SGD steps",
                 f"muP: <= {DEFAULT_BAND}; SP output: grows",
                 f"muP max {mup:.3f}; SP output min {sp:.3f}",
                 mup <= DEFAULT_BAND < sp)  # fmt: skip


CHECKS: list[Callable[[], Claim]] = [
    critical_claim, depth_scale_claim, glorot_claim, he_claim, jacobian_claim, saxe_claim,
    mup_claim,
]  # fmt: skip
"""The checks that need no data set, in the order printed."""


def claims(data: str | None, *, replicas: int = _post.REPLICAS,
           quick: bool = False) -> Iterable[Claim]:  # fmt: skip
    """Every claim, as each is checked: the post's (when `data`, its images, is given),
    then :data:`CHECKS` (`quick`: without the slowest, Saxe's and muP's)."""
    if data is not None:
        yield from post_claims(data, replicas)
    for check in CHECKS:
        if quick and check in (saxe_claim, mup_claim):
            continue
        with np.errstate(all="ignore"):
            yield check()
