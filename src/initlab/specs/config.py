r"""The tables of a spec as small frozen dataclasses, validated once at the boundary.

:func:`data_config`, :func:`model_config` and :func:`training_config` turn a TOML table (a
dict, defaults filled in from :data:`DEFAULTS`) into a :class:`DataConfig`,
:class:`ModelConfig` or :class:`TrainingConfig`, or raise a :class:`SpecError` of one line
naming the key. Code downstream trusts these objects and never checks them again.

Every new key's default is the post's behaviour (one sigmoid output unit with binary
cross-entropy, full-batch gradient descent, no weight decay), so a spec written before the
key existed means what it meant.

An activation and an optimizer travel as ``(name, params)``, as an init does
(:mod:`initlab.specs.named`).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from initlab._rng import STREAMS
from initlab._validation import InitlabError, SpecError, check_keys, check_number, unknown_name
from initlab.init import parametrization as _par
from initlab.nn import engines as _engines
from initlab.specs.named import (
    ActivationSpec,
    OptimizerSpec,
    activation_spec,
    check_engine,
    optimizer_spec,
)

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"test": None, "test_fraction": None, "split_seed": 0, "x_key": None, "y_key": None},
    "model": {
        "hidden": [5, 5],
        "activation": "tanh",
        "slope": None,
        "output": "sigmoid",
        "parametrization": "sp",
        "base_width": None,
    },
    "training": {
        "learning_rate": 0.01,
        "iterations": 1000,
        "epochs": None,
        "batch_size": None,
        "shuffle_seed": 0,
        "optimizer": "gd",
        "weight_decay": 0.0,
        "seed": 1,
        "seeds": 1,
        "stream": "default",
        "engine": "auto",
        "dtype": "float64",
        "diagnostics": True,
        "twins": 1,
    },
}
"""Every default of an experiment, in one place."""

DTYPES = ("float64", "float32")
OUTPUTS = ("sigmoid", "softmax", "linear")
"""Output heads: sigmoid + binary cross-entropy (the post), softmax + cross-entropy, linear
+ squared error (:mod:`initlab.nn.losses`)."""


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: sources are resolved (paths absolute, names kept)."""

    train: str
    test: str | None = None
    test_fraction: float | None = None
    split_seed: int = 0
    x_key: str | None = None
    y_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("train", *DEFAULTS["data"])}


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: hidden widths, hidden activation, output head, width parametrization.

    ``parametrization`` (sp, ntk, mup) with ``base_width`` :math:`n_0` rescales the initial
    weights and sets per-layer learning rates (:mod:`initlab.init.parametrization`); it needs
    equal hidden widths, and NTK or muP needs ``base_width`` (never a default: at its own
    width a network would silently be SP).
    """

    hidden: tuple[int, ...] = (5, 5)
    activation: ActivationSpec = ActivationSpec("tanh")
    output: str = "sigmoid"
    parametrization: str = "sp"
    base_width: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hidden": list(self.hidden),
            "activation": self.activation.name,
            "slope": self.activation.slope,
            "output": self.output,
            "parametrization": self.parametrization,
            "base_width": self.base_width,
        }

    def layer_scales(self, sizes: list[int], optimizer: str) -> _par.LayerScales | None:
        """The parametrization's factors relative to SP for layer sizes `sizes` under
        `optimizer` (Adam's column for adam and adamw, SGD's for the others), or None for
        SP (every factor 1: nothing to do)."""
        if self.parametrization == "sp":
            return None
        column = "adam" if optimizer in ("adam", "adamw") else "sgd"
        if self.base_width is None:
            raise SpecError(missing_base_width(self.parametrization))
        return _par.layer_scales(self.parametrization, sizes, self.base_width, column)


@dataclass(frozen=True)
class TrainingConfig:
    """``[training]``: the optimizer and its schedule, seeds, streams, engine, precision.

    ``epochs`` replaces ``iterations`` (which is then None): one epoch is one pass over the
    training examples in mini-batches of ``batch_size`` (the last one smaller), shuffled by
    ``shuffle_seed`` (:mod:`initlab.nn.batches`). Without ``batch_size`` every step is
    full-batch, as in the post. ``twins`` is the number of shadow twins trained beside each
    run to measure whether it is chaotic (:mod:`initlab.analysis.chaos`; 0: none); they never
    change a run's numbers.
    """

    learning_rate: float = 0.01
    iterations: int | None = 1000
    epochs: int | None = None
    batch_size: int | None = None
    shuffle_seed: int = 0
    optimizer: OptimizerSpec = OptimizerSpec()
    seed: int = 1
    seeds: int = 1
    stream: str = "default"
    engine: str = "auto"
    dtype: str = "float64"
    diagnostics: bool = True
    twins: int = 1

    @property
    def weight_decay(self) -> float:
        """The optimizer's weight decay (``training.weight_decay`` is written into it)."""
        return float(self.optimizer.params["weight_decay"])

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in DEFAULTS["training"]}
        out["optimizer"] = self.optimizer.as_dict()
        return out

    def with_engine(self, engine: str, key: str = "--engine") -> TrainingConfig:
        if engine not in _engines.CHOICES:
            raise SpecError(f"{key} must be one of {', '.join(_engines.CHOICES)}; got {engine!r}")
        check_engine(engine, self.optimizer, key)
        return replace(self, engine=engine)

    def with_twins(self, n: int, key: str = "--twins") -> TrainingConfig:
        return replace(self, twins=twins(n, key))


def table(raw: Mapping[str, Any], name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``raw[name]`` checked for unknown keys, with `defaults` filled in (a deep copy)."""
    given = raw.get(name, {})
    if not isinstance(given, Mapping):
        raise SpecError(f"[{name}] must be a table")
    allowed = (*defaults, "train") if name == "data" else defaults
    check_keys(f"[{name}]", given, allowed)
    return {**copy.deepcopy(dict(defaults)), **given}


def data_config(data: Mapping[str, Any], base: Path) -> DataConfig:
    """Validate a ``[data]`` table (defaults filled in); resolve its sources against `base`."""
    from initlab import data as _data

    data = dict(data)
    if "train" not in data:
        raise SpecError("[data] needs 'train': a folder, an .h5/.npz file or a bundled name")
    for key in ("train", "test"):
        value = data[key]
        if value is None:
            continue
        if not isinstance(value, str):
            raise SpecError(f"data.{key} must be a path or a dataset name; got {value!r}")
        data[key] = _data.resolve_source(value, base, key=f"data.{key}")
    if data["test"] is not None and data["test_fraction"] is not None:
        raise SpecError("data.test and data.test_fraction exclude each other: give one")
    if data["test_fraction"] is not None:
        check_number(
            "data.test_fraction", data["test_fraction"], low=0, high=1, low_open=True,
            high_open=True,
        )  # fmt: skip
    check_number("data.split_seed", data["split_seed"], low=0, integer=True)
    for key in ("x_key", "y_key"):
        if data[key] is not None and not isinstance(data[key], str):
            raise SpecError(f"data.{key} must be the name of an array; got {data[key]!r}")
    return DataConfig(**data)


def hidden_widths(hidden: Any, key: str) -> tuple[int, ...]:
    if not isinstance(hidden, list) or not hidden:
        raise SpecError(f"{key} must be a list of layer widths, e.g. [5, 5]; got {hidden!r}")
    return tuple(
        int(check_number(f"{key}[{i}]", n, low=1, integer=True)) for i, n in enumerate(hidden)
    )


def output_head(value: Any, key: str = "model.output") -> str:
    if value not in OUTPUTS:
        raise SpecError(f"{key} must be one of {', '.join(OUTPUTS)}; got {value!r}")
    return value


def parametrization(value: Any, key: str = "model.parametrization") -> str:
    """A parametrization's name (:data:`initlab.init.parametrization.PARAMETRIZATIONS`)."""
    if not isinstance(value, str) or value not in _par.PARAMETRIZATIONS:
        raise SpecError(f"{key}: {unknown_name('parametrization', value, _par.PARAMETRIZATIONS)}")
    return value


def missing_base_width(name: str, key: str = "model.base_width") -> str:
    """The one-line error for parametrization `name` without a base width."""
    return (
        f"parametrization {name!r} needs {key}: the width n0 at which it equals SP, e.g. "
        f"base_width = 64 (there is no default: at its own width a network would be SP)"
    )


def check_widths(name: str, hidden: Sequence[int], key: str) -> None:
    """Refuse hidden widths `name` cannot scale (not all equal), naming `key`."""
    if name != "sp":
        try:
            _par.hidden_width([1, *hidden, 1])
        except InitlabError as exc:
            raise SpecError(f"{key} with parametrization {name!r}: {exc}") from None


def model_config(model: Mapping[str, Any]) -> ModelConfig:
    """Validate a ``[model]`` table (defaults filled in)."""
    hidden = hidden_widths(model["hidden"], "model.hidden")
    name = parametrization(model["parametrization"])
    check_widths(name, hidden, "model.hidden")
    n0 = model["base_width"]
    if n0 is not None:
        n0 = int(check_number("model.base_width", n0, low=1, integer=True))
    elif name != "sp":
        raise SpecError(missing_base_width(name))
    return ModelConfig(
        hidden=hidden,
        activation=activation_spec(model["activation"], "model.activation", model["slope"]),
        output=output_head(model["output"]),
        parametrization=name,
        base_width=n0,
    )


def batch_size(value: Any, key: str = "training.batch_size") -> int | None:
    return None if value is None else int(check_number(key, value, low=1, integer=True))


def weight_decay(value: Any, key: str = "training.weight_decay") -> float:
    return float(check_number(key, value, low=0))


MAX_TWINS = 1023


def twins(value: Any, key: str = "training.twins") -> int:
    """Shadow twins per run: an integer in 0 .. :data:`MAX_TWINS` (0 turns them off)."""
    return int(check_number(key, value, low=0, high=MAX_TWINS, integer=True))


def training_config(training: Mapping[str, Any], given: Collection[str] = ()) -> TrainingConfig:
    """Validate a ``[training]`` table (defaults filled in); `given` are the keys the spec
    itself wrote (``iterations`` and ``epochs`` exclude each other)."""
    if "iterations" in given and "epochs" in given:
        raise SpecError(
            "training.iterations and training.epochs exclude each other: give iterations "
            "(full-batch steps, or mini-batch steps with batch_size) or epochs (passes)"
        )
    t = dict(training)
    t["learning_rate"] = check_number("training.learning_rate", t["learning_rate"], low=0,
                                      low_open=True)  # fmt: skip
    for key in ("iterations", "seeds"):
        t[key] = int(check_number(f"training.{key}", t[key], low=1, integer=True))
    for key in ("seed", "shuffle_seed"):
        t[key] = int(check_number(f"training.{key}", t[key], low=0, integer=True))
    if t["epochs"] is not None:
        t["epochs"] = int(check_number("training.epochs", t["epochs"], low=1, integer=True))
        t["iterations"] = None
    t["batch_size"] = batch_size(t["batch_size"])
    decay = weight_decay(t.pop("weight_decay"))
    given_decay = decay if "weight_decay" in given else None  # never replaced by a default
    t["optimizer"] = optimizer_spec(t["optimizer"], weight_decay=given_decay)
    for key, valid in (("stream", STREAMS), ("engine", _engines.CHOICES), ("dtype", DTYPES)):
        if t[key] not in valid:
            raise SpecError(f"training.{key} must be one of {', '.join(valid)}; got {t[key]!r}")
    check_engine(t["engine"], t["optimizer"])
    if not isinstance(t["diagnostics"], bool):
        raise SpecError(f"training.diagnostics must be true or false; got {t['diagnostics']!r}")
    t["twins"] = twins(t["twins"])
    return TrainingConfig(**t)
