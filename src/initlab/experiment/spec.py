r"""Experiment specifications: a TOML file, validated whole, resolved into runs.

An experiment compares initializations (and seeds and learning rates) on one data set::

    [data]
    train = "cats-vs-dogs"          # a folder, .h5/.hdf5, .npz, a bundled name, or a fetched name
    test = "test.h5"                # optional held-out data, or:
    # test_fraction = 0.2           # hold out a stratified fraction of `train` ...
    # split_seed = 0                # ... drawn with this seed

    [model]
    hidden = [5, 5]                 # hidden layer widths
    activation = "tanh"             # tanh, sigmoid, relu, leaky_relu (slope = 0.01), linear
    parametrization = "sp"          # sp, ntk, mup (docs/scaling.md): needs equal hidden widths
    base_width = 64                 # its base width n0 (default: the hidden width itself)

    [training]
    learning_rate = 0.01
    iterations = 1000
    seed = 1                        # first seed; `seeds = N` uses seed, seed+1, ..., seed+N-1
    seeds = 1
    stream = "legacy"               # "default" (PCG64) or "legacy" (np.random.seed + randn)
    engine = "auto"                 # auto, direct, sample
    dtype = "float64"               # or float32
    diagnostics = true              # record per-layer diagnostics

    [[runs]]
    name = "random x 10"
    init = { name = "random", scale = 10 }   # or a plain name: init = "he"
    # learning_rate, seed, seeds, activation may be overridden per run

Relative paths are relative to the spec file. Every problem is reported before any
training, with the key that holds it.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from initlab._rng import STREAMS
from initlab._validation import InitlabError, SpecError, check_keys, check_number
from initlab.init import catalogue as _initializers
from initlab.init import parametrization as _par
from initlab.nn import activations as _activations
from initlab.nn import engines as _engines

DEFAULTS: dict[str, dict[str, Any]] = {
    "data": {"test": None, "test_fraction": None, "split_seed": 0, "x_key": None, "y_key": None},
    "model": {
        "hidden": [5, 5],
        "activation": "tanh",
        "slope": None,
        "parametrization": "sp",
        "base_width": None,
    },
    "training": {
        "learning_rate": 0.01,
        "iterations": 1000,
        "seed": 1,
        "seeds": 1,
        "stream": "default",
        "engine": "auto",
        "dtype": "float64",
        "diagnostics": True,
    },
}
"""Every default of an experiment, in one place."""

T = TypeVar("T")

RUN_KEYS = ("name", "init", "learning_rate", "seed", "seeds", "activation")
DTYPES = ("float64", "float32")


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

    @property
    def init_spec(self) -> dict[str, Any]:
        return {"name": self.init, **self.params}


@dataclass
class Spec:
    """A validated experiment: its resolved tables and the runs it expands into."""

    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration (defaults filled in), saved beside the results."""
        return {
            "data": self.data,
            "model": self.model,
            "training": self.training,
            "runs": [asdict(r) for r in self.runs],
        }


def load_toml(path: str | Path, parse: Callable[..., T], what: str = "spec file") -> T:
    """Read the TOML file at `path` and validate it with ``parse(raw, base=path.parent)``.

    Every error becomes a :class:`SpecError` that starts with the file's path.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{what} {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path} is not valid TOML: {exc}") from None
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
    tables = {}
    for name, defaults in DEFAULTS.items():
        given = raw.get(name, {})
        if not isinstance(given, Mapping):
            raise SpecError(f"[{name}] must be a table")
        allowed = (*defaults, "train") if name == "data" else defaults
        check_keys(f"[{name}]", given, allowed)
        tables[name] = {**copy.deepcopy(defaults), **given}
    data = _check_data(tables["data"], Path(base))
    model = _check_model(tables["model"])
    training = _check_training(tables["training"])
    runs_raw = raw.get("runs")
    if not runs_raw:
        raise SpecError(
            "the spec has no [[runs]]: add at least one, e.g. [[runs]] name = 'he' init = 'he'"
        )
    runs = _resolve_runs(runs_raw, model, training)
    return Spec(data, model, training, runs)


def _check_data(data: dict[str, Any], base: Path) -> dict[str, Any]:
    from initlab import data as _data

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
            "data.test_fraction",
            data["test_fraction"],
            low=0,
            high=1,
            low_open=True,
            high_open=True,
        )
    check_number("data.split_seed", data["split_seed"], low=0, integer=True)
    return data


def _check_model(model: dict[str, Any]) -> dict[str, Any]:
    hidden = model["hidden"]
    if not isinstance(hidden, list):
        raise SpecError(f"model.hidden must be a list of layer widths, e.g. [5, 5]; got {hidden!r}")
    for i, n in enumerate(hidden):
        check_number(f"model.hidden[{i}]", n, low=1, integer=True)
    _activation(model["activation"], model["slope"], "model.activation")
    if model["parametrization"] != "sp" or model["base_width"] is not None:
        try:
            _par.get(model["parametrization"])
            _par.hidden_width([1, *hidden, 1])
            if model["base_width"] is not None:
                check_number("model.base_width", model["base_width"], low=1, integer=True)
        except InitlabError as exc:
            raise SpecError(f"model.parametrization: {exc}") from None
    return model


def _activation(name: Any, slope: Any, key: str) -> _activations.Activation:
    try:
        return _activations.get(name, **({} if slope is None else {"slope": slope}))
    except InitlabError as exc:
        raise SpecError(f"{key}: {exc}") from None


def _check_training(training: dict[str, Any]) -> dict[str, Any]:
    check_number("training.learning_rate", training["learning_rate"], low=0, low_open=True)
    check_number("training.iterations", training["iterations"], low=1, integer=True)
    check_number("training.seed", training["seed"], low=0, integer=True)
    check_number("training.seeds", training["seeds"], low=1, integer=True)
    for key, valid in (("stream", STREAMS), ("engine", _engines.CHOICES), ("dtype", DTYPES)):
        if training[key] not in valid:
            raise SpecError(
                f"training.{key} must be one of {', '.join(valid)}; got {training[key]!r}"
            )
    if not isinstance(training["diagnostics"], bool):
        raise SpecError(
            f"training.diagnostics must be true or false; got {training['diagnostics']!r}"
        )
    return training


def check_init(init: Any, key: str) -> tuple[str, dict[str, Any]]:
    """Validate an init given as a name or a table; return ``(name, params)``."""
    from initlab.init import lsuv as _lsuv

    if isinstance(init, str):
        name, params = init, {}
    elif isinstance(init, Mapping) and isinstance(init.get("name"), str):
        name, params = init["name"], {k: v for k, v in init.items() if k != "name"}
    else:
        raise SpecError(
            f"{key} must be a name or a table with a 'name', "
            f"e.g. {{name = 'random', scale = 10}}; got {init!r}"
        )
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


def _resolve_runs(runs_raw: Any, model: dict[str, Any], training: dict[str, Any]) -> list[Run]:
    if not isinstance(runs_raw, list):
        raise SpecError("runs must be an array of tables: [[runs]]")
    runs, names = [], set()
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
        if name in names:
            raise SpecError(f"{where}.name {name!r} is used by another run; names must be unique")
        names.add(name)
        lr = check_number(
            f"{where}.learning_rate",
            run.get("learning_rate", training["learning_rate"]),
            low=0,
            low_open=True,
        )
        seed = check_number(f"{where}.seed", run.get("seed", training["seed"]), low=0, integer=True)
        seeds = check_number(
            f"{where}.seeds", run.get("seeds", training["seeds"]), low=1, integer=True
        )
        activation = run.get("activation", model["activation"])
        _activation(activation, model["slope"], f"{where}.activation")
        for r in range(seeds):
            if training["stream"] == "legacy" and seed + r >= 2**32:
                raise SpecError(f"{where}: the legacy stream needs seeds below 2**32")
            runs.append(Run(name, init, params, seed + r, r, float(lr), activation))
    return runs
