"""Study specs: a study as a TOML file that ``initlab sweep SPEC --out DIR`` runs.

A study spec has a ``[study]`` table naming its kind, and one table of the study's own
settings, named after the kind (the fields of its config; absent ones take their
defaults)::

    [study]
    kind = "trainability"        # one of KINDS (trainability, deep-linear, jacobian, ...)
    max_population = 256         # cells computed together at most (memory bound)

    [trainability]
    depths = [2, 8]
    sigma_w2 = [1.0, 1.75]
    steps = 300

``initlab theory trainability ... --write-spec FILE.toml`` writes one (:func:`write`).
Each kind's module gives ``from_spec(table, max_population, source)``, returning the
:class:`~initlab.execution.study.Study` the executor runs; its checks name the bad key.
A new kind: a module with ``spec(config)``, ``from_spec(...)`` and the study's ``compute``
(:mod:`initlab.execution.study`), listed in :data:`KINDS` under the name of its command
(``initlab theory deep-linear`` is kind ``deep-linear``); the lines ``initlab sweep``
prints after it are its command's, listed in ``initlab.cli.sweep.outputs`` (a test holds
the two lists equal).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from initlab._validation import SpecError, check_keys, check_number
from initlab.execution.study import Study
from initlab.results.records import write_atomic

KINDS = {
    "trainability": "initlab.studies.trainability",
    "deep-linear": "initlab.studies.deeplinear",
    "jacobian": "initlab.studies.jacobian_study",
    "lr-transfer": "initlab.studies.lrtransfer",
    "coord-check": "initlab.studies.scaling",
    "correlation": "initlab.studies.correlation",
    "kernels": "initlab.studies.kernel_study",
}
"""Study kinds a spec may name -> the module that makes its study."""
MAX_POPULATION = 256


def is_study(raw: Mapping[str, Any]) -> bool:
    """Whether the parsed TOML `raw` is a study spec (has a ``[study]`` table)."""
    return "study" in raw


def parse(raw: Mapping[str, Any], source: str | None = None) -> Study:
    """The :class:`~initlab.execution.study.Study` of a parsed study spec, checked."""
    table = raw.get("study")
    if not isinstance(table, Mapping):
        raise SpecError('[study] must be a table, e.g. [study] kind = "trainability"')
    check_keys("[study]", table, ("kind", "max_population"))
    kind = table.get("kind")
    if kind not in KINDS:
        raise SpecError(f"study.kind must be one of {', '.join(KINDS)}; got {kind!r}")
    check_keys("the study spec", raw, ("study", kind))
    settings = raw.get(kind, {})
    if not isinstance(settings, Mapping):
        raise SpecError(f"[{kind}] must be a table of the study's settings")
    cap = table.get("max_population", MAX_POPULATION)
    cap = int(check_number("study.max_population", cap, low=1, integer=True))
    module = importlib.import_module(KINDS[kind])
    try:
        return module.from_spec(settings, cap, source)
    except SpecError:
        raise
    except (TypeError, ValueError) as exc:  # a value of the wrong shape
        raise SpecError(f"[{kind}]: {exc}") from None


def load(path: str | os.PathLike) -> Study:
    """The study of the TOML spec at `path` (:func:`parse`; errors name the file)."""
    from initlab.specs.spec import load_toml

    source = str(Path(path).resolve())
    return load_toml(path, lambda raw, base: parse(raw, source), "study spec")


def write(path: str | os.PathLike, spec: Mapping[str, Any]) -> Path:
    """`spec` (a study's, e.g. :func:`initlab.studies.trainability.spec`) as TOML at
    `path`, written atomically; the path."""
    import tomli_w

    path = Path(path)
    write_atomic(path, tomli_w.dumps(dict(spec)).encode("utf-8"))
    return path
