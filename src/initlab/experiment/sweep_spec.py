r"""Sweep specifications: a grid of experiments in one TOML file, expanded into runs.

A sweep spec has the tables of an experiment spec (:mod:`initlab.experiment.spec`: ``[data]``,
``[model]``, ``[training]``, same keys, same defaults, same checks) and, instead of
``[[runs]]``, an ``[axes]`` table of lists whose Cartesian product is the set of runs::

    [data]
    train = "digits"               # or give several sources as axes.data
    test_fraction = 0.25

    [training]
    iterations = 1000              # learning_rate, seed(s), activation, hidden: the
                                   # values used when the axis is not given

    [sweep]
    max_population = 256           # members trained together at most (memory bound)

    [axes]
    init = ["zeros", {name = "random", scale = 10}, "he", "xavier"]   # required
    activation = ["tanh", "relu", "sigmoid"]
    hidden = [[5, 5], [5, 5, 5]]
    learning_rate = [0.001, 0.01]
    seeds = 5                      # seeds training.seed .. training.seed + 4; or seed = [0, 7]
    data = ["digits", "more.npz"]  # train sources (the rest of [data] applies to each)

Differences from an experiment spec: ``training.diagnostics`` defaults to false here
(per-layer diagnostics of thousands of runs are rarely wanted and cost time), and
``[data] train`` may be replaced by ``axes.data``.

Each run has a stable id: the first 16 hex digits of the SHA-256 of its resolved config
(:func:`run_config`) as canonical JSON (sorted keys, no spaces, numbers of init
parameters and learning rate as floats). The same config gives the same id in any process
and on any machine with the same paths; any change gives another id. Data paths are made
absolute, so moving the data changes the ids. ``diagnostics`` and ``max_population`` are
not part of a run's identity: they do not change its numbers.

Runs that share data and architecture (data table, hidden, activation, slope, iterations,
stream, dtype, engine) form a *group*, trained as populations of at most
``max_population`` members (:func:`chunks`); a member's numbers do not depend on the
population it is trained in (:func:`initlab.nn.network.first_layer`), so chunking is free
to follow the number of workers.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab._validation import SpecError, check_keys, check_number
from initlab.experiment import spec as _spec
from initlab.results.labels import init_label

SWEEP_DEFAULTS: dict[str, Any] = {"max_population": 256}
"""Defaults of the ``[sweep]`` table."""
TRAINING_DEFAULTS: dict[str, Any] = {**_spec.DEFAULTS["training"], "diagnostics": False}
"""``[training]`` defaults of a sweep: those of an experiment, without diagnostics."""
AXES = ("data", "hidden", "activation", "init", "learning_rate", "seed")
"""The axes of a sweep, in expansion order (the last varies fastest)."""
GROUP_KEYS = ("data", "hidden", "activation", "slope", "iterations", "stream", "dtype", "engine")
"""Config keys that runs of one population share."""


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its id, its resolved config, and the Run that trains it."""

    id: str
    config: dict[str, Any]
    run: _spec.Run

    @property
    def group(self) -> str:
        return canonical({k: self.config[k] for k in GROUP_KEYS})

    def axes(self) -> dict[str, Any]:
        """The axis values of this run (``data`` is the train source)."""
        c = self.config
        return {
            "data": c["data"]["train"],
            "hidden": c["hidden"],
            "activation": c["activation"],
            "init": self.run.init,
            "params": self.run.params,
            "learning_rate": c["learning_rate"],
            "seed": c["seed"],
        }


@dataclass
class SweepSpec:
    """A validated sweep: resolved tables, axes, and the runs they expand into."""

    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    axes: dict[str, list[Any]]
    max_population: int
    runs: list[SweepRun] = field(default_factory=list)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (defaults filled in, paths absolute), recorded in the store."""
        axes = dict(self.axes)
        axes["init"] = [{"name": n, **p} for n, p in axes["init"]]
        return {
            "data": self.data,
            "model": self.model,
            "training": self.training,
            "sweep": {"max_population": self.max_population},
            "axes": axes,
        }


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no spaces (what run ids hash)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_id(config: Mapping[str, Any]) -> str:
    """First 16 hex digits of the SHA-256 of ``canonical(config)``."""
    return hashlib.sha256(canonical(config).encode("utf-8")).hexdigest()[:16]


def _floats(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in params.items()
    }


def load(path: str | Path) -> SweepSpec:
    """Read and validate the TOML sweep file at `path`."""
    sweep = _spec.load_toml(path, parse, "sweep spec")
    sweep.source = str(Path(path).resolve())
    return sweep


def parse(raw: Mapping[str, Any], base: str | Path = ".") -> SweepSpec:
    """Validate a sweep given as nested dicts (as from TOML) and expand it into runs."""
    if "runs" in raw:
        raise SpecError(
            "a sweep spec has an [axes] table instead of [[runs]] (see examples/sweep.toml)"
        )
    check_keys("the sweep spec", raw, ("data", "model", "training", "axes", "sweep"))
    defaults = {**_spec.DEFAULTS, "training": TRAINING_DEFAULTS, "sweep": SWEEP_DEFAULTS}
    tables: dict[str, dict[str, Any]] = {}
    for name in ("data", "model", "training", "sweep"):
        given = raw.get(name, {})
        if not isinstance(given, Mapping):
            raise SpecError(f"[{name}] must be a table")
        allowed = (*defaults[name], "train") if name == "data" else defaults[name]
        check_keys(f"[{name}]", given, allowed)
        tables[name] = {**copy.deepcopy(defaults[name]), **given}
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, Mapping) or "init" not in axes_raw:
        raise SpecError(
            'the sweep has no axes.init: add an [axes] table with at least init = ["he", "xavier"]'
        )
    check_keys("[axes]", axes_raw, (*AXES, "seeds"))
    base = Path(base)
    data = _data_table(tables["data"], axes_raw, base)
    model = _spec._check_model(tables["model"])
    training = _spec._check_training(tables["training"])
    max_pop = check_number(
        "sweep.max_population", tables["sweep"]["max_population"], low=1, integer=True
    )
    axes = _axes(axes_raw, data, model, training, base)
    sweep = SweepSpec(data, model, training, axes, int(max_pop))
    sweep.runs = expand(sweep)
    return sweep


def _data_table(data: dict[str, Any], axes_raw: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The [data] table checked by spec's rules; with axes.data, for its first source."""
    if "data" in axes_raw:
        if "train" in data:
            raise SpecError("give the training data as data.train or as axes.data, not both")
        data["train"] = _data_axis(axes_raw, base)[0]
    return _spec._check_data(data, base)


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


def _axes(
    axes_raw: Mapping[str, Any],
    data: dict[str, Any],
    model: dict[str, Any],
    training: dict[str, Any],
    base: Path,
) -> dict[str, list[Any]]:
    axes: dict[str, list[Any]] = {}
    inits = _axis_list(axes_raw, "init", '["he", {name = "random", scale = 10}]')
    axes["init"] = [_init(v, f"axes.init[{i}]") for i, v in enumerate(inits)]

    axes["data"] = _data_axis(axes_raw, base) if "data" in axes_raw else [data["train"]]

    if "activation" in axes_raw:
        acts = _axis_list(axes_raw, "activation", '["tanh", "relu"]')
        for i, a in enumerate(acts):
            _spec._activation(a, model["slope"], f"axes.activation[{i}]")
        axes["activation"] = list(acts)
    else:
        axes["activation"] = [model["activation"]]

    if "hidden" in axes_raw:
        axes["hidden"] = []
        for i, h in enumerate(_axis_list(axes_raw, "hidden", "[[5], [5, 5]]")):
            if not isinstance(h, list):
                raise SpecError(
                    f"axes.hidden[{i}] must be a list of layer widths, e.g. [5, 5]; got {h!r}"
                )
            widths = [
                check_number(f"axes.hidden[{i}][{j}]", n, low=1, integer=True)
                for j, n in enumerate(h)
            ]
            if not widths:
                raise SpecError(f"axes.hidden[{i}] is empty: give at least one layer width")
            axes["hidden"].append(widths)
    else:
        axes["hidden"] = [list(model["hidden"])]

    if "learning_rate" in axes_raw:
        lrs = _axis_list(axes_raw, "learning_rate", "[0.001, 0.01]")
        axes["learning_rate"] = [
            float(check_number(f"axes.learning_rate[{i}]", v, low=0, low_open=True))
            for i, v in enumerate(lrs)
        ]
    else:
        axes["learning_rate"] = [float(training["learning_rate"])]

    axes["seed"] = _seeds(axes_raw, training)
    for key, values in axes.items():
        keys = [canonical(v) for v in values]
        for i, k in enumerate(keys):
            if k in keys[:i]:
                raise SpecError(f"axes.{key} lists {values[i]!r} twice; each value must be unique")
    return axes


def _init(value: Any, key: str) -> tuple[str, dict[str, Any]]:
    """spec's check, with LSUV's defaults filled in (initializers fill theirs), so that an
    init written with or without its default parameters is the same run."""
    from initlab.init.lsuv import LSUV_PARAMS

    name, params = _spec.check_init(value, key)
    return name, ({**LSUV_PARAMS, **params} if name == "lsuv" else params)


def _seeds(axes_raw: Mapping[str, Any], training: dict[str, Any]) -> list[int]:
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
        n = int(check_number(key, axes_raw.get("seeds", training["seeds"]), low=1, integer=True))
        seeds = list(range(training["seed"], training["seed"] + n))
    if training["stream"] == "legacy" and max(seeds) >= 2**32:
        raise SpecError("the legacy stream needs seeds below 2**32 (axes.seed)")
    return seeds


_PAR_KEYS = ("parametrization", "base_width")


def run_config(
    sweep: SweepSpec,
    data: str,
    hidden: Sequence[int],
    activation: str,
    init: tuple[str, dict[str, Any]],
    learning_rate: float,
    seed: int,
) -> dict[str, Any]:
    """The resolved config of one run: everything that determines its numbers."""
    t = sweep.training
    return {
        "data": {**sweep.data, "train": data},
        "hidden": [int(n) for n in hidden],
        "activation": activation,
        "slope": sweep.model["slope"],
        "init": {"name": init[0], **_floats(init[1])},
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "iterations": int(t["iterations"]),
        "stream": t["stream"],
        "dtype": t["dtype"],
        "engine": t["engine"],
        # only when not SP: earlier sweeps' run ids (a hash of this dict) stay as they were
        **(
            {k: m[k] for k in _PAR_KEYS}
            if (m := sweep.model).get("parametrization", "sp") != "sp"
            or m.get("base_width") is not None
            else {}
        ),
    }


def expand(sweep: SweepSpec) -> list[SweepRun]:
    """The Cartesian product of the axes, in :data:`AXES` order (seed fastest)."""
    a = sweep.axes
    runs = []
    for data, hidden, act, init, lr, seed in itertools.product(*(a[k] for k in AXES)):
        config = run_config(sweep, data, hidden, act, init, lr, seed)
        name, params = init
        run = _spec.Run(
            init_label(name, params), name, params, seed, a["seed"].index(seed), lr, act
        )
        runs.append(SweepRun(run_id(config), config, run))
    return runs


@dataclass(frozen=True)
class Chunk:
    """One task: runs of one group, trained as one population by a worker."""

    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    runs: tuple[_spec.Run, ...]
    ids: tuple[str, ...]

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the longest tasks first."""
        return len(self.runs) * self.training["iterations"] * (len(self.model["hidden"]) + 1)


def chunks(runs: Sequence[SweepRun], sweep: SweepSpec, *, workers: int = 1) -> list[Chunk]:
    """Group `runs` into populations of at most ``max_population`` members.

    Groups are split into near-equal chunks; when there are fewer runs than
    ``workers * max_population``, chunks are made smaller so every worker gets one.
    Chunks are returned data source by source (a worker keeps the data of the last
    sources it loaded), longest first.
    """
    groups: dict[str, list[SweepRun]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    size = min(sweep.max_population, max(1, math.ceil(len(runs) / max(1, workers))))
    out = []
    for members in groups.values():
        n = math.ceil(len(members) / size)
        step = math.ceil(len(members) / n)
        for i in range(0, len(members), step):
            part = members[i : i + step]
            c = part[0].config
            out.append(
                Chunk(
                    data=c["data"],
                    model={
                        k: c[k] for k in ("hidden", "activation", "slope", *_PAR_KEYS) if k in c
                    },
                    training={**sweep.training, "engine": c["engine"]},
                    runs=tuple(r.run for r in part),
                    ids=tuple(r.id for r in part),
                )
            )
    sources = list(dict.fromkeys(ch.data["train"] for ch in out))
    return sorted(out, key=lambda ch: (sources.index(ch.data["train"]), -ch.cost))
