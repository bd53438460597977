r"""The ``[axes]`` table of a sweep spec (:mod:`initlab.specs.sweep_spec`), checked.

Each axis is a non-empty list of values checked as its ``[model]`` / ``[training]`` /
``[data]`` key of an experiment spec would be (``init`` also fills in LSUV's defaults, so an
init written with or without its default parameters is one value); an axis not given takes
the one value of its table (``seed``: ``training.seeds`` seeds from ``training.seed``). A
value listed twice is refused. :func:`canonical` is the JSON form that compares values here
and that run ids hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from initlab._validation import SpecError, check_number, shorten
from initlab.specs import config as _config
from initlab.specs import named as _named
from initlab.specs import spec as _spec
from initlab.specs.config import DataConfig, ModelConfig, TrainingConfig
from initlab.specs.named import OptimizerSpec

AXES = ("data", "output", "optimizer", "batch_size", "weight_decay", "parametrization",
        "hidden", "width", "activation", "init", "learning_rate", "seed")  # fmt: skip
"""The axes of a sweep, in expansion order (the last varies fastest). ``width`` is the common
hidden width: a run's hidden list is ``[width] * depth``, the depth being the length of its
``hidden`` (``[model] hidden`` or the ``hidden`` axis); None (no width axis) keeps ``hidden``."""


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces (what run ids hash)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _data_axis(axes_raw: Mapping[str, Any], base: Path) -> list[str]:
    from initlab import data as _data

    sources = _axis_list(axes_raw, "data", '["digits", "other.npz"]')
    resolved = []
    for i, v in enumerate(sources):
        if not isinstance(v, str):
            raise SpecError(f"axes.data[{i}] must be a path or a dataset name; got {v!r}")
        resolved.append(_data.resolve_source(v, base, key=f"axes.data[{i}]"))
    return resolved


def _axis_list(axes_raw: Mapping[str, Any], key: str, example: str) -> list[Any]:
    values = axes_raw[key]
    if not isinstance(values, list) or not values:
        raise SpecError(
            f"axes.{key} must be a non-empty list, e.g. {key} = {example}; got {values!r}"
        )
    return values


_AXIS_RULES: dict[str, tuple[str, Any]] = {
    "output": ('["sigmoid", "softmax"]', _config.output_head),
    "optimizer": ('["gd", {name = "adam"}]', _named.optimizer_spec),
    "batch_size": ("[32, 128]", _config.batch_size),
    "weight_decay": ("[0.0, 0.0001]", _config.weight_decay),  # None: the optimizer's own
    "parametrization": ('["sp", "mup"]', _config.parametrization),
    "width": (
        "[64, 128, 256]",
        lambda v, key: int(check_number(key, v, low=1, integer=True)),
    ),
    "learning_rate": (
        "[0.001, 0.01]",
        lambda v, key: float(check_number(key, v, low=0, low_open=True)),
    ),
}
"""Axes whose values are checked one by one, as their [model]/[training] key: (example, check)."""


def _axes(
    axes_raw: Mapping[str, Any],
    data: DataConfig,
    model: ModelConfig,
    training: TrainingConfig,
    base: Path,
    max_runs: int,
    decay: float | None = None,
) -> dict[str, list[Any]]:
    """The axes, checked; `decay` is ``training.weight_decay`` as written (None: not given)."""
    _check_lengths(axes_raw, max_runs)
    axes: dict[str, list[Any]] = {}
    inits = _axis_list(axes_raw, "init", '["he", {name = "random", scale = 10}]')
    axes["init"] = [_init(v, f"axes.init[{i}]") for i, v in enumerate(inits)]
    axes["data"] = _data_axis(axes_raw, base) if "data" in axes_raw else [data.train]
    if "activation" in axes_raw:
        acts = _axis_list(axes_raw, "activation", '["tanh", "relu"]')
        for i, a in enumerate(acts):
            if not isinstance(a, str):  # the slope of leaky_relu is model.slope
                raise SpecError(f"axes.activation[{i}] must be an activation name; got {a!r}")
            _named.activation_spec(a, f"axes.activation[{i}]", model.activation.slope)
        axes["activation"] = list(acts)
    else:
        axes["activation"] = [model.activation.name]
    if "hidden" in axes_raw:
        axes["hidden"] = [
            list(_config.hidden_widths(h, f"axes.hidden[{i}]"))
            for i, h in enumerate(_axis_list(axes_raw, "hidden", "[[5], [5, 5]]"))
        ]
    else:
        axes["hidden"] = [list(model.hidden)]
    current = {
        "output": model.output, "optimizer": training.optimizer,
        "batch_size": training.batch_size, "weight_decay": decay,
        "learning_rate": float(training.learning_rate),
        "parametrization": model.parametrization, "width": None,
    }  # fmt: skip
    for key, (example, check) in _AXIS_RULES.items():
        if key in axes_raw:
            values = _axis_list(axes_raw, key, example)
            axes[key] = [check(v, f"axes.{key}[{i}]") for i, v in enumerate(values)]
        else:
            axes[key] = [current[key]]
    axes["seed"] = _seeds(axes_raw, training, max_runs)
    for key, values in axes.items():
        seen: set[str] = set()
        for v in values:
            k = canonical(_plain(v))
            if k in seen:
                raise SpecError(f"axes.{key} lists {shorten(v)} twice; each value must be unique")
            seen.add(k)
    _check_decay(axes_raw, decay)
    _check_engine(axes["optimizer"], training.engine)
    _check_widths(axes, model, "width" in axes_raw)
    return {k: axes[k] for k in AXES}


def _check_lengths(axes_raw: Mapping[str, Any], max_runs: int) -> None:
    """Refuse a grid of more than `max_runs` runs from the lengths of its axes alone, before
    any value is checked (a list of 100,000 seeds is one line, at once)."""
    n = 1
    for key, values in axes_raw.items():
        if isinstance(values, list) and key != "seeds":
            n *= max(1, len(values))
            if n > max_runs:
                raise SpecError(
                    f"axes.{key} has {len(values):,} values: the axes expand into more than "
                    f"sweep.max_runs = {max_runs:,} runs; shrink the grid, or raise [sweep] "
                    "max_runs if you mean it"
                )


def _check_decay(axes_raw: Mapping[str, Any], decay: float | None) -> None:
    """An optimizer table of axes.optimizer with its own weight_decay beside
    training.weight_decay or axes.weight_decay: two values of one setting, refused."""
    if decay is None and "weight_decay" not in axes_raw:
        return
    other = "axes.weight_decay" if "weight_decay" in axes_raw else "training.weight_decay"
    for i, opt in enumerate(axes_raw.get("optimizer", [])):
        if isinstance(opt, Mapping) and "weight_decay" in opt:
            raise SpecError(
                f"{other} and axes.optimizer[{i}].weight_decay are the same setting: give one"
            )


def _check_engine(optimizers: list[OptimizerSpec], engine: str) -> None:
    """Refuse up front an optimizer of axes.optimizer that training.engine rules out."""
    for i, opt in enumerate(optimizers):
        _named.check_engine(engine, opt, key=f"training.engine with axes.optimizer[{i}]")


def _check_widths(axes: Mapping[str, list[Any]], model: ModelConfig, width_axis: bool) -> None:
    """Each run's hidden widths suit its parametrization; a width axis does not repeat a
    run; muP or NTK has a base width (one width or several)."""
    scaled = [p for p in axes["parametrization"] if p != "sp"]
    if width_axis:  # every hidden list is [width] * depth
        depths = [len(h) for h in axes["hidden"]]
        if len(set(depths)) < len(depths):
            raise SpecError(
                "with axes.width, axes.hidden gives only the depth (each list's length): "
                f"give lists of distinct lengths, e.g. [[64], [64, 64]]; got {axes['hidden']}"
            )
    else:
        for i, h in enumerate(axes["hidden"]):
            for p in scaled:
                key = f"axes.hidden[{i}]" if len(axes["hidden"]) > 1 else "model.hidden"
                _config.check_widths(p, h, key)
    if scaled and model.base_width is None:
        raise SpecError(_config.missing_base_width(scaled[0]))


def _plain(value: Any) -> Any:
    return value.as_dict() if isinstance(value, OptimizerSpec) else value


def _init(value: Any, key: str) -> tuple[str, dict[str, Any]]:
    """spec's check, with LSUV's defaults filled in (initializers fill theirs), so that an
    init written with or without its default parameters is the same run."""
    from initlab.init.lsuv import LSUV_PARAMS

    name, params = _spec.check_init(value, key)
    return name, ({**LSUV_PARAMS, **params} if name == "lsuv" else params)


def _seeds(axes_raw: Mapping[str, Any], training: TrainingConfig, max_runs: int) -> list[int]:
    if "seed" in axes_raw and "seeds" in axes_raw:
        raise SpecError(
            "give axes.seed (a list of seeds) or axes.seeds (a count from training.seed), not both"
        )
    if "seed" in axes_raw:
        values = _axis_list(axes_raw, "seed", "[0, 1, 2]")
        seeds = [
            int(check_number(f"axes.seed[{i}]", v, low=0, integer=True))
            for i, v in enumerate(values)
        ]
    else:
        key = "axes.seeds" if "seeds" in axes_raw else "training.seeds"
        n = int(check_number(key, axes_raw.get("seeds", training.seeds), low=1, integer=True))
        if n > max_runs:
            raise SpecError(
                f"{key} = {n:,} makes more than sweep.max_runs = {max_runs:,} runs: use "
                "fewer seeds, or raise [sweep] max_runs if you mean it"
            )
        seeds = list(range(training.seed, training.seed + n))
    if training.stream == "legacy" and max(seeds) >= 2**32:
        raise SpecError("the legacy stream needs seeds below 2**32 (axes.seed)")
    return seeds
