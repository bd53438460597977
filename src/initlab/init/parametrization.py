r"""Width parametrizations (SP, NTK, muP) as abc-parametrizations: one table, the single source.

An abc-parametrization (Yang & Hu 2021, "Tensor Programs IV", Sec. 3) of an MLP of hidden width
:math:`n` writes each layer's weights as a multiplier times a trained parameter,

.. math::

    W_l = n^{-a_l}\, w_l, \qquad w_l \sim \mathcal N(0,\, n^{-2 b_l}), \qquad
    \text{learning rate of } w_l = \eta\, n^{-c_l},

with the input layer (fan-in :math:`d` fixed), the hidden layers (both dimensions :math:`n`)
and the readout (fan-out fixed) each having their own :math:`(a, b, c)`. The constant factors
(:math:`1/d`, an activation's gain) are the initializer's; the table states only how things
scale with :math:`n`.

**Symmetry, and how initlab trains a parametrization.** For any :math:`\theta`,
:math:`(a, b, c) \to (a + \theta,\; b - \theta,\; c - 2\theta)` leaves SGD's function and
trajectory unchanged, and :math:`c \to c - \theta` does for Adam (Tensor Programs V, Sec. 3 and
Table 3). With :math:`\theta = -a_l`, every layer becomes a plain layer (multiplier 1) whose
*effective* weights :math:`W_l` are drawn with standard deviation :math:`n^{-(a_l + b_l)}` and
trained at

.. math::

    \eta_l^{\mathrm{SGD}} = \eta\, n^{-(2 a_l + c_l)}, \qquad
    \eta_l^{\mathrm{Adam}} = \eta\, n^{-(a_l + c_l^{\mathrm{Adam}})}.

So initlab's networks need no multiplier concept: a parametrization is an initial-weight
rescaling plus a per-layer learning-rate multiplier (the core's ``layer_lr_scale``). For Adam
the equivalence is exact except for :math:`\epsilon`: Adam on :math:`w_l` with
:math:`\epsilon` equals Adam on :math:`W_l` with :math:`\epsilon\, n^{a_l}`. initlab uses one
:math:`\epsilon` for every layer, which is exactly Tensor Programs V's Table 3 (a formulation
with no multipliers); the ``mup`` package's ``MuReadout`` (multiplier :math:`1/n`) differs
from it only in the readout's effective :math:`\epsilon`.

**Base width.** Widths enter as the ratio :math:`r = n / n_0` to a base width :math:`n_0`
(the ``mup`` package's ``width_mult``). A network is first drawn by the chosen initializer
(the standard parametrization, SP) and each layer is then rescaled *relative to SP*:

.. math::

    \sigma_l = \sigma_l^{\mathrm{SP}}\; r^{-(a_l + b_l) + (a_l + b_l)^{\mathrm{SP}}}, \qquad
    \eta_l = \eta\; r^{-(2a_l + c_l)} \;\; (\text{SGD}), \qquad
    \eta_l = \eta\; r^{-(a_l + c^{\mathrm{Adam}}_l)} \;\; (\text{Adam}).

At :math:`n = n_0` every factor is exactly 1.0, so a network of width :math:`n_0` under muP is
the SP network bit for bit (tested). Biases are initialized to zero (initlab's convention) and
follow muP's rule for "input weights and all biases" (TP V Table 3): their learning rate is
scaled as the input layer's (:math:`\times r` for SGD, 1 for Adam); the readout's bias has no
width dimension and keeps :math:`\eta`.

References
----------
G. Yang, E. J. Hu, "Tensor Programs IV: Feature Learning in Infinite-Width Neural Networks",
ICML 2021 (abc-parametrizations, Sec. 3; muP, Def. 5.1).
G. Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer", 2022 (Table 3: muP for SGD and Adam as initial variances and learning rates).
A. Jacot, F. Gabriel, C. Hongler, "Neural Tangent Kernel", NeurIPS 2018 (NTK parametrization).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.init import draws as _draws
from initlab.init.depth import depth_lr_factor
from initlab.nn.residual import ResMLP

KINDS = ("input", "hidden", "output", "bias", "output_bias")
"""Parameter kinds: input-layer weights, hidden weights, readout weights, biases of the
width-sized layers, and the readout's bias."""
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class Rule:
    r"""One parameter kind's exponents: multiplier :math:`n^{-a}`, init std :math:`n^{-b}`,
    learning rate :math:`\eta n^{-c}` under SGD and :math:`\eta n^{-c_{Adam}}` under Adam."""

    a: float
    b: float
    c_sgd: float
    c_adam: float

    def init_exponent(self) -> float:
        """Exponent of :math:`n` in the effective weights' standard deviation."""
        return -(self.a + self.b)

    def lr_exponent(self, optimizer: str) -> float:
        """Exponent of :math:`n` in the effective learning rate."""
        if optimizer == "sgd":
            return -(2 * self.a + self.c_sgd)
        return -(self.a + self.c_adam)


@dataclass(frozen=True)
class Parametrization:
    """A named abc-parametrization: one :class:`Rule` per kind of :data:`KINDS`."""

    name: str
    title: str
    rules: dict[str, Rule]
    reference: str


_H = 0.5
PARAMETRIZATIONS: dict[str, Parametrization] = {
    "sp": Parametrization(
        "sp",
        "standard",
        {
            "input": Rule(0, 0, 0, 0),
            "hidden": Rule(0, _H, 0, 0),
            "output": Rule(0, _H, 0, 0),
            "bias": Rule(0, 0, 0, 0),
            "output_bias": Rule(0, 0, 0, 0),
        },
        "Yang & Hu 2021, Sec. 3 (SP); every framework's default",
    ),
    "ntk": Parametrization(
        "ntk",
        "neural tangent",
        {
            "input": Rule(0, 0, 0, 0),
            "hidden": Rule(_H, 0, 0, 0),
            "output": Rule(_H, 0, 0, 0),
            "bias": Rule(0, 0, 0, 0),
            "output_bias": Rule(0, 0, 0, 0),
        },
        "Jacot et al. 2018; Yang & Hu 2021, Sec. 3 (NTP); Adam column: c = 0 as for SGD",
    ),
    "mup": Parametrization(
        "mup",
        "maximal update",
        {
            "input": Rule(-_H, _H, 0, _H),
            "hidden": Rule(0, _H, 0, 1),
            "output": Rule(_H, _H, 0, _H),
            "bias": Rule(-_H, _H, 0, _H),
            "output_bias": Rule(0, 0, 0, 0),
        },
        "Yang & Hu 2021, Def. 5.1 (SGD); Yang et al. 2022, Table 3 (SGD and Adam)",
    ),
}


def get(name: str | Parametrization) -> Parametrization:
    """The parametrization `name` (``"sp"``, ``"ntk"`` or ``"mup"``)."""
    if isinstance(name, Parametrization):
        return name
    if name not in PARAMETRIZATIONS:
        raise unknown_name("parametrization", name, PARAMETRIZATIONS)
    return PARAMETRIZATIONS[name]


def available() -> list[str]:
    """Names of the parametrizations."""
    return list(PARAMETRIZATIONS)


@dataclass(frozen=True)
class LayerScales:
    """Per-layer factors relative to SP for one width, in layer order ``1..L``.

    Attributes
    ----------
    init : tuple of float (L,)
        Multiplies the SP-initialized ``W_l``.
    lr : tuple of float (L,)
        Multiplies the learning rate of ``W_l``.
    bias_lr : tuple of float (L,)
        Multiplies the learning rate of ``b_l``.
    width, base_width : int
    """

    init: tuple[float, ...]
    lr: tuple[float, ...]
    bias_lr: tuple[float, ...]
    width: int
    base_width: int


def hidden_width(layer_sizes: Sequence[int]) -> int:
    """The one hidden width ``n`` of ``[d, n, ..., n, d_out]`` (all hidden layers equal)."""
    hidden = {int(n) for n in layer_sizes[1:-1]}
    if len(layer_sizes) < 3 or len(hidden) != 1:
        raise InitlabError(
            f"a width parametrization needs at least one hidden layer and all hidden layers of "
            f"one width n, as [d, n, ..., n, d_out]; got layer_sizes {list(layer_sizes)}"
        )
    return hidden.pop()


def layer_kinds(n_layers: int) -> list[str]:
    """``["input", "hidden", ..., "output"]`` for `n_layers` weight layers (at least 2)."""
    return ["input", *["hidden"] * (n_layers - 2), "output"]


def layer_scales(
    parametrization: str | Parametrization,
    layer_sizes: Sequence[int],
    base_width: int,
    optimizer: str = "sgd",
) -> LayerScales:
    r"""Init and learning-rate factors, relative to SP, of each layer at width ``n``.

    .. math::

        \text{init}_l = r^{-(a_l+b_l) + (a_l+b_l)^{SP}}, \quad
        \text{lr}_l = r^{-(2a_l + c_l)} \text{ (SGD)}, \;\; r^{-(a_l + c^{Adam}_l)} \text{ (Adam)},
        \quad r = n / n_0.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[d, n, ..., n, d_out]``.
    base_width : int
        :math:`n_0`, the width at which the parametrization equals SP exactly.
    optimizer : {"sgd", "adam"}
        Which learning-rate column (momentum is SGD-like, AdamW Adam-like).
    """
    p = get(parametrization)
    n = hidden_width(layer_sizes)
    n0 = int(check_number("base_width", base_width, low=1, integer=True))
    if optimizer not in OPTIMIZERS:
        raise unknown_name("optimizer column", optimizer, OPTIMIZERS)
    sp = PARAMETRIZATIONS["sp"].rules
    r = n / n0
    kinds = layer_kinds(len(layer_sizes) - 1)

    def power(e: float) -> float:
        return 1.0 if e == 0 else float(r**e)  # exactly 1.0 at r = 1 or a zero exponent

    init = [
        power(p.rules[k].init_exponent() - sp[k].init_exponent()) for k in kinds
    ]  # fmt: skip
    lr = [power(p.rules[k].lr_exponent(optimizer)) for k in kinds]
    bias_kinds = ["bias"] * (len(kinds) - 1) + ["output_bias"]
    bias_lr = [power(p.rules[k].lr_exponent(optimizer)) for k in bias_kinds]
    return LayerScales(tuple(init), tuple(lr), tuple(bias_lr), n, n0)


def rescale_weights(weights: Sequence[np.ndarray], scales: LayerScales) -> list[np.ndarray]:
    """``W_l * init_l`` for SP-initialized weights (a copy; a factor 1.0 copies exactly)."""
    if len(weights) != len(scales.init):
        raise InitlabError(f"{len(weights)} weight layers for {len(scales.init)} scales")
    return [W * np.asarray(s, dtype=W.dtype) for W, s in zip(weights, scales.init, strict=True)]


def _fmt(e: float) -> str:
    if e == 0:
        return "1"
    frac = {0.5: "^{1/2}", 1.0: "", 1.5: "^{3/2}", 2.0: "^{2}"}
    inv = "n" + frac[abs(e)]
    return f"${inv}$" if e > 0 else f"$1/{inv}$"


def markdown_table() -> str:
    """The table of docs/scaling.md: each parametrization's a, b, c and the effective scalings.

    Columns: the abc exponents, then the effective weights' init standard deviation relative
    to :math:`1/\\sqrt{\\text{fan-in}}` and the effective SGD and Adam learning rates, each as a
    power of :math:`n` (the base width divides :math:`n` in practice).
    """
    cols = ["parametrization", "parameter", "a", "b", "c (SGD)", "c (Adam)"]
    cols += ["init std ×", "SGD lr ×", "Adam lr ×"]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    sp = PARAMETRIZATIONS["sp"].rules
    for p in PARAMETRIZATIONS.values():
        for kind, rule in p.rules.items():
            rel = rule.init_exponent() - sp[kind].init_exponent()
            rows.append(
                f"| {p.name} | {kind} | {rule.a:g} | {rule.b:g} | {rule.c_sgd:g} | "
                f"{rule.c_adam:g} | {_fmt(rel)} | {_fmt(rule.lr_exponent('sgd'))} | "
                f"{_fmt(rule.lr_exponent('adam'))} |"
            )
    return "\n".join(rows)


def param_scales(
    model: ResMLP,
    parametrization: str | Parametrization,
    base_width: int,
    optimizer: str,
    base_depth: int | None = None,
) -> tuple[list[float], list[float]]:
    """Init and learning-rate factors relative to SP for each of ``model.params``.

    Weights take their layer's factors (:func:`layer_scales`), biases the bias column, the
    learnable branch multipliers (no width dimension) 1; with `base_depth`, the blocks'
    parameters are also multiplied by :func:`depth_lr_factor`.
    """
    n = model.params[0].shape[1]
    d, d_out = model.params[0].shape[2], model.params[-2 - model.learnable].shape[1]
    n_layers = 2 + model.depth * model.branch_layers
    sc = layer_scales(parametrization, [d, *[n] * (n_layers - 1), d_out], base_width, optimizer)
    layer = iter(range(n_layers))
    init, lr = [], []
    for kind in model.kinds():
        if kind in ("input", "hidden", "output"):
            l = next(layer)
            init.append(sc.init[l])
            lr.append(sc.lr[l])
        else:
            init.append(1.0)
            lr.append(sc.bias_lr[-1] if kind == "output_bias" else 1.0 if kind == "scalar"
                      else sc.bias_lr[0])  # fmt: skip
    if base_depth is not None:
        f = depth_lr_factor(model.branch_scaling, model.depth, base_depth, optimizer)
        lr = [x * f if name[0] in "Vc" else x for x, name in zip(lr, model.names(), strict=True)]
    return init, lr


def init_model(
    sizes: tuple[int, int, int],
    seeds: Sequence[int],
    *,
    depth: int = 1,
    parametrization: str | Parametrization = "sp",
    base_width: int | None = None,
    init: str | Mapping[str, Any] = "he",
    activation: str = "relu",
    skip: bool = False,
    branch_layers: int = 1,
    branch_scaling: str = "constant",
    alpha: float = 1.0,
    zero_branch: bool = False,
    optimizer: str = "sgd",
    base_depth: int | None = None,
    dtype: Any = np.float64,
    weights: Sequence[np.ndarray] | None = None,
) -> tuple[ResMLP, list[float]]:
    r"""A population (one member per seed) under `parametrization`, and its lr factors.

    Member k draws ``W_in``, the blocks' ``V``s, ``W_out`` in order by `init` from
    ``make_rng(seeds[k])`` (a plain MLP gets :func:`initlab.init_network`'s weights; each
    distinct seed is drawn once, :mod:`initlab.init.draws`), biases zero; each weight is then
    multiplied by its init factor (:func:`param_scales`).

    Parameters
    ----------
    sizes : (d, n, d_out)
        Input features, width, outputs.
    base_width : int, optional
        :math:`n_0` (default: the width itself, i.e. SP's numbers for every parametrization).
    zero_branch : bool
        Zero each branch's last layer (SkipInit / Fixup): every block starts as the identity.
    optimizer : {"sgd", "adam"}
        Which learning-rate column; returned as one factor per parameter.
    base_depth : int, optional
        :math:`L_0`: scale the blocks' learning rates with the depth as the branch scaling
        requires (:func:`depth_lr_factor`; ``"depth"`` or ``"completep"``). None: no depth
        factor.
    weights : list of ndarray, optional
        These draws instead of drawing: :func:`initlab.init.draws.draw_weights`' arrays for
        the same sizes, seeds, depth, branch layers, init and dtype (the same bits), which
        become the model's (scaled in place). Populations of several parametrizations can so
        share one draw, each taking a copy.

    Returns
    -------
    model : ResMLP
    lr_scale : list of float
        The learning-rate factor of each of ``model.params``.
    """
    shapes = _draws.layer_shapes(sizes, depth, branch_layers)
    n, J = shapes[0][0], int(branch_layers)
    if not seeds:
        raise InitlabError("init_model needs at least one seed")
    if weights is None:
        Ws = _draws.draw_weights(sizes, seeds, depth=depth, branch_layers=J, init=init,
                                 dtype=dtype)  # fmt: skip
    else:
        Ws = _draws.check_weights(weights, shapes, len(seeds), dtype)
    if zero_branch:
        for l in range(depth):
            Ws[1 + l * J + J - 1][:] = 0.0
    params: list[np.ndarray] = []
    for W in Ws:
        params += [W, np.zeros((len(seeds), W.shape[1], 1), dtype=dtype)]
    if branch_scaling == "learnable":
        params.append(np.full((len(seeds), depth, 1), float(alpha), dtype=dtype))
    model = ResMLP(params, depth, J, activation, skip, branch_scaling, alpha)
    init_f, lr = param_scales(model, parametrization, n if base_width is None else base_width,
                              optimizer, base_depth)  # fmt: skip
    for p, f in zip(params, init_f, strict=True):
        if f != 1:  # x * 1 is x, bit for bit: SP's factors leave the draws as they are
            p *= np.asarray(f, dtype=p.dtype)  # in place: p * f's bits, no second array
    model.params = params
    return model, lr
