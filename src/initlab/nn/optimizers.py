r"""Optimizers: small update rules over the population axis, PyTorch's conventions.

A rule updates a list of parameter arrays in place from their gradients (each already
divided by the batch size). Every array has a leading population axis K, and every
hyperparameter is one value per member (a scalar is broadcast), so one population can
differ in momentum or betas as well as in learning rate. A member's numbers never depend on
its population: every operation is elementwise over members.

With :math:`g = \nabla J(\theta_t)`, learning rate :math:`\eta` (times the layer's
``layer_lr_scale`` :math:`s_l` for :math:`W_l`, and its ``bias_lr_scale`` :math:`s^b_l` for
:math:`b_l`, which defaults to :math:`s_l`) and weight decay :math:`\lambda`:

``gd`` / ``sgd`` / ``momentum`` (:class:`SGD`, as ``torch.optim.SGD``)
    .. math::

        g \leftarrow g + \lambda \theta, \quad
        b \leftarrow \begin{cases} g & t = 0 \\ \mu b + (1 - \tau) g & t > 0 \end{cases},
        \quad d = \begin{cases} g + \mu b & \text{Nesterov} \\ b \end{cases}, \quad
        \theta \leftarrow \theta - \eta d,

    with momentum :math:`\mu` (0 for ``gd`` and ``sgd``, 0.9 by default for ``momentum``)
    and dampening :math:`\tau` (0). With :math:`\mu = \lambda = 0` this is the post's
    :math:`\theta \leftarrow \theta - \eta g`. Each update is a linear combination of
    past gradients and of :math:`\theta`: the sample engine is exact (``linear = True``).
``adam`` / ``adamw`` (:class:`Adam`, as ``torch.optim.Adam`` / ``AdamW``)
    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g, \quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
        \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
        \frac{m}{\sqrt{v} / \sqrt{1-\beta_2^t} + \epsilon},

    (:math:`t = 1, 2, \dots`; :math:`\epsilon` added after the bias correction, as PyTorch
    does), with L2 decay :math:`g \leftarrow g + \lambda\theta` for Adam and decoupled decay
    :math:`\theta \leftarrow (1 - \eta\lambda)\theta` before the step for AdamW (default
    :math:`\lambda = 0.01`, PyTorch's). :math:`\sqrt{v}` is not linear: the update leaves
    the row space of the inputs, so the sample engine does not apply (``linear = False``).

Weight decay applies to every parameter, biases included (PyTorch's default when a model's
parameters are passed as one group).

References: I. Sutskever et al., "On the importance of initialization and momentum in deep
learning", ICML 2013 (momentum, Nesterov in PyTorch's form); D. P. Kingma and J. Ba, "Adam",
ICLR 2015; I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.nn.block_views import BlockViews, member_rows

Array = np.ndarray
PerMember = float | Sequence[float] | np.ndarray


def per_member(name: str, value: PerMember, K: int, **bounds: Any) -> np.ndarray:
    """`value` broadcast to ``(K,)`` float64, each entry checked by :func:`check_number`."""
    try:
        out = np.broadcast_to(np.asarray(value, dtype=np.float64), (K,)).copy()
    except (ValueError, TypeError):
        raise InitlabError(
            f"{name} must be a number or one per member ({K}); got {value!r}"
        ) from None
    for k, v in enumerate(out):
        check_number(f"{name}[{k}]" if K > 1 else name, v, **bounds)
    return out


def _column(values: np.ndarray, dtype: np.dtype) -> Array:
    """``(K,)`` float64 -> ``(K, 1, 1)`` in the parameters' dtype (one dtype in every product)."""
    return values.astype(dtype)[:, None, None]


@runtime_checkable
class Optimizer(Protocol):
    """An update rule. ``linear`` says whether the sample engine is exact under it."""

    name: str
    linear: ClassVar[bool]
    layer_lr_scale: tuple[float, ...] | None  # an optional bias_lr_scale is read if present

    def init_state(self, params: Sequence[Array], dtype: np.dtype) -> dict[str, Any]: ...

    def step(
        self, params: list[Array], grads: Sequence[Array], lrs: Sequence[Array], state: dict
    ) -> None: ...

    def plain(self, K: int) -> np.ndarray: ...


def freeze(state: dict[str, Any], k: int) -> None:
    """Zero member k's optimizer buffers (it has diverged; its parameters are zeroed too)."""
    for arrays in state.get("buffers", {}).values():
        for A in arrays:
            A[k] = 0.0


class Scratch:
    r"""Per-step temporaries of an update kept between steps: the expression ``x * y`` is
    written into a kept array of its own shape and dtype (``out=``), so a step allocates no
    parameter-sized array and the pages of the last step are reused (a fresh temporary of
    more than 32 MiB is a fresh ``mmap`` from glibc, zero-filled page by page at every step).

    The bits are those of the plain expressions: ``np.multiply(x, y, out=t)`` with ``t`` of
    ``np.result_type(x, y)`` and of the broadcast shape is the same elementwise operation, on
    the same operands, as ``x * y``. Arrays are kept by ``(slot, shape, dtype)``; a slot is
    reused by the next parameter of that shape, so an array of a slot is valid until the next
    request of that slot.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple, Array] = {}
        self._seen: dict[tuple, Array] = {}  # by the operands' shapes and types: no broadcasting

    @classmethod
    def of(cls, state: dict[str, Any]) -> Scratch:
        """The scratch arrays of an optimizer's state (made at the first step)."""
        return state.setdefault("scratch", cls())

    def get(self, slot: int, *operands: Array) -> Array:
        """A kept array for the result of an elementwise operation on `operands`."""
        seen = (slot, *[(x.shape, x.dtype) if isinstance(x, np.ndarray) else (type(x),)
                        for x in operands])  # fmt: skip
        out = self._seen.get(seen)
        if out is None:
            out = self._seen[seen] = self._of(slot, *operands)
        return out

    def _of(self, slot: int, *operands: Array) -> Array:
        shape = np.broadcast_shapes(*(np.shape(x) for x in operands))
        dtype = np.result_type(*operands)
        key = (slot, shape, dtype)
        out = self._kept.get(key)
        if out is None:
            out = self._kept[key] = np.empty(shape, dtype=dtype)
        return out

    def product(self, x: Array, y: Array, slot: int) -> Array:
        """``x * y`` in slot `slot`'s array."""
        return np.multiply(x, y, out=self.get(slot, x, y))


@dataclass(frozen=True)
class SGD:
    """Gradient descent with optional momentum, Nesterov and L2 weight decay."""

    name: str = "gd"
    momentum: PerMember = 0.0
    dampening: PerMember = 0.0
    nesterov: bool = False
    weight_decay: PerMember = 0.0
    layer_lr_scale: tuple[float, ...] | None = None
    bias_lr_scale: tuple[float, ...] | None = None
    linear: ClassVar[bool] = True

    def hyper(self, K: int) -> dict[str, np.ndarray]:
        """The hyperparameters per member, validated, float64 ``(K,)``."""
        hp = {
            "momentum": per_member("momentum", self.momentum, K, low=0),
            "dampening": per_member("dampening", self.dampening, K, low=0, high=1),
            "weight_decay": per_member("weight_decay", self.weight_decay, K, low=0),
        }
        if self.nesterov and ((hp["momentum"] <= 0).any() or (hp["dampening"] != 0).any()):
            raise InitlabError("nesterov needs momentum > 0 and dampening = 0 for every member")
        return hp

    def plain(self, K: int) -> np.ndarray:
        """Members whose update is exactly the post's ``theta -= lr * g``."""
        hp = self.hyper(K)
        return (hp["momentum"] == 0) & (hp["weight_decay"] == 0)

    def init_state(self, params: Sequence[Array], dtype: np.dtype) -> dict[str, Any]:
        hp = self.hyper(params[0].shape[0])
        state: dict[str, Any] = {
            "t": 0,
            "use_decay": bool((hp["weight_decay"] != 0).any()),
            "use_momentum": bool((hp["momentum"] != 0).any()),
            **{key: _column(v, dtype) for key, v in hp.items()},
            "buffers": {},
        }
        if state["use_momentum"]:
            state["buffers"]["b"] = [np.zeros_like(p) for p in params]
        return state

    def step(
        self, params: list[Array], grads: Sequence[Array], lrs: Sequence[Array], state: dict
    ) -> None:
        mu, tau, wd = state["momentum"], state["dampening"], state["weight_decay"]
        tmp = Scratch.of(state)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if state["use_decay"]:
                g = np.add(g, tmp.product(wd, p, 0), out=tmp.get(0, g, wd, p))  # g + wd p
            if state["use_momentum"]:
                b = state["buffers"]["b"][i]
                if state["t"] == 0:
                    b[...] = g
                else:
                    b *= mu
                    b += tmp.product(1 - tau, g, 1)
                if self.nesterov:  # g + mu b
                    g = np.add(g, tmp.product(mu, b, 1), out=tmp.get(1, g, mu, b))
                else:
                    g = b
            for at in _blocks(p, g):  # one pass in cache, not a weight-sized temporary
                p[at] -= tmp.product(member_rows(at, p.shape[0])(lrs[i]), g[at], 2)
        state["t"] += 1


BLOCK = 1 << 15
"""Numbers of a parameter that Adam's step takes through all its operations at a time (256 KiB
in float64): a larger parameter is updated by blocks of one member's rows (:func:`_blocks`), so
its thirteen elementwise passes read and write the cache, not memory. Every number sees the
same operations on the same operands: the bits do not depend on the blocks."""


def _blocks(P: Array, *others: Array) -> Iterator[tuple[slice, ...]]:
    """Indices covering `P` ``(K, rows, ...)``: all of it, or, when it holds more than
    :data:`BLOCK` numbers and `others` have its shape, blocks of about :data:`BLOCK` numbers,
    ``(slice(k, k + 1), slice(r0, r1))`` (one member's rows r0..r1)."""
    if P.size <= BLOCK or P.ndim < 2 or any(np.shape(x) != P.shape for x in others):
        yield (slice(None),)
        return
    rows = max(1, BLOCK * P.shape[1] // P[0].size)
    for k in range(P.shape[0]):
        for r in range(0, P.shape[1], rows):
            yield (slice(k, k + 1), slice(r, r + rows))


@dataclass(frozen=True)
class Adam:
    """Adam (L2 decay added to the gradient) or AdamW (``decoupled``: decay on the weights)."""

    name: str = "adam"
    beta1: PerMember = 0.9
    beta2: PerMember = 0.999
    eps: PerMember = 1e-8
    weight_decay: PerMember = 0.0
    decoupled: bool = False
    layer_lr_scale: tuple[float, ...] | None = None
    bias_lr_scale: tuple[float, ...] | None = None
    linear: ClassVar[bool] = False

    def hyper(self, K: int) -> dict[str, np.ndarray]:
        return {
            "beta1": per_member("beta1", self.beta1, K, low=0, high=1, high_open=True),
            "beta2": per_member("beta2", self.beta2, K, low=0, high=1, high_open=True),
            "eps": per_member("eps", self.eps, K, low=0, low_open=True),
            "weight_decay": per_member("weight_decay", self.weight_decay, K, low=0),
        }

    def plain(self, K: int) -> np.ndarray:
        return np.zeros(K, dtype=bool)

    def init_state(self, params: Sequence[Array], dtype: np.dtype) -> dict[str, Any]:
        hp = self.hyper(params[0].shape[0])
        for i, p in enumerate(params):
            if p.dtype != dtype:
                raise InitlabError(f"adam: parameter {i} is {p.dtype}, the training's dtype "
                                   f"is {np.dtype(dtype)}: give them one dtype")  # fmt: skip
        one = lambda x: _column(x, dtype)  # noqa: E731 - cast once; bc2_sqrt is set per step
        cast = {"eps": one(hp["eps"]), "one_b1": one(1 - hp["beta1"]), "b2": one(hp["beta2"]),
                "one_b2": one(1 - hp["beta2"]), "wd": one(hp["weight_decay"]),
                "bc2_sqrt": one(np.ones_like(hp["beta2"]))}  # fmt: skip
        return {
            "t": 0,
            "use_decay": bool((hp["weight_decay"] != 0).any()),
            **{key: _column(v, np.float64) for key, v in hp.items()},
            "dtype": dtype,
            "buffers": {key: [np.zeros(p.shape, p.dtype) for p in params] for key in "mv"},
            "cast": cast,
            "views": [None] * len(params),  # BlockViews, made at the first step
        }

    def step(
        self, params: list[Array], grads: Sequence[Array], lrs: Sequence[Array], state: dict
    ) -> None:
        state["t"] += 1
        t, dt, cast = state["t"], state["dtype"], state["cast"]
        # the bias corrections in float64, then one cast: as PyTorch computes them in Python
        bc1 = 1 - state["beta1"] ** t
        np.copyto(cast["bc2_sqrt"], np.sqrt(1 - state["beta2"] ** t).astype(dt))
        decay = ("decoupled" if self.decoupled else "l2") if state["use_decay"] else None
        for i, (P, G) in enumerate(zip(params, grads, strict=True)):
            M, V, lr = state["buffers"]["m"][i], state["buffers"]["v"][i], lrs[i]
            kept = state["views"][i]
            if kept is None or not kept.fits(P, G, lr):  # blocks: each in cache for every op
                ats = list(_blocks(P, G, M, V))
                kept = state["views"][i] = BlockViews(P, G, M, V, lr, ats, cast, dt, decay)
            kept.set_rates(lr, bc1, cast["wd"])
            for (p, m, v, s0, s1, coef, bc2, one_b1, b2, one_b2, eps, w), g in kept.blocks(G):
                if decay == "decoupled":
                    p *= w  # 1 - lr wd
                elif decay == "l2":
                    g = np.add(g, np.multiply(w, p, out=s0), out=s0)
                np.subtract(g, m, out=s1)
                m += np.multiply(one_b1, s1, out=s1)  # torch's lerp_(g, 1 - beta1), weight < 0.5
                v *= b2
                v += np.multiply(one_b2, np.multiply(g, g, out=s1), out=s1)
                np.sqrt(v, out=s1)
                s1 /= bc2
                s1 += eps
                p -= np.multiply(coef, np.divide(m, s1, out=s1), out=s1)


OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "gd": (SGD, {}),
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "adam": (Adam, {}),
    "adamw": (Adam, {"decoupled": True, "weight_decay": 0.01}),
}
"""The optimizers by name: each an update rule and its defaults."""


def get_optimizer(spec: str | Mapping[str, Any] | Optimizer = "gd") -> Optimizer:
    """The optimizer named by `spec`: a name, a table ``{"name": ..., **hyperparameters}``
    or an optimizer (returned as is).

    Hyperparameters (each a number or one per member): ``momentum``, ``dampening``,
    ``nesterov`` (bool), ``weight_decay`` for gd/sgd/momentum; ``betas`` (a pair) or
    ``beta1``/``beta2``, ``eps``, ``weight_decay`` for adam/adamw; ``layer_lr_scale`` (one
    multiplier per layer, of its weights and, unless ``bias_lr_scale`` is given, its bias) and
    ``bias_lr_scale`` (one multiplier per layer, of its bias) for all.

    Examples
    --------
    >>> get_optimizer({"name": "momentum", "momentum": [0.5, 0.9], "nesterov": True}).momentum
    [0.5, 0.9]
    """
    if isinstance(spec, Optimizer):  # any rule with the protocol's members
        return spec
    table = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = table.pop("name", "gd")
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    cls, defaults = OPTIMIZERS[name]
    if "betas" in table and cls is Adam:
        table["beta1"], table["beta2"] = _pair(table.pop("betas"))
    allowed = {f.name for f in fields(cls)} - {"name", "decoupled"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InitlabError(
            f"optimizer {name!r} has no parameter {unknown[0]!r}; its parameters are: "
            + ", ".join(sorted(allowed | ({"betas"} if cls is Adam else set())))
        )
    for key in _LAYER_KEYS:
        if table.get(key) is not None:
            table[key] = _layer_factors(key, table[key])
    opt = cls(name=name, **{**defaults, **table})
    sizes = {np.size(v) for k, v in vars(opt).items() if k not in _LAYER_KEYS and np.ndim(v)}
    if len(sizes) <= 1:
        opt.hyper(sizes.pop() if sizes else 1)  # validated now (per-member lists again in train)
    return opt


_LAYER_KEYS = ("layer_lr_scale", "bias_lr_scale")


def _layer_factors(key: str, values: Any) -> tuple[float, ...]:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise InitlabError(
            f"{key} must be a list of positive numbers, one per layer; got {values!r}"
        )
    return tuple(
        float(check_number(f"{key}[{i}]", s, low=0, low_open=True)) for i, s in enumerate(values)
    )


def _pair(betas: Any) -> tuple[Any, Any]:
    if not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2:
        raise InitlabError(f"betas must be a pair (beta1, beta2); got {betas!r}")
    return betas[0], betas[1]
