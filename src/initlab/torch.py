r"""initlab for PyTorch modules: apply a catalogue scheme, LSUV, diagnostics, coordinate checks.

An optional bridge (``pip install "initlab[torch]"``): nothing else in initlab imports torch.

**Values.** Every value is drawn by initlab's own catalogue (:mod:`initlab.initializers`) in
float64 from one numpy generator, parameter after parameter in ``module.named_parameters()``
order, then copied into the parameter (cast to its dtype) under ``torch.no_grad()``. So a
scheme means here exactly what ``initlab inits`` says it means, and a seed gives the same
numbers as initlab's own networks of the same shapes.

**Fans** follow PyTorch's convention, :func:`initlab.initializers.compute_fans` on the raw
weight shape, which equals ``torch.nn.init._calculate_fan_in_and_fan_out`` for every layer
type (the tests hold it):

=======================  ============================  ==========================  ===========
layer                    weight shape                  fan_in                      fan_out
=======================  ============================  ==========================  ===========
Linear                   (out, in)                     in                          out
Conv1d/2d/3d             (out, in/groups, *k)          in/groups * prod(k)         out * prod(k)
ConvTranspose1d/2d/3d    (in, out/groups, *k)          out/groups * prod(k)        in * prod(k)
Embedding                (num_embeddings, dim)         dim                         num_embeddings
=======================  ============================  ==========================  ===========

A ConvTranspose weight is stored transposed, ``(in, out/groups, *k)``, so PyTorch's (and
initlab's) "fan_in" of it counts *output* channels: ``kaiming_*`` in ``fan_in`` mode scales it
as PyTorch's own ``kaiming_*_`` would, not by the number of inputs a transposed-convolution
output actually sums (use ``mode="fan_out"`` for that).

Diagnostics, coordinate checks and results for ``initlab report`` are in
:mod:`initlab._torch_diagnostics`, re-exported here.
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        'initlab.torch needs PyTorch: pip install "initlab[torch]" (CPU build: pip install '
        "torch --index-url https://download.pytorch.org/whl/cpu)"
    ) from exc

from . import activations as _activations
from . import initializers as _initializers
from ._rng import RNG, make_rng
from ._validation import InitlabError
from .analysis.coordcheck import text_table
from .lsuv import LSUV_PARAMS, LSUVReport, _check_options

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
    """``(full name, owning module, local name, parameter)`` for every parameter, in order."""
    for mod_name, mod in module.named_modules():
        for local, p in mod.named_parameters(recurse=False):
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
    table = InitTable()
    for name, owner, p, init in _plan(module, scheme, rules, bias):
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
        table.append(InitRow(name, type(owner).__name__, shape, _describe(init), *fan,
                             float(values.std())))  # fmt: skip
    logger.info("initialized %d parameters", len(table))
    return table


def _copy_into(p: torch.Tensor, values: np.ndarray) -> None:
    with torch.no_grad():
        p.copy_(torch.from_numpy(np.ascontiguousarray(values)))


# --- initlab networks as torch modules ----------------------------------------------------


def from_network(net: Any, k: int = 0) -> nn.Sequential:
    r"""Member `k` of an initlab :class:`~initlab.network.Network` as an ``nn.Sequential``.

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


# --- forward passes that stop early -------------------------------------------------------


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the wanted output is captured."""


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


def _output_of(module: nn.Module, layer: nn.Module, batch: Any) -> np.ndarray:
    """`layer`'s output on `batch` (its first call), float64 numpy; the pass stops there."""
    got = []

    def hook(mod, inputs, output):
        got.append(output.detach().to("cpu", torch.float64).numpy().copy())
        raise _Stop

    handle = layer.register_forward_hook(hook)
    try:
        with torch.no_grad():
            _run(module, batch)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not got:
        raise InitlabError(f"{type(layer).__name__} was not called by the forward pass")
    return got[0]


# --- LSUV ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleLSUVReport(LSUVReport):
    """:class:`~initlab.lsuv.LSUVReport` (arrays ``(L, 1)``) with the layers' names."""

    layers: tuple[str, ...] = ()

    def __str__(self) -> str:
        head = ["layer", "iterations", "variance", "converged"]
        rows = [[n, str(int(self.iterations[l, 0])), f"{self.variances[l, 0]:.6f}",
                 str(bool(self.converged[l, 0]))] for l, n in enumerate(self.layers)]  # fmt: skip
        return text_table([head, *rows])


def lsuv(
    module: nn.Module,
    batch: Any,
    *,
    tol: float = LSUV_PARAMS["tol"],
    max_iter: int = LSUV_PARAMS["max_iter"],
    measure: str = LSUV_PARAMS["measure"],
    orthonormal: int | RNG | None = 0,
    layers: Sequence[str] | None = None,
    activation: str | _activations.Activation | None = None,
) -> ModuleLSUVReport:
    r"""LSUV (Mishkin & Matas 2016) on any module, in place, through forward hooks.

    The algorithm and options of :func:`initlab.lsuv.lsuv`: optionally pre-initialize every
    measured layer's weight with an orthonormal matrix (``orthogonal``, gain 1, of the
    weight's ``(shape[0], prod(shape[1:]))`` view) and its bias with 0; then, layer by layer
    in forward order, measure the variance :math:`v_l` of the layer's output over the batch
    (all entries: examples, units, positions) and set :math:`W_l \leftarrow W_l / \sqrt{v_l}`
    until :math:`|v_l - 1| <` tol or `max_iter` rescalings. Each measurement is one forward
    pass, stopped at the layer measured.

    Parameters
    ----------
    module : nn.Module
    batch : Tensor or tuple of Tensors
        The input, examples first: ``module(batch)`` (or ``module(*batch)``), at least 2
        examples.
    tol, max_iter, measure
        As in :func:`initlab.lsuv.lsuv`. ``measure="activation"`` measures
        :math:`\phi(Z_l)` (:func:`infer_activation`, or `activation`) for every layer but
        the last, whose output is always measured as is.
    orthonormal : int or Generator or None
        Seed of the orthonormal pre-initialization (layers drawn in forward order from one
        generator, as :func:`initlab.lsuv.lsuv_network` draws them); None rescales the
        module's current weights (LSUV on top of another scheme, e.g. after :func:`apply`).
        The default, 0, is the paper's algorithm; :func:`initlab.lsuv.lsuv`, which takes an
        already initialized network, defaults to None.
    layers : sequence of str, optional
        Names of the layers to scale; default every :data:`LAYERS` module the forward pass
        calls.

    Returns
    -------
    ModuleLSUVReport
    """
    tol, max_iter, measure = _check_options(tol, max_iter, measure)
    names = layer_order(module, batch) if layers is None else list(layers)
    mods = dict(module.named_modules())
    missing = [n for n in names if n not in mods or not isinstance(mods[n], LAYERS)]
    if missing or not names:
        raise InitlabError(f"layers {missing} are not Linear/Conv/ConvTranspose layers of module")
    act = None
    if measure == "activation":
        act = infer_activation(module) if activation is None else _activations.get(activation)
        if act.name not in ("relu", "leaky_relu", "linear"):
            logger.warning("LSUV: %s outputs cannot reach variance 1", act.name)
    if orthonormal is not None:
        rng, ortho = make_rng(orthonormal), _initializers.get("orthogonal")
        for n in names:
            _copy_into(mods[n].weight, ortho(tuple(mods[n].weight.shape), rng))
            if mods[n].bias is not None:
                _copy_into(mods[n].bias, np.zeros(tuple(mods[n].bias.shape)))
    L = len(names)
    iterations, variances = np.zeros((L, 1), int), np.zeros((L, 1))
    for l, n in enumerate(names):
        while True:
            Y = _output_of(module, mods[n], batch)
            if Y.shape[0] < 2:
                raise InitlabError(f"LSUV needs a batch of at least 2 examples; got {Y.shape[0]}")
            v = variances[l, 0] = np.var(act.f(Y) if act is not None and l < L - 1 else Y)
            if not v > 0:
                raise InitlabError(f"LSUV: the output of layer {n!r} has variance {v} on the batch")
            if abs(v - 1.0) < tol or iterations[l, 0] >= max_iter:
                break
            with torch.no_grad():
                mods[n].weight.div_(math.sqrt(v))
            iterations[l, 0] += 1
    converged = np.abs(variances - 1.0) < tol
    return ModuleLSUVReport(iterations, variances, converged, tol, max_iter, measure, tuple(names))


from ._torch_diagnostics import (  # noqa: E402
    CoordCheck,
    Recorder,
    coord_check,
    results,
    run_record,
)

__all__ = [
    "ACTIVATIONS",
    "LAYERS",
    "CoordCheck",
    "InitRow",
    "InitTable",
    "ModuleLSUVReport",
    "Recorder",
    "apply",
    "coord_check",
    "fans",
    "from_network",
    "infer_activation",
    "layer_order",
    "lsuv",
    "results",
    "run_record",
]
