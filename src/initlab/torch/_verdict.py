r"""The audit's theory, verdicts and fixes, from a :class:`~initlab.torch._probe.Probe`.

**Theory** (mean field, :mod:`initlab.analysis.theory`). Layers form *chains*: a Linear or
Conv layer whose input is the previous layer's output through an activation initlab knows
(tanh, sigmoid, ReLU, leaky ReLU) or directly. Along a chain, with the layers' own
:math:`\sigma_w^2 = n_{in}\overline{W^2}` and :math:`\sigma_b^2 = \overline{b^2}`,

.. math::

    q_l = \sigma_{w,l}^2\, E_z[\phi(\sqrt{q_{l-1}} z)^2] + \sigma_b^2, \qquad
    \frac{\lVert dZ_{l}\rVert^2}{\lVert dZ_{l+1}\rVert^2} = \sigma_{w,l+1}^2
        E_z[\phi'(\sqrt{q_l} z)^2], \qquad
    \frac{g_l}{g_{l-1}} = \frac{N_l}{N_{l-1}} \sigma_{w,l}^2 E_z[\phi'(\sqrt{q_{l-1}} z)^2],

the second moment of the outputs (seeded at the chain's first layer by the measured input:
:math:`q = \sigma_w^2 \overline{x^2} + \sigma_b^2`, exact in expectation over the weights),
the squared gradient norms (seeded at the chain's last layer by the measured one), and the
Jacobian gains :math:`g_l` (:mod:`~initlab.torch._probe`; :math:`N_l` entries per example,
seeded by the measured gain at the chain's input). The same holds for convolutions (every
output sums :math:`n_{in}` = fan_in terms; zero padding lowers the border's variance).
Inside residual blocks the theory covers each branch's chain; the stream is measured.

**Verdicts.** A layer is compared with the layers of the same role (its name with the
block's prefix dropped, e.g. ``linear1`` of ``encoder.layers.3.linear1``; layers outside
blocks form one role): its output second moment with the first of its role and its
gradient norm with the last of its role (the one nearest the loss). Outside
:math:`[1/F, F]` (:data:`FACTOR`) it is ``exploding`` or ``vanishing``; before that, a
layer with more than :data:`DEAD` of its units dead is ``dead`` and with more than
:data:`SATURATED` of its entries saturated ``saturated``; else ``healthy``. Blocks are
judged the same way by their output stream and its gradient.

**Fixes**, as :func:`~initlab.torch.apply` rules. A chain of two layers or more with a
problem gets the critical point of its activations
(:func:`initlab.analysis.correlation.critical_line`, :math:`\chi_1 = 1`): ReLU-type units
:math:`\sigma_w^2 = 2/(1+a^2)`, linear units 1, :math:`\sigma_b^2 = 0` (He, LeCun); tanh
and sigmoid :math:`\sigma_b^2` = :data:`FIX_SIGMA_B2` and the matching :math:`\sigma_w^2`
(a finite :math:`q^*`: the signal neither dies nor saturates), the chain's first layer
scaled so that its output sits at :math:`q^*`; only layers whose :math:`\sigma_w^2` or
:math:`\sigma_b^2` is more than 10% off get a rule. When a block has a problem, or a layer
outside the blocks of a model that has some (its stem, its head) has one, every block gets
depth-scaled residual branches: the last layer of each branch (the block's last layer
called, and a ``MultiheadAttention``'s ``out_proj``) drawn with :math:`\sigma_w^2 = c/L`
for :math:`L` blocks (:math:`c` the critical value of its input's activation, 1 if none)
and its bias 0 (a constant added by every block would take over the stream): each block
adds :math:`O(1/L)` to the stream (Hayou et al. 2021; the ``depth`` branch scaling of
:mod:`initlab.nn.residual`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from initlab.analysis import correlation as _correlation
from initlab.analysis import theory as _theory
from initlab.nn import activations as _activations
from initlab.torch._apply import CONV
from initlab.torch._probe import BlockProbe, LayerProbe, Probe

FACTOR = 10.0
"""A layer whose output second moment or squared gradient norm differs from its role's
reference by more than this factor (a decade; a factor 3.2 in the norms) is ``exploding``
or ``vanishing``."""
DEAD = 0.5
"""Fraction of dead units above which a layer is ``dead``."""
SATURATED = 0.5
"""Fraction of saturated entries above which a layer is ``saturated``."""
FIX_SIGMA_B2 = 0.05
r""":math:`\sigma_b^2` of the critical point proposed for tanh and sigmoid chains."""
_MAX_Q = 1e20  # the range of initlab's Gaussian quadrature (meanfield.gaussian_expectation)
_THEORY_TYPES = ("Linear", *(c.__name__ for c in CONV))


def _act(spec: dict[str, Any] | None) -> _activations.Activation:
    return _activations.get("linear") if spec is None else _activations.get(spec)


def chains(probe: Probe) -> list[list[LayerProbe]]:
    """The layers grouped into chains (module docstring), each in forward order."""
    by_name = {r.name: r for r in probe.layers}
    out: list[list[LayerProbe]] = []
    where: dict[str, int] = {}
    for r in probe.layers:
        prev = by_name.get(r.source[0]) if r.source else None
        linked = (
            r.type in _THEORY_TYPES and prev is not None and prev.type in _THEORY_TYPES
            and (r.source[1] is None or prev.act_spec is not None) and prev.name in where
            and out[where[prev.name]][-1] is prev
        )  # fmt: skip
        if linked:
            out[where[prev.name]].append(r)
            where[r.name] = where[prev.name]
        elif r.type in _THEORY_TYPES:
            where[r.name] = len(out)
            out.append([r])
    return out


def _phi_in(prev: LayerProbe, r: LayerProbe) -> _activations.Activation:
    return _act(prev.act_spec if r.source and r.source[1] is not None else None)


def predict(probe: Probe) -> dict[str, dict[str, float | None]]:
    """Theory beside each chain layer: ``out_ms``, ``growth``, ``grad_n2``, ``jac``; a chain
    whose measured inputs are not finite (an overflowed forward pass) gets none."""
    pred: dict[str, dict[str, float | None]] = {}
    for chain in chains(probe):
        seeds = (chain[0].in_ms, chain[0].sigma_w2, chain[-1].grad_n2 or 0.0)
        if not all(math.isfinite(x) for x in seeds) or chain[0].in_ms > _MAX_Q:
            continue
        q = jac = None
        for i, r in enumerate(chain):
            if i == 0:
                q_in, e_d = r.in_ms, 1.0
                jac = None if r.jac_in is None else r.jac_in
            else:
                phi = _phi_in(chain[i - 1], r)
                q_in = float(_theory.gaussian_expectation(lambda u, p=phi: p.f(u) ** 2, q))
                e_d = float(_theory.gaussian_expectation(
                    lambda u, p=phi: p.df(u, p.f(u)) ** 2, q))  # fmt: skip
            q = min(r.sigma_w2 * q_in + r.sigma_b2, _MAX_Q)
            if jac is not None:
                jac = jac * e_d * r.sigma_w2 * r.numel_out / r.numel_in
            pred[r.name] = {"out_ms": q, "growth": q / r.in_ms if r.in_ms else None,
                            "jac": jac, "grad_n2": None}  # fmt: skip
        g = chain[-1].grad_n2
        for i in range(len(chain) - 2, -1, -1):
            nxt, r = chain[i + 1], chain[i]
            if g is None:
                break
            pred[nxt.name]["grad_n2"] = g
            phi = _phi_in(r, nxt)
            q = pred[r.name]["out_ms"]
            g = g * nxt.sigma_w2 * float(_theory.gaussian_expectation(
                lambda u, p=phi: p.df(u, p.f(u)) ** 2, q))  # fmt: skip
            pred[r.name]["grad_n2"] = g
    return pred


def role(name: str, block_names: Sequence[str]) -> str:
    """What `name` does in its block: its name inside the block (``"linear1"`` for
    ``encoder.layers.3.linear1``); ``""`` for layers outside blocks."""
    for b in sorted(block_names, key=len, reverse=True):
        if name.startswith(b + "."):
            return name[len(b) + 1 :]
    return ""


def _compare(x: float | None, ref: float | None) -> str | None:
    if x is not None and not math.isfinite(x):
        return "exploding"  # overflowed
    if x is None or ref is None or not ref > 0 or not math.isfinite(ref):
        return None
    ratio = x / ref
    return "vanishing" if ratio < 1 / FACTOR else "exploding" if ratio > FACTOR else None


def _first_and_last(items, key) -> tuple[dict, dict]:
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for it in items:
        first.setdefault(key(it), it)
        last[key(it)] = it
    return first, last


def judge_layers(probe: Probe) -> dict[str, list[str]]:
    """Problems of each layer, most telling first (module docstring); [] if healthy."""
    names = [b.name for b in probe.blocks]
    first, last = _first_and_last(probe.layers, lambda r: role(r.name, names))
    out = {}
    for r in probe.layers:
        k = role(r.name, names)
        found = []
        if r.dead is not None and r.dead > DEAD:
            found.append("dead")
        if r.saturated is not None and r.saturated > SATURATED:
            found.append("saturated")
        found += [v for v in (_compare(r.out_ms, first[k].out_ms),
                              _compare(r.grad_n2, last[k].grad_n2)) if v]  # fmt: skip
        out[r.name] = list(dict.fromkeys(found))
    return out


def judge_blocks(blocks: Sequence[BlockProbe]) -> dict[str, list[str]]:
    """Problems of each block: its output stream against the first block's, its gradient
    against the last block's."""
    if not blocks:
        return {}
    f, l = blocks[0], blocks[-1]
    return {b.name: list(dict.fromkeys(v for v in (_compare(b.out_ms, f.out_ms),
                                                   _compare(b.grad_n2, l.grad_n2)) if v))
            for b in blocks}  # fmt: skip


def verdict(problems: Sequence[str]) -> str:
    return problems[0] if problems else "healthy"


def _variance(sigma_w2: float) -> dict[str, Any]:
    return {"name": "variance_scaling", "scale": round(sigma_w2, 6), "mode": "fan_in",
            "distribution": "normal"}  # fmt: skip


def _critical(act: _activations.Activation, bias: bool) -> tuple[float, float, float]:
    """``(sigma_w2, sigma_b2, q*)`` of `act`'s critical point (module docstring)."""
    b2 = FIX_SIGMA_B2 if act.name in ("tanh", "sigmoid") and bias else 0.0
    if act.name == "linear":
        return 1.0, 0.0, math.inf
    point = _correlation.critical_line(act, [b2])[0]
    return point.sigma_w2, b2, point.q_star


def _off(x: float, target: float) -> bool:
    return abs(x - target) > 0.1 * target


def chain_rules(chain: list[LayerProbe], has_bias: dict[str, bool]) -> list[tuple[str, Any]]:
    """Rules putting `chain` at the critical point of its activations (module docstring)."""
    rules: list[tuple[str, Any]] = []
    for i, r in enumerate(chain):
        own = _act(r.act_spec) if r.act_spec else _activations.get("linear")
        phi = own if i == 0 else _phi_in(chain[i - 1], r)
        w2, b2, q_star = _critical(phi, has_bias[r.name])
        if i == 0 and math.isfinite(q_star) and q_star > 0 and r.in_ms > 0:
            w2 = (q_star - b2) / r.in_ms  # start at the fixed point
        bias_off = abs(r.sigma_b2 - b2) > 0.1 * max(b2, r.out_ms)
        if _off(r.sigma_w2, w2) or (has_bias[r.name] and bias_off):
            rules.append((f"{r.name}.weight", _variance(w2)))
            if has_bias[r.name]:
                bias = {"name": "normal", "std": round(math.sqrt(b2), 6)} if b2 else "zeros"
                rules.append((f"{r.name}.bias", bias))
    return rules


def residual_rules(
    probe: Probe, ends: dict[str, list[str]], has_bias: dict[str, bool]
) -> list[tuple[str, Any]]:
    """Depth-scaled branch ends for every block, their biases 0 (module docstring); `ends`
    maps a block to the modules ending its branches."""
    L = len(probe.blocks)
    by_name = {r.name: r for r in probe.layers}
    rules: list[tuple[str, Any]] = []
    for b in probe.blocks:
        for end in ends.get(b.name, []):
            r = by_name.get(end)
            prev = by_name.get(r.source[0]) if r is not None and r.source else None
            c = 1.0
            if prev is not None and r.source[1] is not None and prev.act_spec is not None:
                c = _critical(_act(prev.act_spec), False)[0]
            rules.append((f"{end}.weight", _variance(c / L)))
            if has_bias.get(end):
                rules.append((f"{end}.bias", "zeros"))
    return rules
