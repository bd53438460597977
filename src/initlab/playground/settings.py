r"""The playground's settings: parsed from a page's query string, validated, capped, and
turned into the experiment spec (a dict, and its TOML) that ``initlab run`` reads.

A view's state is its query string (so a link reproduces the view). Every value is a
string there; :func:`parse` converts it with one message naming the parameter, and the
spec it builds is validated by :func:`initlab.specs.spec.parse`, the checks of
``initlab run`` itself (initializer names and parameters, activation, learning rate, seeds).

An initialization is written ``name`` or ``name(key=value, ...)``, e.g. ``random(scale=10)``
(values are TOML literals: ``10``, ``0.5``, ``"fan_out"``, ``true``); several are separated
by ``;``. The post's four are the default: ``zeros;random(scale=10);he;xavier``.

Caps (:data:`CAPS`) bound what one request may ask: widths, depths, members, examples and
the work of a request, :math:`K m (T (\min(n_0, m) n_1 + \sum_{l>1} n_l n_{l-1}) + n_0 n_1)`
multiply-adds for T steps (the sample engine's first layer costs :math:`\min(n_0, m)`), so
that no request can exhaust the memory or hold the server for long.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from initlab._validation import InitlabError, check_number
from initlab.nn import activations as _activations
from initlab.specs import spec as _spec

POST_INITS = "zeros;random(scale=10);he;xavier"
"""The post's four initializations, the default of every view."""

TOYS = ("circles", "moons", "spirals")
"""Two-dimensional toy sets, generated with a seed (:mod:`initlab.playground.datasets`)."""
NAMED = ("digits", "cats-vs-dogs")
"""Data sets of :func:`initlab.data.load` the page offers (cats-vs-dogs once fetched)."""
INPUTS = ("gaussian", *NAMED, *TOYS)
"""Inputs of the explorer: standard Gaussian examples, or a data set's examples."""

CAPS: dict[str, float] = {
    "width": 1024,
    "depth": 20,
    "members": 64,
    "examples": 2000,
    "iterations": 20000,
    "units": 200_000,  # width x depth x members
    "work_explorer": 3e9,  # multiply-adds of one request (module docstring)
    "work_training": 3e10,
}
"""The largest request the server accepts (see the module docstring)."""

VIEWS: dict[str, dict[str, str]] = {
    "explorer": {
        "inits": POST_INITS, "activation": "tanh", "depth": "5", "width": "100",
        "input": "gaussian", "examples": "256", "noise": "0.1", "data_seed": "0",
        "seed": "1", "stream": "legacy",
    },
    "training": {
        "inits": POST_INITS, "activation": "tanh", "depth": "2", "width": "8",
        "input": "moons", "examples": "300", "noise": "0.15", "data_seed": "0",
        "seed": "1", "stream": "legacy", "lr": "0.3", "iterations": "1500", "seeds": "1",
        "mode": "seeds",
    },
    "theory": {"activation": "tanh", "sw2": "1.5", "sb2": "0.05"},
}  # fmt: skip
"""Every parameter of each view with its default: one visible place."""
MODES = ("seeds", "replicas")
REPLICA_EPS = 1e-12
r"""Relative perturbation of a chaos replica's :math:`W_1`: ``W1 *= 1 + eps z``, z ~ N(0, 1)."""

_INIT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$")


@dataclass(frozen=True)
class Settings:
    """One view's validated settings (the strings of :data:`VIEWS`, converted)."""

    view: str
    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def query(self) -> dict[str, str]:
        """The view's state as query parameters (every value, defaults included)."""
        return {"view": self.view, **{k: _text(v) for k, v in self.values.items()}}


def _text(value: Any) -> str:
    if isinstance(value, list):  # inits
        return ";".join(_init_text(name, params) for name, params in value)
    return str(value)


def _init_text(name: str, params: Mapping[str, Any]) -> str:
    if not params:
        return name
    inner = ", ".join(f"{k}={_toml_value(v)}" for k, v in params.items())
    return f"{name}({inner})"


def parse_inits(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``"zeros;random(scale=10)"`` -> ``[("zeros", {}), ("random", {"scale": 10})]``.

    Each is validated as a spec's ``init`` is (:func:`initlab.specs.spec.check_init`).
    """
    parts = [p for p in text.split(";") if p.strip()]
    if not parts:
        raise InitlabError("inits: give at least one initialization, e.g. he or random(scale=10)")
    out = []
    for i, part in enumerate(parts):
        m = _INIT.match(part)
        if m is None:
            raise InitlabError(
                f"inits: {part.strip()!r} is not name or name(key=value, ...), "
                "e.g. random(scale=10)"
            )
        params = _params(m.group(2) or "", f"inits[{i}]")
        name, params = _spec.check_init({"name": m.group(1), **params}, f"inits[{i}]")
        out.append((name, params))
    return out


def _params(text: str, key: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in (s for s in text.split(",") if s.strip()):
        k, sep, v = item.partition("=")
        if not sep or not k.strip().isidentifier():
            raise InitlabError(f"{key}: {item.strip()!r} is not key=value")
        if k.strip() in params:  # the last would silently replace the first
            raise InitlabError(f"{key}: {k.strip()} is given twice")
        try:
            params[k.strip()] = tomllib.loads(f"v = {v.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            params[k.strip()] = v.strip()  # a bare word: a string, e.g. mode=fan_out
    return params


def parse(query: Mapping[str, str]) -> Settings:
    """Validate a view's query parameters; InitlabError (one line naming the parameter)."""
    view = query.get("view", "explorer")
    if view not in VIEWS:
        raise InitlabError(f"view must be one of {', '.join(VIEWS)}; got {view!r}")
    unknown = sorted(set(query) - set(VIEWS[view]) - {"view"})
    if unknown:
        raise InitlabError(
            f"unknown parameter {unknown[0]!r} for the {view} view; its parameters are: "
            + ", ".join(VIEWS[view])
        )
    raw = {**VIEWS[view], **query}
    v: dict[str, Any] = {}
    for key in VIEWS[view]:
        v[key] = _convert(key, raw[key])
    if view == "training" and v["input"] == "gaussian":
        raise InitlabError("input: training needs labelled data; choose one of "
                           + ", ".join((*NAMED, *TOYS)))  # fmt: skip
    settings = Settings(view, v)
    if view != "theory":
        check_size(settings)
    return settings


def _convert(key: str, text: str) -> Any:
    number = lambda **kw: check_number(key, _num(key, text), **kw)  # noqa: E731
    if key == "inits":
        return parse_inits(text)
    if key == "activation":
        if text not in _activations.HIDDEN:
            raise InitlabError(f"activation must be one of {', '.join(_activations.HIDDEN)}; "
                               f"got {text!r}")  # fmt: skip
        return text
    choices = {"input": INPUTS, "stream": ("default", "legacy"), "mode": MODES}
    if key in choices:
        if text not in choices[key]:
            raise InitlabError(f"{key} must be one of {', '.join(choices[key])}; got {text!r}")
        return text
    bounds: dict[str, dict[str, Any]] = {
        "depth": {"low": 1, "high": CAPS["depth"], "integer": True},
        "width": {"low": 1, "high": CAPS["width"], "integer": True},
        "examples": {"low": 4, "high": CAPS["examples"], "integer": True},
        "iterations": {"low": 1, "high": CAPS["iterations"], "integer": True},
        "seeds": {"low": 1, "high": CAPS["members"], "integer": True},
        "seed": {"low": 0, "high": 2**32 - 1, "integer": True},
        "data_seed": {"low": 0, "high": 2**32 - 1, "integer": True},
        "noise": {"low": 0, "high": 2},
        "lr": {"low": 0, "low_open": True, "high": 100},
        "sw2": {"low": 0, "low_open": True, "high": 100},
        "sb2": {"low": 0, "high": 10},
    }
    return number(**bounds[key])


def _num(key: str, text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise InitlabError(f"{key} must be a number; got {text!r}") from None


def members(settings: Settings) -> int:
    """K, the population's size: one member per init and seed (or replica)."""
    return len(settings["inits"]) * settings.values.get("seeds", 1)


def check_size(settings: Settings, n0: int | None = None, m: int | None = None) -> None:
    """Refuse a request beyond :data:`CAPS` (the data's `n0` features and `m` examples
    when known; before loading, the explorer's Gaussian input has ``n0 = width``)."""
    K, width, depth = members(settings), settings["width"], settings["depth"]
    if K > CAPS["members"]:
        raise InitlabError(f"inits x seeds = {K} members; the playground trains at most "
                           f"{CAPS['members']:.0f} at once")  # fmt: skip
    if K * width * depth > CAPS["units"]:
        raise InitlabError(
            f"width x depth x members = {width} x {depth} x {K} = {K * width * depth:,} hidden "
            f"units; the playground allows at most {CAPS['units']:,.0f}: make the network "
            "smaller or compare fewer initializations"
        )
    n0 = n0 or (width if settings["input"] == "gaussian" else 2)
    m = m or settings["examples"]
    steps = settings.values.get("iterations", 1)
    # the sample engine's first layer costs min(n0, m) per unit and example, after one product
    work = K * m * (steps * (min(n0, m) * width + (depth - 1) * width**2 + width) + n0 * width)
    cap = CAPS[f"work_{settings.view}"]
    if work > cap:
        raise InitlabError(
            f"this request is {work:.2g} multiply-adds ({steps} steps x {K} members x {m} "
            f"examples x the network); the playground allows {cap:.0e} in the {settings.view} "
            "view: use fewer iterations, examples, members or a smaller network"
        )


def spec_dict(settings: Settings, train: str) -> dict[str, Any]:
    """The experiment spec (as :func:`initlab.specs.spec.parse` reads it) of an
    explorer or training view, on the data source `train`.

    The explorer's spec trains 1 iteration: its diagnostics at iteration 0 are the
    histograms and fractions the page shows, and its theory the mean-field prediction.
    """
    v = settings.values
    training = v.get("iterations", 1)
    runs = [{"name": _init_text(name, params), "init": {"name": name, **params}}
            for name, params in v["inits"]]  # fmt: skip
    return {
        "data": {"train": train},
        "model": {"hidden": [v["width"]] * v["depth"],
                  "activation": v["activation"], "output": "sigmoid"},
        "training": {
            "learning_rate": v.get("lr", 0.01), "iterations": training,
            "seed": v["seed"], "seeds": 1 if v.get("mode") == "replicas" else v.get("seeds", 1),
            "stream": v["stream"], "engine": "auto", "dtype": "float64", "diagnostics": True,
        },
        "runs": runs,
    }  # fmt: skip


def validate_spec(raw: dict[str, Any]) -> _spec.Spec:
    """The CLI's validation of `raw` (the data table aside: the page's generated data has no
    file yet, so it is checked as the bundled digits, and loaded by the caller)."""
    checked = {**raw, "data": {"train": "digits"}}
    return _spec.parse(checked)


# --------------------------------------------------------------------------- TOML


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)  # repr round-trips a float exactly
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(raw: Mapping[str, Any], header: str = "") -> str:
    """`raw` (tables ``data``, ``model``, ``training`` and the array ``runs``) as TOML;
    `header` lines become comments at the top. ``tomllib.loads`` gives `raw` back."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for table in ("data", "model", "training"):
        lines += ["", f"[{table}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in raw[table].items() if v is not None]
    for run in raw["runs"]:
        lines += ["", "[[runs]]"] + [f"{k} = {_toml_value(v)}" for k, v in run.items()]
    return "\n".join(lines).lstrip("\n") + "\n"
