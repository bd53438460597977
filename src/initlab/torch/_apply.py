r"""Catalogue schemes for torch modules: :func:`apply`, fans, initlab networks as modules.

Import from :mod:`initlab.torch`, whose docstring states the conventions (values drawn by
initlab's catalogue in float64; PyTorch's fans, ConvTranspose's transposed layout).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError
from initlab.analysis.coordcheck import text_table
from initlab.init import catalogue as _initializers
from initlab.nn import activations as _activations

logger = logging.getLogger(__name__)

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_TRANSPOSE = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
LAYERS = (nn.Linear, *CONV, *CONV_TRANSPOSE)
"""Layers whose weights :func:`apply` initializes by default, and that LSUV and the recorder
measure by default."""
EMBEDDING = (nn.Embedding,)
"""Also initialized by :func:`apply` by default (normalization layers never are)."""
ACTIVATIONS: dict[type, str] = {
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
}
"""Activation modules recognised by :func:`infer_activation`, with initlab's names."""

Pattern = str | type
Rule = tuple[Pattern, Any]


class InitRow(NamedTuple):
    """What :func:`apply` did to one parameter."""

    name: str
    type: str
    shape: tuple[int, ...]
    scheme: str
    fan_in: int | None
    fan_out: int | None
    std: float


class InitTable(list):
    """A list of :class:`InitRow` that prints as an aligned table."""

    def __str__(self) -> str:
        head = ["parameter", "layer", "shape", "scheme", "fan_in", "fan_out", "std drawn"]
        rows = [
            [r.name, r.type, "x".join(map(str, r.shape)), r.scheme,
             "-" if r.fan_in is None else str(r.fan_in),
             "-" if r.fan_out is None else str(r.fan_out), f"{r.std:.4g}"]
            for r in self
        ]  # fmt: skip
        return text_table([head, *rows])


def fans(module: nn.Module) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of `module`'s weight, PyTorch's convention (module docstring)."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor):
        raise InitlabError(f"{type(module).__name__} has no weight, so no fans")
    return _initializers.compute_fans(tuple(weight.shape))


def _describe(init: _initializers.Initializer) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in init.params.items())  # fmt: skip
    return f"{init.name}({params})" if params else init.name


def _owners(module: nn.Module) -> Iterator[tuple[str, nn.Module, str, nn.Parameter]]:
    """``(full name, owning module, local name, parameter)`` for every parameter, in order;
    a parameter shared by several modules (tied weights) only where it first appears."""
    seen: set[int] = set()
    for mod_name, mod in module.named_modules():
        for local, p in mod.named_parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                yield (f"{mod_name}.{local}" if mod_name else local), mod, local, p


def _matches(pattern: Pattern, name: str, owner: nn.Module, local: str) -> bool:
    if isinstance(pattern, str):
        return fnmatch.fnmatchcase(name, pattern)
    return isinstance(owner, pattern) and local == "weight"


def _plan(
    module: nn.Module, scheme: Any, rules: Sequence[Rule], bias: Any
) -> list[tuple[str, nn.Module, nn.Parameter, _initializers.Initializer]]:
    """Which initializer each parameter gets: the first matching rule, else the default."""
    rules = [(p, _initializers.get(s)) for p, s in rules]
    for p, _ in rules:
        if not isinstance(p, str) and not (isinstance(p, type) and issubclass(p, nn.Module)):
            raise InitlabError(
                f"a rule's pattern is a glob over parameter names (e.g. '*.bias') or an "
                f"nn.Module subclass (e.g. nn.Conv2d); got {p!r}"
            )
    default = None if scheme is None else _initializers.get(scheme)
    bias_init = None if bias is None else _initializers.get(bias)
    owners = list(_owners(module))
    for p, _ in rules:
        if not any(_matches(p, n, o, loc) for n, o, loc, _ in owners):
            listed = ", ".join(n for n, *_ in owners[:12]) + (", ..." if len(owners) > 12 else "")
            what = p if isinstance(p, str) else f"the weight of any {p.__name__}"
            raise InitlabError(f"rule {what!r} matches no parameter; the parameters are: {listed}")
    plan = []
    for name, owner, local, p in owners:
        init = next((i for pat, i in rules if _matches(pat, name, owner, local)), None)
        if init is None and default is not None and isinstance(owner, LAYERS + EMBEDDING):
            init = default if local == "weight" else bias_init if local == "bias" else None
        if init is not None:
            plan.append((name, owner, p, init))
    return plan


def apply(
    module: nn.Module,
    scheme: str | Mapping[str, Any] | _initializers.Initializer | None,
    *,
    rules: Sequence[Rule] = (),
    bias: str | Mapping[str, Any] | None = "zeros",
    seed: int | RNG = 0,
    stream: str = "default",
) -> InitTable:
    r"""Initialize `module`'s parameters in place with initlab's catalogue.

    Parameters
    ----------
    module : nn.Module
    scheme : str or dict or Initializer or None
        The default for the weight of every Linear, Conv, ConvTranspose and Embedding layer
        (:data:`LAYERS`, :data:`EMBEDDING`), e.g. ``"kaiming_normal"`` or
        ``{"name": "kaiming_uniform", "a": 5 ** 0.5}``. None: only `rules` apply (no
        default for weights or biases).
    rules : sequence of (pattern, scheme)
        Overrides, the first matching rule winning. A pattern is a glob over full parameter
        names (``"*.bias"``, ``"features.0.weight"``, ``"head.*"``), or a module type
        (``nn.Conv2d``, ``nn.LayerNorm``) matching the **weight** of such modules.
        Normalization layers (and any other module) are left as PyTorch made them unless a
        rule names them. A rule that matches no parameter is an error.
    bias : str or dict or None
        The default for the biases of those layers: 0 (initlab's convention), or None to
        leave PyTorch's values.
    seed, stream
        The generator (:func:`initlab.make_rng`); parameters are drawn in
        ``named_parameters()`` order, each in float64 as one array of its full shape.

    Returns
    -------
    InitTable
        One row per initialized parameter: name, layer type, shape, scheme, fans (None for
        a parameter with fewer than 2 dimensions) and the standard deviation drawn.
        ``print(table)`` shows it aligned.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 10))
    >>> table = apply(net, "kaiming_normal", rules=[(nn.Linear, "xavier_normal")], seed=0)
    >>> [r.scheme for r in table]
    ['kaiming_normal(a=0, mode=fan_in, nonlinearity=leaky_relu)', 'zeros', 'xavier_normal(gain=1)', 'zeros']
    """  # noqa: E501
    if not isinstance(module, nn.Module):
        raise InitlabError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    rng = make_rng(seed, stream)
    table = InitTable(_draw(name, owner, p, init, rng) for name, owner, p, init in
                      _plan(module, scheme, rules, bias))  # fmt: skip
    logger.info("initialized %d parameters", len(table))
    return table


def _draw(
    name: str, owner: nn.Module, p: nn.Parameter, init: _initializers.Initializer, rng: RNG
) -> InitRow:
    """Draw `p`'s values from `rng`, copy them in, and say what was done."""
    shape = tuple(p.shape)
    try:
        values = init(shape, rng)
    except InitlabError as exc:
        raise InitlabError(f"{name} (shape {shape}): {exc}") from None
    _copy_into(p, values)
    padding = getattr(owner, "padding_idx", None) if name.endswith("weight") else None
    if padding is not None:  # an Embedding's padding row stays 0, as PyTorch keeps it
        with torch.no_grad():
            p[padding].zero_()
    fan = _initializers.compute_fans(shape) if len(shape) >= 2 else (None, None)
    return InitRow(name, type(owner).__name__, shape, _describe(init), *fan, float(values.std()))


def _copy_into(p: torch.Tensor, values: np.ndarray) -> None:
    with torch.no_grad():
        p.copy_(torch.from_numpy(np.ascontiguousarray(values)))


# --- initlab networks as torch modules ----------------------------------------------------


def from_network(net: Any, k: int = 0) -> nn.Sequential:
    r"""Member `k` of an initlab :class:`~initlab.nn.network.Network` as an ``nn.Sequential``.

    ``Linear(n_0, n_1), phi, ..., Linear(n_{L-1}, 1)`` in the network's dtype, with its
    weights and biases copied (``b_l`` of shape ``(n_l, 1)`` becomes a vector). The output
    is the logit :math:`Z_L`; pair it with ``nn.BCEWithLogitsLoss`` and inputs
    ``X.T`` (torch puts examples first).
    """
    dtype = getattr(torch, np.dtype(net.dtype).name)
    act = net.activation
    modules: list[nn.Module] = []
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        lin = nn.Linear(W.shape[2], W.shape[1], dtype=dtype)
        _copy_into(lin.weight, W[k])
        _copy_into(lin.bias, b[k, :, 0])
        modules.append(lin)
        if l < len(net.weights) - 1:
            modules.append(_activation_module(act))
    return nn.Sequential(*modules)


def _activation_module(act: _activations.Activation) -> nn.Module:
    if act.name == "leaky_relu":
        return nn.LeakyReLU(act.params["slope"])
    if act.name == "linear":
        return nn.Identity()
    return {v: k for k, v in ACTIVATIONS.items() if v != "leaky_relu"}[act.name]()


def infer_activation(module: nn.Module) -> _activations.Activation:
    """initlab's activation for `module`'s hidden units, from its activation modules.

    Raises
    ------
    InitlabError
        If `module` holds none of :data:`ACTIVATIONS` (its forward may call a function such
        as ``F.relu``) or several kinds: pass ``activation=`` explicitly then.
    """
    found = {}
    for m in module.modules():
        for cls, name in ACTIVATIONS.items():
            if type(m) is cls:
                params = {"slope": m.negative_slope} if name == "leaky_relu" else {}
                found[(name, tuple(params.items()))] = _activations.get(name, **params)
    if len(found) != 1:
        kinds = ", ".join(sorted(n for n, _ in found)) or "no activation module"
        raise InitlabError(
            f"cannot tell the hidden activation of this module (found: {kinds}); pass "
            f"activation= one of {', '.join(_activations.HIDDEN)}"
        )
    return next(iter(found.values()))


# --- forward order -------------------------------------------------------------------------


def _run(module: nn.Module, batch: Any) -> Any:
    return module(*batch) if isinstance(batch, tuple | list) else module(batch)


def layer_order(module: nn.Module, batch: Any, types: tuple[type, ...] = LAYERS) -> list[str]:
    """Names of `module`'s submodules of `types` in the order one forward pass calls them
    (first call; a layer never called is left out)."""
    order: list[str] = []
    handles = [
        m.register_forward_hook(lambda mod, i, o, n=n: order.append(n) if n not in order else None)
        for n, m in module.named_modules()
        if isinstance(m, types)
    ]
    try:
        with torch.no_grad():
            _run(module, batch)
    finally:
        for h in handles:
            h.remove()
    return order
