r"""What the width-scaling studies share (:mod:`initlab.studies.scaling`,
:mod:`initlab.studies.lrtransfer`): the architecture, the data, the checks, the stored
settings, the result files, and how a study's cells are computed.

A study is a grid of cells (:mod:`initlab.execution.study`): one member of one population
each, grouped so that a group is one (parametrization, width) and trains as one population
(split by the executor as its workers allow: a member's numbers never depend on its
population, :mod:`initlab.nn.training`). :func:`compute_cells` computes them: with an output
directory by the sweep's executor into its store (``DIR/sweep.sqlite``; a rerun computes only
the cells not stored, after Ctrl-C or kill -9; local processes or a Dask cluster), without one
here, group by group, by the same function (the same bits).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError, SpecError, check_keys, check_number
from initlab.data import digits as digits  # the studies' data: W.digits(n_examples)
from initlab.execution import study as _study
from initlab.init import parametrization as _par
from initlab.results.provenance import provenance
from initlab.results.records import write_atomic
from initlab.results.sweep_store import open_store
from initlab.specs.sweep_spec import canonical

Array = np.ndarray
SCHEMA = 1
DTYPES = ("float64", "float32")
"""The studies' ``dtype`` values (the trainability map's)."""
MAX_POPULATION = 256
"""Members trained together at most when the executor runs a study (a group is split
beyond it)."""


@dataclass
class Architecture:
    """What :func:`initlab.init.parametrization.init_model` builds besides the width."""

    depth: int = 2
    init: str = "he"
    activation: str = "relu"
    skip: bool = False
    branch_layers: int = 1
    branch_scaling: str = "constant"
    alpha: float = 1.0
    zero_branch: bool = False
    base_depth: int | None = None

    def build(self, d, n, d_out, seeds, parametrization, base_width, optimizer, dtype="float64",
              weights=None):  # fmt: skip
        """``init_model`` with these settings (``optimizer`` is its lr column; `weights`, its
        draws if already drawn: :func:`initlab.init.draws.draw_weights`)."""
        column = "adam" if str(optimizer).startswith("adam") else "sgd"
        return _par.init_model(
            (d, n, d_out), seeds, parametrization=parametrization, base_width=base_width,
            optimizer=column, dtype=np.dtype(dtype), weights=weights, **asdict(self),
        )  # fmt: skip


def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise InitlabError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")


def settings(
    arch: Architecture, n0: int, X: Array, head: str, dtype: str, **keys: Any
) -> dict[str, Any]:
    """A study's stored settings: `keys` (optimizer and its schedule), then the base width,
    the number of examples, the head, the dtype and the architecture."""
    return {**keys, "base_width": n0, "n_examples": X.shape[1], "head": head, "dtype": dtype,
            "architecture": asdict(arch)}  # fmt: skip


def check_widths(widths: Sequence[int]) -> list[int]:
    out = [int(check_number(f"widths[{i}]", n, low=1, integer=True)) for i, n in enumerate(widths)]
    if len(out) < 2 or sorted(set(out)) != out:
        raise InitlabError(f"widths must be at least two increasing integers; got {list(widths)}")
    return out


def check_values(name: str, values: Sequence[Any], *, low: float | None = None,
                 integer: bool = False) -> list:  # fmt: skip
    """`values` as a list, checked: at least one, each a finite number (``>= low``; an
    integer if `integer`), named ``name[i]`` in the error."""
    values = list(values)
    if not values:
        raise InitlabError(f"{name} needs at least one value; got []")
    return [check_number(f"{name}[{i}]", v, low=low, integer=integer)
            for i, v in enumerate(values)]  # fmt: skip


def check_names(name: str, values: Sequence[str]) -> list[str]:
    """`values` (names) as a list of at least one."""
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise InitlabError(f"{name} needs at least one value; got []")
    return values


def base_width(base_width: int | None, parametrizations: Sequence[str], widths: list[int]) -> int:
    """The base width the user gave; SP alone needs none (its numbers do not depend on it:
    the smallest width is then recorded)."""
    for p in parametrizations:
        _par.get(p)
    if base_width is None:
        scaled = [p for p in parametrizations if p != "sp"]
        if scaled:
            raise InitlabError(
                f"parametrization {scaled[0]!r} needs base_width (--base-width): the width n0 "
                "at which it equals SP; there is no default, so that a study's n0 is the one "
                "you chose and does not move with the widths"
            )
        return widths[0]
    return int(check_number("base_width", base_width, low=1, integer=True))


def write_json(path: str | Path, doc: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**doc, "provenance": doc.get("provenance") or provenance()}
    write_atomic(path, json.dumps(doc, allow_nan=True).encode("utf-8"))
    return path


def read_json(path: str | Path, kind: str) -> dict:
    doc = json.loads(Path(path).read_text())
    if doc.get("kind") != kind or doc.get("schema") != SCHEMA:
        raise InitlabError(
            f"{path} is not an initlab {kind} result of schema {SCHEMA} "
            f"(kind {doc.get('kind')!r}, schema {doc.get('schema')!r})"
        )
    del doc["kind"], doc["schema"]
    doc.pop("provenance", None)  # the file's, not the study's (results.provenance)
    return doc


def finite_or_inf(a: Array) -> Array:
    """`a` with every non-finite number (a diverged member's) as +inf."""
    return np.where(np.isfinite(a), a, np.inf)


def group_key(config: dict[str, Any], *members: str) -> str:
    """The group of a cell: its config without the keys `members` that vary within a
    population (canonical JSON)."""
    return canonical({k: v for k, v in config.items() if k not in members})


def compute_cells(
    study: _study.Study,
    group: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    out: str | os.PathLike | None = None,
    *,
    jobs: int | None = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Every cell's record ``{id: record}`` and the seconds of each group.

    With `out`, `study` runs on the executor into ``out/sweep.sqlite`` (resuming; `jobs`
    processes or the Dask `scheduler`) and the records are read back from the store (a
    group's seconds: its populations' wall time). The store may hold other kinds of studies'
    cells: a coordinate check and a transfer share one directory, as the report reads them,
    and a result is read from its own cells only; another spec of the same kind there is
    refused (:class:`InitlabError`), as the other studies' commands refuse it. Without,
    ``group(configs)`` computes each group here as one population, in order.
    ``progress(cells done, total)`` after each population.
    """
    if out is None and (scheduler is not None or jobs not in (None, 1)):
        raise InitlabError(f"jobs and scheduler need out (the directory where the cells are "
                           f"stored); got jobs={jobs!r}, scheduler={scheduler!r}")  # fmt: skip
    cells = study.cells
    total = len({c.id for c in cells})
    groups: dict[str, list[_study.Cell]] = {}
    for c in cells:
        groups.setdefault(c.group, []).append(c)
    if out is None:
        records: dict[str, dict[str, Any]] = {}
        seconds: dict[str, float] = {}
        for key, members in groups.items():
            start = time.perf_counter()
            records.update(zip([c.id for c in members], group([c.config for c in members]),
                               strict=True))  # fmt: skip
            seconds[key] = time.perf_counter() - start
            if progress is not None:
                progress(len(records), total)
        return records, seconds
    tick = None if progress is None else lambda ok, bad, n: progress(ok + bad, n)
    extend = _study.only_other_kinds(out, study.kind)
    with _study.prepare(study, out, extend=extend) as plan:
        report = _study.execute(plan, jobs=jobs, scheduler=scheduler, progress=tick)
    if report.failed:
        last = report.errors[0].strip().splitlines()[-1]
        raise InitlabError(f"{report.failed} cells of the {study.kind} study failed (first "
                           f"error: {last}); run it again to retry them")  # fmt: skip
    with open_store(out, readonly=True) as s:
        rows = s.cells(ids=[c.id for c in cells])
    seconds = {}
    for r in rows:  # a population's time, shared by its cells
        seconds[r["group_key"]] = seconds.get(r["group_key"], 0.0) + r["seconds"] / r["population"]
    return {r["id"]: r["record"] for r in rows}, seconds


def spec_table(kind: str, table: Mapping[str, Any], allowed: Sequence[str]) -> dict[str, Any]:
    """A study spec's ``[kind]`` table checked (keys, the architecture's keys) as keyword
    arguments of the study's function (:func:`initlab.studies.specs.parse` reads it)."""
    from initlab.studies._studyio import integers

    check_keys(f"[{kind}]", table, allowed)
    kwargs = dict(table)
    for key in ("steps", "batch_size", "base_width", "n_examples"):
        if kwargs.get(key) is not None:
            try:
                kwargs[key] = check_number(f"{kind}.{key}", kwargs[key], integer=True)
            except InitlabError as exc:
                raise SpecError(str(exc)) from None
    arch = kwargs.get("architecture")
    if arch is not None:
        if not isinstance(arch, Mapping):
            raise SpecError(f"{kind}.architecture must be a table; got {arch!r}")
        check_keys(f"[{kind}.architecture]", arch, [f.name for f in fields(Architecture)])
        kwargs["architecture"] = Architecture(**integers(f"{kind}.architecture", arch,
                                                         Architecture))  # fmt: skip
    return kwargs


def spec(kind: str, max_population: int, **kwargs: Any) -> dict[str, Any]:
    """A study's spec: ``{"study": {kind, max_population}, kind: kwargs}`` (the architecture
    as a table, its None values left out: TOML has none), what ``--write-spec`` writes."""
    kwargs["architecture"] = {k: v for k, v in asdict(kwargs["architecture"]).items()
                              if v is not None}  # fmt: skip
    return {"study": {"kind": kind, "max_population": max_population}, kind: kwargs}
