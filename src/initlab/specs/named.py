r"""The named choices of a spec: an activation and an optimizer travel as ``(name, params)``,
as an init does (:class:`ActivationSpec`, :class:`OptimizerSpec`), validated once into one
canonical form, so a table written with or without a default value is the same choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from initlab._validation import InitlabError, SpecError
from initlab.nn import activations as _activations
from initlab.nn import engines as _engines
from initlab.nn import optimizers as _optimizers

__all__ = [
    "ActivationSpec",
    "OptimizerSpec",
    "activation_spec",
    "check_engine",
    "named",
    "optimizer_spec",
    "resolve_optimizer",
]


@dataclass(frozen=True)
class ActivationSpec:
    """A hidden activation as ``(name, params)``, e.g. ``("leaky_relu", {"slope": 0.2})``."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> _activations.Activation:
        return _activations.get(self.name, **self.params)

    @property
    def slope(self) -> float | None:
        return self.params.get("slope")


def named(value: Any, key: str, example: str) -> tuple[str, dict[str, Any]]:
    """``(name, params)`` of a spec value given as a name or as a table with a ``name``
    (an activation, an init); anything else is one error naming `key`, with `example`."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        return value["name"], {k: v for k, v in value.items() if k != "name"}
    raise SpecError(f"{key} must be a name or a table with a 'name', e.g. {example}; got {value!r}")


def activation_spec(value: Any, key: str, slope: Any = None) -> ActivationSpec:
    """Validate an activation given as a name or a table ``{name = "leaky_relu", slope = 0.2}``.

    `slope` is ``[model] slope`` (the older way to give leaky ReLU's slope); a table's own
    ``slope`` wins over it.
    """
    name, params = named(value, key, "{name = 'leaky_relu', slope = 0.2}")
    if slope is not None and "slope" not in params:
        params["slope"] = slope
    try:
        built = _activations.get(name, **params)
    except InitlabError as exc:
        raise SpecError(f"{key}: {exc}") from None
    return ActivationSpec(name, dict(built.params) if params else {})


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer as ``(name, params)``: every hyperparameter of its update rule, defaults
    filled in by :func:`initlab.nn.optimizers.get_optimizer` (so a table written with or
    without a default value is the same optimizer)."""

    name: str = "gd"
    params: Mapping[str, Any] = field(default_factory=lambda: resolve_optimizer("gd")[1])

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}

    def build(self) -> _optimizers.Optimizer:
        return _optimizers.get_optimizer(self.as_dict())

    @property
    def linear(self) -> bool:
        """Whether the sample engine is exact under this rule (:mod:`initlab.nn.engines`)."""
        return self.build().linear


_LAYER_KEYS = ("layer_lr_scale", "bias_lr_scale")


def resolve_optimizer(table: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(name, every hyperparameter)`` of the optimizer `table` names (InitlabError if bad)."""
    opt = _optimizers.get_optimizer(table)
    params = {
        f.name: getattr(opt, f.name)
        for f in fields(opt)  # type: ignore[arg-type]
        if f.name not in ("name", "decoupled")
        and not (f.name in _LAYER_KEYS and getattr(opt, f.name) is None)
    }
    for p, v in params.items():  # 1 and 1.0 are one value: one canonical form
        if p in _LAYER_KEYS:
            params[p] = [float(x) for x in v]
        elif not isinstance(v, bool):
            params[p] = float(v)
    return opt.name, params


def optimizer_spec(
    value: Any, key: str = "training.optimizer", weight_decay: float | None = None
) -> OptimizerSpec:
    """Validate an optimizer given as a name or a table ``{name = "adam", beta1 = 0.9}``.

    ``training.weight_decay`` (`weight_decay`; None when the spec does not give it) is the
    optimizer's ``weight_decay``: an L2 penalty added to the gradient for gd, sgd, momentum
    and adam, decoupled for adamw (whose own default is 0.01); give it in one place only.
    An explicit 0.0 is a value like any other: adamw then trains without decay.
    """
    if isinstance(value, str):
        table: dict[str, Any] = {"name": value}
    elif isinstance(value, Mapping) and isinstance(value.get("name"), str):
        table = dict(value)
    else:
        raise SpecError(
            f"{key} must be a name or a table with a 'name', e.g. "
            f"{{name = 'adam', beta1 = 0.9}}; got {value!r}"
        )
    for p, v in table.items():
        if p not in ("name", *_LAYER_KEYS, "betas") and not isinstance(v, bool | int | float):
            raise SpecError(f"{key}.{p} must be a number (or true/false); got {v!r}")
    if weight_decay is not None:
        if "weight_decay" in table:
            raise SpecError(
                f"training.weight_decay and {key}.weight_decay are the same setting: give one"
            )
        table["weight_decay"] = weight_decay
    try:
        name, params = resolve_optimizer(table)
    except InitlabError as exc:
        raise SpecError(f"{key}: {exc}") from None
    return OptimizerSpec(name, params)


def check_engine(engine: str, optimizer: OptimizerSpec, key: str = "training.engine") -> None:
    """Refuse, before training, an engine the optimizer rules out (the engine's own reason)."""
    try:
        _engines.choose(engine, 1, 1, 1, 1, 1, optimizer=optimizer.build())
    except InitlabError as exc:
        raise SpecError(f"{key}: {exc}") from None
