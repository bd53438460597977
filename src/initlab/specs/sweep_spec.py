r"""Sweep specifications: a grid of experiments in one TOML file, expanded into runs.

A sweep spec has the tables of an experiment spec (:mod:`initlab.specs.spec`: ``[data]``,
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
    output = ["sigmoid", "softmax"]                  # model.output
    optimizer = ["gd", {name = "adam", beta1 = 0.8}] # training.optimizer
    batch_size = [32, 128]                           # training.batch_size
    weight_decay = [0.0, 1e-4]                       # training.weight_decay
    parametrization = ["sp", "mup"]                  # model.parametrization (base_width)
    width = [64, 128, 256]         # hidden = [width] * depth (depth: the hidden lists' lengths)

Differences from an experiment spec: ``training.diagnostics`` defaults to false here
(per-layer diagnostics of thousands of runs are rarely wanted and cost time), and
``[data] train`` may be replaced by ``axes.data``.

Each run has a stable id: the first 16 hex digits of the SHA-256 of its resolved config
(:func:`run_config`) as canonical JSON (sorted keys, no spaces, numbers of init
parameters and learning rate as floats). The same config gives the same id in any process
and on any machine with the same paths; any change gives another id. Data paths are made
absolute, so moving the data changes the ids; the ids do not hash the data's contents
(that would change every stored id): the store records each source's content hash instead,
and a resume over changed data is refused (:func:`initlab.execution.sweep.prepare`).
``diagnostics``, ``max_population`` and ``max_runs`` are not part of a run's identity: they
do not change its numbers. The keys added after the first sweeps (``output``,
``optimizer``, ``batch_size`` with ``shuffle_seed``, ``epochs``) enter the config only away
from their defaults, so every run of an older spec keeps its id; so do ``parametrization``
and ``base_width``, away from SP (whose numbers do not depend on the base width). A
``width`` axis only writes ``hidden``: a run of it has the id of the same run written with
its hidden list. The optimizer enters with
every hyperparameter (defaults filled in, ``weight_decay`` included: a ``weight_decay`` axis
sets the weight decay of each optimizer of the ``optimizer`` axis).

A sweep expands into at most ``[sweep] max_runs`` runs (100,000 by default): a larger grid
is refused at once, with its size, before any run is made.

Runs that share data and architecture and optimizer (data table, hidden, activation,
slope, output, optimizer, batch size, weight decay, iterations, stream, dtype, engine,
parametrization and base width)
form a *group*, trained as populations of at most
``max_population`` members (:func:`chunks`); a member's numbers do not depend on the
population it is trained in (:func:`initlab.nn.network.first_layer`), so chunking is free
to follow the number of workers.

The ``[axes]`` table is checked in :mod:`initlab.specs.sweep_axes`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from initlab._validation import SpecError, check_keys, check_number
from initlab.results.labels import init_label
from initlab.specs import config as _config
from initlab.specs import spec as _spec
from initlab.specs.config import DataConfig, ModelConfig, OptimizerSpec, TrainingConfig
from initlab.specs.sweep_axes import AXES, _axes, _data_axis, canonical

T = TypeVar("T")

SWEEP_DEFAULTS: dict[str, Any] = {"max_population": 256, "max_runs": 100_000}
"""Defaults of the ``[sweep]`` table."""
TRAINING_DEFAULTS: dict[str, Any] = {**_spec.DEFAULTS["training"], "diagnostics": False,
                                     "twins": 0}  # fmt: skip
"""``[training]`` defaults of a sweep: those of an experiment, without diagnostics and
without shadow twins (they double a sweep's training: ``twins = 1`` marks its chaotic runs;
a run's id does not depend on it, as its numbers do not)."""
NEW_KEYS = {"output": "sigmoid", "optimizer": OptimizerSpec().as_dict(), "batch_size": None,
            "epochs": None}  # fmt: skip
"""Config keys written into a run's config only away from these defaults (stable ids)."""
PAR_KEYS = ("parametrization", "base_width")
"""Config keys of a width parametrization: written only away from SP (stable ids)."""
GROUP_KEYS = ("data", "hidden", "activation", "slope", "iterations", "stream", "dtype", "engine",
              *NEW_KEYS, "shuffle_seed", *PAR_KEYS)  # fmt: skip
"""Config keys that runs of one population share."""


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its id, its resolved config, and the Run that trains it."""

    id: str
    config: dict[str, Any]
    run: _spec.Run

    @property
    def group(self) -> str:
        return canonical({k: self.config.get(k) for k in GROUP_KEYS})

    def axes(self) -> dict[str, Any]:
        """The axis values of this run (``data`` is the train source; ``output``,
        ``optimizer`` and ``batch_size`` only away from their defaults)."""
        c = self.config
        return {
            "data": c["data"]["train"],
            "hidden": c["hidden"],
            "activation": c["activation"],
            "init": self.run.init,
            "params": self.run.params,
            "learning_rate": c["learning_rate"],
            "seed": c["seed"],
            **{k: c[k] for k in ("output", "optimizer", "batch_size", *PAR_KEYS) if k in c},
        }


@dataclass
class SweepSpec:
    """A validated sweep: typed tables, axes, and the runs they expand into."""

    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    axes: dict[str, list[Any]]
    max_population: int
    max_runs: int = SWEEP_DEFAULTS["max_runs"]
    runs: list[SweepRun] = field(default_factory=list)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec (defaults filled in, paths absolute), recorded in the store."""
        axes = dict(self.axes)
        axes["init"] = [{"name": n, **p} for n, p in axes["init"]]
        axes["optimizer"] = [o.as_dict() for o in axes["optimizer"]]
        return {
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "training": self.training.to_dict(),
            "sweep": {"max_population": self.max_population, "max_runs": self.max_runs},
            "axes": axes,
        }


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
    tables = {n: _config.table(raw, n, defaults[n]) for n in ("data", "model", "training", "sweep")}
    axes_raw = raw.get("axes")
    if not isinstance(axes_raw, Mapping) or "init" not in axes_raw:
        raise SpecError(
            'the sweep has no axes.init: add an [axes] table with at least init = ["he", "xavier"]'
        )
    check_keys("[axes]", axes_raw, (*AXES, "seeds"))
    base = Path(base)
    data = _data_table(tables["data"], axes_raw, base)
    model = _config.model_config(tables["model"])
    training = _config.training_config(tables["training"], given=raw.get("training", {}))
    max_pop, max_runs = (
        int(check_number(f"sweep.{k}", tables["sweep"][k], low=1, integer=True))
        for k in ("max_population", "max_runs")
    )
    decay = _config.weight_decay(tables["training"]["weight_decay"])
    given = "weight_decay" in raw.get("training", {})
    axes = _axes(axes_raw, data, model, training, base, max_runs, decay if given else None)
    n = math.prod(len(v) for v in axes.values())
    if n > max_runs:
        shape = " x ".join(f"{len(v)} {k}" for k, v in axes.items() if len(v) > 1)
        raise SpecError(
            f"the axes expand into {n:,} runs ({shape}), more than sweep.max_runs = "
            f"{max_runs:,}: shrink the grid, or raise [sweep] max_runs if you mean it"
        )
    K = min(max_pop, n)
    if training.iterations is not None and 8 * K * training.iterations > _spec.MAX_HISTORY_BYTES:
        raise SpecError(
            f"training.iterations = {training.iterations} would record a cost history of "
            f"{K} x {training.iterations} floats ({8 * K * training.iterations / 2**30:,.0f} "
            f"GiB) per population; at most {_spec.MAX_HISTORY_BYTES // 2**30} GiB: use fewer "
            "iterations or a smaller sweep.max_population"
        )
    sweep = SweepSpec(data, model, training, axes, max_pop, max_runs)
    sweep.runs = expand(sweep)
    return sweep


def _data_table(data: dict[str, Any], axes_raw: Mapping[str, Any], base: Path) -> DataConfig:
    """The [data] table checked by spec's rules; with axes.data, for its first source."""
    if "data" in axes_raw:
        if "train" in data:
            raise SpecError("give the training data as data.train or as axes.data, not both")
        data["train"] = _data_axis(axes_raw, base)[0]
    return _config.data_config(data, base)


def run_config(
    sweep: SweepSpec,
    data: str,
    hidden: Sequence[int],
    activation: str,
    init: tuple[str, dict[str, Any]],
    learning_rate: float,
    seed: int,
    **new: Any,
) -> dict[str, Any]:
    """The resolved config of one run: everything that determines its numbers.

    `new` holds the values of :data:`NEW_KEYS` (``output``, ``optimizer``, ``batch_size``)
    and ``parametrization``; each enters the config only away from its default (the post's),
    ``shuffle_seed`` only with a ``batch_size``, and ``base_width`` (required by the spec's
    checks for NTK and muP) only with a parametrization other than SP, so that the ids of older
    specs stand.
    """
    t = sweep.training
    config = {
        "data": {**sweep.data.to_dict(), "train": data},
        "hidden": [int(n) for n in hidden],
        "activation": activation,
        "slope": sweep.model.activation.slope,
        "init": {"name": init[0], **_floats(init[1])},
        "learning_rate": float(learning_rate),
        "seed": int(seed),
        "iterations": t.iterations,  # None with epochs: removed below
        "stream": t.stream,
        "dtype": t.dtype,
        "engine": t.engine,
    }
    values = {
        "output": sweep.model.output, "optimizer": t.optimizer, "batch_size": t.batch_size,
        "epochs": t.epochs, **{k: v for k, v in new.items() if k in NEW_KEYS},
    }  # fmt: skip
    values["optimizer"] = values["optimizer"].as_dict()
    for key, default in NEW_KEYS.items():
        if values[key] != default:
            config[key] = values[key]
    if "epochs" in config:
        del config["iterations"]  # epochs replace iterations
    if "batch_size" in config:
        config["shuffle_seed"] = t.shuffle_seed
    p = new.get("parametrization", sweep.model.parametrization)
    if p != "sp":  # SP's numbers do not depend on base_width: SP runs keep their ids
        config.update(parametrization=p, base_width=sweep.model.base_width)
    return config


def expand(sweep: SweepSpec) -> list[SweepRun]:
    """The Cartesian product of the axes, in :data:`AXES` order (seed fastest)."""
    a = sweep.axes
    replicate = {seed: r for r, seed in enumerate(a["seed"])}
    runs = []
    for values in itertools.product(*(a[k] for k in AXES)):
        v = dict(zip(AXES, values, strict=True))
        opt = v["optimizer"]
        if v["weight_decay"] is not None:
            opt = OptimizerSpec(opt.name, {**opt.params, "weight_decay": v["weight_decay"]})
        new = {"output": v["output"], "optimizer": opt, "batch_size": v["batch_size"],
               "parametrization": v["parametrization"]}  # fmt: skip
        hidden = v["hidden"] if v["width"] is None else [v["width"]] * len(v["hidden"])
        config = run_config(
            sweep, v["data"], hidden, v["activation"], v["init"], v["learning_rate"],
            v["seed"], **new,
        )  # fmt: skip
        name, params = v["init"]
        run = _spec.Run(
            init_label(name, params), name, params, v["seed"], replicate[v["seed"]],
            v["learning_rate"], v["activation"],
            {} if sweep.model.activation.slope is None else {"slope": sweep.model.activation.slope},
        )  # fmt: skip
        runs.append(SweepRun(run_id(config), config, run))
    return runs


@dataclass(frozen=True)
class Chunk:
    """One task: runs of one group, trained as one population by a worker."""

    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    runs: tuple[_spec.Run, ...]
    ids: tuple[str, ...]

    @property
    def cost(self) -> float:
        """A rough relative cost, to start the longest tasks first."""
        t = self.training
        return len(self.runs) * (t.iterations or t.epochs or 1) * (len(self.model.hidden) + 1)


def _chunk_tables(c: Mapping[str, Any], sweep: SweepSpec) -> tuple[ModelConfig, TrainingConfig]:
    """The [model] and [training] of a group, from one run's config."""
    model = ModelConfig(
        hidden=tuple(c["hidden"]),
        activation=_config.ActivationSpec(
            c["activation"], {} if c["slope"] is None else {"slope": c["slope"]}
        ),
        output=c.get("output", "sigmoid"),
        parametrization=c.get("parametrization", "sp"),
        base_width=c.get("base_width"),
    )
    opt = c.get("optimizer", NEW_KEYS["optimizer"])
    training = replace(
        sweep.training, engine=c["engine"], batch_size=c.get("batch_size"),
        optimizer=OptimizerSpec(opt["name"], {k: v for k, v in opt.items() if k != "name"}),
    )  # fmt: skip
    return model, training


def chunks(runs: Sequence[SweepRun], sweep: SweepSpec, *, workers: int = 1) -> list[Chunk]:
    """Group `runs` into populations of at most ``max_population`` members.

    Groups are split into near-equal chunks; when there are fewer runs than
    ``workers * max_population``, chunks are made smaller so every worker gets one.
    Chunks are returned data source by source (a worker keeps the data of the last
    sources it loaded), longest first.
    """
    out = []
    for part in partition(runs, lambda r: r.group, sweep.max_population, workers):
        c = part[0].config
        model, training = _chunk_tables(c, sweep)
        out.append(
            Chunk(
                data=DataConfig(**c["data"]),
                model=model,
                training=training,
                runs=tuple(r.run for r in part),
                ids=tuple(r.id for r in part),
            )
        )
    sources = list(dict.fromkeys(ch.data.train for ch in out))
    return sorted(out, key=lambda ch: (sources.index(ch.data.train), -ch.cost))


def partition(
    items: Sequence[T], group: Callable[[T], str], cap: int, workers: int = 1
) -> list[list[T]]:
    """`items` split by ``group(item)`` into parts of at most `cap`, near-equal within a
    group, in the order of the items; smaller parts when there are fewer items than
    ``workers * cap``, so every worker gets one (what :func:`chunks` and studies' populations
    follow)."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(group(item), []).append(item)
    size = min(cap, max(1, math.ceil(len(items) / max(1, workers))))
    parts = []
    for members in groups.values():
        step = math.ceil(len(members) / math.ceil(len(members) / size))
        parts += [members[i : i + step] for i in range(0, len(members), step)]
    return parts
