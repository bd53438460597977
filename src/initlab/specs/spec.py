r"""Experiment specifications: a TOML file, validated whole, resolved into runs.

An experiment compares initializations (and seeds and learning rates) on one data set::

    [data]
    train = "cats-vs-dogs"          # a folder, .h5/.hdf5, .npz, a bundled name, or a fetched name
    test = "test.h5"                # optional held-out data, or:
    # test_fraction = 0.2           # hold out a stratified fraction of `train` ...
    # split_seed = 0                # ... drawn with this seed

    [model]
    hidden = [5, 5]                 # hidden layer widths
    activation = "tanh"             # tanh, sigmoid, relu, leaky_relu (slope = 0.01), linear;
                                    # or a table: { name = "leaky_relu", slope = 0.2 }
    output = "sigmoid"              # sigmoid (binary cross-entropy, one unit: the post),
                                    # softmax (cross-entropy, one unit per class), linear (MSE)
    parametrization = "sp"          # sp, ntk, mup (docs/scaling.md): needs equal hidden widths
    base_width = 64                 # its base width n0 (required by ntk and mup)

    [training]
    learning_rate = 0.01
    iterations = 1000               # full-batch steps; or, with mini-batches:
    # batch_size = 64               # examples per step (default: all of them)
    # epochs = 5                    # passes over the data, replacing `iterations`
    # shuffle_seed = 0              # the seed of each epoch's shuffle
    optimizer = "gd"                # gd, sgd, momentum, adam, adamw, or a table, e.g.
                                    # { name = "adam", beta1 = 0.9, beta2 = 0.999, eps = 1e-8 }
                                    # { name = "momentum", momentum = 0.9, nesterov = false }
                                    # { name = "adamw", weight_decay = 0.01 }
    weight_decay = 0.0              # L2 penalty (lambda / 2) ||W||^2 on the weights
    seed = 1                        # first seed; `seeds = N` uses seed, seed+1, ..., seed+N-1
    seeds = 1
    stream = "legacy"               # "default" (PCG64) or "legacy" (np.random.seed + randn)
    engine = "auto"                 # auto, direct, sample
    dtype = "float64"               # or float32
    diagnostics = true              # record per-layer diagnostics
    twins = 1                       # shadow twins per run, to mark chaotic runs (0: none)

    [[runs]]
    name = "random x 10"
    init = { name = "random", scale = 10 }   # or a plain name: init = "he"
    # learning_rate, seed, seeds, activation may be overridden per run

Relative paths are relative to the spec file. Every problem is reported before any
training, with the key that holds it. The tables become the frozen dataclasses of
:mod:`initlab.specs.config`, which hold every default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from initlab import _limits
from initlab._validation import InitlabError, SpecError, check_keys, check_number
from initlab.init import catalogue as _initializers
from initlab.specs import config as _config
from initlab.specs import named as _named
from initlab.specs.config import (
    DEFAULTS,
    DTYPES,
    ActivationSpec,
    DataConfig,
    ModelConfig,
    TrainingConfig,
)

__all__ = ["DEFAULTS", "DTYPES", "MAX_RUNS", "Run", "Spec", "check_init", "load", "parse"]

T = TypeVar("T")

RUN_KEYS = ("name", "init", "learning_rate", "seed", "seeds", "activation")
MAX_RUNS = 100_000
"""The most runs one experiment spec may expand into (a sweep has its own bound)."""
MAX_NAME_BYTES = 200
"""The longest run name (UTF-8 bytes): it becomes ``cost_<name>-<n>.png``, and file names
are at most 255 bytes (NAME_MAX) on Linux, macOS and Windows file systems."""
MAX_SPEC_BYTES = 16 * 2**20
"""The largest spec file read (16 MiB; a spec is a few hundred bytes)."""
MAX_HISTORY_BYTES = 2**31
"""The largest cost history (K x T float64) an experiment may record: 2 GiB."""


@dataclass(frozen=True)
class Run:
    """One trained network: a named run's init at one seed (a population member)."""

    name: str
    init: str
    params: dict[str, Any]
    seed: int
    replicate: int
    learning_rate: float
    activation: str
    activation_params: dict[str, Any] = field(default_factory=dict)

    @property
    def init_spec(self) -> dict[str, Any]:
        return {"name": self.init, **self.params}

    @property
    def activation_spec(self) -> ActivationSpec:
        return ActivationSpec(self.activation, self.activation_params)

    @property
    def population_key(self) -> tuple:
        """Runs of an experiment with equal keys (one activation) train as one population."""
        return (self.activation, tuple(sorted(self.activation_params.items())))


@dataclass
class Spec:
    """A validated experiment: its typed tables and the runs it expands into."""

    data: DataConfig
    model: ModelConfig
    training: TrainingConfig
    runs: list[Run] = field(default_factory=list)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (defaults filled in), saved beside the results."""
        return {
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "training": self.training.to_dict(),
            "runs": [asdict(r) for r in self.runs],
        }


def load_toml(path: str | Path, parse: Callable[..., T], what: str = "spec file") -> T:
    """Read the TOML file at `path` and validate it with ``parse(raw, base=path.parent)``.

    Every error becomes a :class:`SpecError` that starts with the file's path.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.toml"))[:3]
        hint = ", ".join(str(p) for p in found) if found else f"no .toml file is in {path}"
        raise SpecError(f"{path} is a directory; a {what} (TOML) is expected, e.g. {hint}")
    if not path.exists():
        raise SpecError(f"{what} {path} does not exist")
    try:
        text = _limits.read_bounded(path, MAX_SPEC_BYTES, what).decode("utf-8")
        raw = tomllib.loads(text)
        _limits.check_nesting(raw, str(path))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} is not valid TOML: {_limits.clip(str(exc), 300)}") from None
    except (RecursionError, ValueError) as exc:  # nesting; an integer of > 4300 digits
        if isinstance(exc, InitlabError):
            raise SpecError(str(exc)) from None
        problem = (
            f"arrays or tables are nested too deeply (at most {_limits.MAX_NESTING} levels)"
            if isinstance(exc, RecursionError)
            else f"a number is too long ({_limits.clip(str(exc).split(';')[0], 200)})"
        )
        raise SpecError(f"{path} is not a usable spec: {problem}") from None
    try:
        return parse(raw, base=path.parent)
    except InitlabError as exc:
        raise SpecError(f"{path}: {exc}") from None


def load(path: str | Path) -> Spec:
    """Read and validate the TOML experiment file at `path`."""
    spec = load_toml(path, parse)
    spec.source = str(path)
    return spec


def parse(raw: Mapping[str, Any], base: str | Path = ".") -> Spec:
    """Validate a spec given as nested dicts (as from TOML) and resolve its runs."""
    check_keys("the spec", raw, ("data", "model", "training", "runs"))
    tables = {name: _config.table(raw, name, d) for name, d in DEFAULTS.items()}
    data = _config.data_config(tables["data"], Path(base))
    model = _config.model_config(tables["model"])
    training = _config.training_config(tables["training"], given=raw.get("training", {}))
    runs_raw = raw.get("runs")
    if not runs_raw:
        raise SpecError(
            "the spec has no [[runs]]: add at least one, e.g. [[runs]] name = 'he' init = 'he'"
        )
    runs = _resolve_runs(runs_raw, model, training)
    _check_history(runs, training)
    return Spec(data, model, training, runs)


def _check_history(runs: list[Run], training: TrainingConfig) -> None:
    """Refuse a run whose cost history (K x T float64, per population) cannot be held."""
    if training.epochs is not None:
        return  # steps depend on the data's size: checked with the data (runner.check_memory)
    sizes: dict[tuple, int] = {}
    for r in runs:
        sizes[r.population_key] = sizes.get(r.population_key, 0) + 1
    K = max(sizes.values())
    size = 8 * K * training.iterations
    if size > MAX_HISTORY_BYTES:
        raise SpecError(
            f"training.iterations = {training.iterations} would record a cost history of "
            f"{K} x {training.iterations} floats ({size / 2**30:,.0f} GiB) for one population; "
            f"initlab records every iteration and allows at most {MAX_HISTORY_BYTES // 2**30} "
            "GiB: use fewer iterations or fewer runs"
        )


def check_init(init: Any, key: str) -> tuple[str, dict[str, Any]]:
    """Validate an init given as a name or a table; return ``(name, params)``."""
    from initlab.init import lsuv as _lsuv

    name, params = _named.named(init, key, "{name = 'random', scale = 10}")
    try:
        if name == "lsuv":
            check_keys(key, params, _lsuv.LSUV_PARAMS)
            _lsuv._check_options(**{**_lsuv.LSUV_PARAMS, **params})
        else:
            built = _initializers.get(name, **params)
            params = dict(built.params)
    except InitlabError as exc:
        extra = ", and lsuv (data-dependent)" if "valid initializers" in str(exc) else ""
        raise SpecError(f"{key}: {exc}{extra}") from None
    return name, params


def _resolve_runs(runs_raw: Any, model: ModelConfig, training: TrainingConfig) -> list[Run]:
    if not isinstance(runs_raw, list):
        raise SpecError("runs must be an array of tables: [[runs]]")
    runs, names, total = [], set(), 0
    for i, run in enumerate(runs_raw):
        where = f"runs[{i}]"
        if not isinstance(run, Mapping):
            raise SpecError(f"{where} must be a table")
        check_keys(where, run, RUN_KEYS)
        if "init" not in run:
            raise SpecError(f"{where} needs an 'init'")
        init, params = check_init(run["init"], f"{where}.init")
        name = run.get("name", init)
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where}.name must be a non-empty string")
        if len(name.encode("utf-8")) > MAX_NAME_BYTES:
            raise SpecError(
                f"{where}.name has {len(name.encode('utf-8')):,} bytes; a run name becomes a "
                f"file name (cost_<name>.png, at most 255 bytes on most file systems): use at "
                f"most {MAX_NAME_BYTES} bytes"
            )
        if name in names:
            raise SpecError(f"{where}.name {name!r} is used by another run; names must be unique")
        names.add(name)
        lr = check_number(
            f"{where}.learning_rate",
            run.get("learning_rate", training.learning_rate),
            low=0,
            low_open=True,
        )
        seed = check_number(f"{where}.seed", run.get("seed", training.seed), low=0, integer=True)
        key = f"{where}.seeds" if "seeds" in run else "training.seeds"
        seeds = check_number(key, run.get("seeds", training.seeds), low=1, integer=True)
        total += seeds
        if total > MAX_RUNS:
            raise SpecError(
                f"{key} = {seeds} makes the spec expand into more than {MAX_RUNS:,} runs; "
                "initlab run trains them in memory at once: use fewer seeds, or a sweep "
                "(initlab sweep), which stores runs as they finish"
            )
        if "activation" in run:
            act = _named.activation_spec(run["activation"], f"{where}.activation",
                                          model.activation.slope)  # fmt: skip
        else:
            act = model.activation
        if training.stream == "legacy" and seed + seeds - 1 >= 2**32:
            raise SpecError(f"{where}: the legacy stream needs seeds below 2**32")
        for r in range(seeds):
            runs.append(Run(name, init, params, seed + r, r, float(lr), act.name, dict(act.params)))
    return runs
