r"""Run a study (a grid of cells) with the sweep's executor, into the sweep's store.

A study is a grid, like a sweep's axes, whose every point (a *cell*) is computed by the
study's own function and stored as one JSON record; the analysis and figures are drawn from
the stored records only. The API (stable)::

    from initlab.execution import study as S

    cells = [S.cell("trainability", 1, config, group=str(config["depth"])) for config in grid]
    study = S.Study(
        kind="trainability",             # the study's name; also in every cell's id
        spec={"study": {...}, ...},      # the whole spec, JSON-able (what --write-spec writes)
        cells=cells,
        compute="initlab.studies.trainability:compute",   # f(list of configs) -> records
        max_population=256,              # cells computed together at most
    )
    with S.prepare(study, "out/") as plan:              # DIR/sweep.sqlite, cells added
        report = S.execute(plan, jobs=None, scheduler=None, progress=None)
    records = S.records("out/", [c.id for c in cells])    # {id: record, or None if not done}

- :func:`cell` keys a cell by content: the first 16 hex digits of the SHA-256 of the
  canonical JSON of ``{"study": kind, "version": version, "config": config}``. `config` is
  plain JSON and must hold everything that decides the cell's numbers (and nothing that
  does not, such as the grid it was taken from); `version` changes when the study's
  computation does.
- ``compute`` names a module-level function (``"module:function"``, so workers in other
  processes and on other machines can import it) taking a list of cell configs, all of one
  group, and returning one record per cell: a dict of JSON-able values (NumPy values are
  converted; NaN and infinities are kept and stored exactly,
  :mod:`initlab.results.study_cells`). A cell's record must not depend on which cells it
  was computed with: the executor splits groups into populations as the workers allow
  (:func:`~initlab.specs.sweep_spec.partition`), and a resumed study computes only the
  cells not yet stored.

Everything else is the sweep's (:mod:`initlab.execution.sweep`): the lock, one SQLite
transaction per population, resume after Ctrl-C or kill -9 (a population is either wholly
stored or not at all), a full disk reported with the store intact, failures stored with
their traceback and retried by the next run, local loky workers (one BLAS thread each,
ending with their parent) or a Dask cluster (``scheduler="tcp://host:port"``), a directory
holding another spec refused unless ``extend``. ``initlab results DIR`` lists the cells.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.execution.executor import (
    Held,
    Progress,
    Report,
    check_same_spec,
    collect,
    open_locked,
    release,
    store_result,
)
from initlab.execution.workers import CellTask, ChunkResult, compute_cells, pool
from initlab.results.study_cells import plain
from initlab.results.sweep_store import SweepStore, open_store
from initlab.specs.sweep_spec import canonical, partition

__all__ = [
    "Cell", "Study", "StudyPlan", "cell", "execute", "has_kind", "last_settings",
    "only_other_kinds", "prepare", "records", "specs",
]  # fmt: skip

CONNECT_TIMEOUT = "15s"
"""How long to try reaching a Dask scheduler."""


@dataclass(frozen=True)
class Cell:
    """One point of a study's grid: its content key, its config, its group."""

    id: str
    config: dict[str, Any]
    group: str


def cell(kind: str, version: int, config: Mapping[str, Any], group: str) -> Cell:
    """The :class:`Cell` of `config` in study `kind` (computation `version`), keyed by the
    SHA-256 of ``canonical({"study": kind, "version": version, "config": config})``."""
    config = plain(dict(config))
    key = canonical({"study": kind, "version": version, "config": config})
    return Cell(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], config, str(group))


@dataclass
class Study:
    """A study ready to run: see the module's docstring."""

    kind: str
    spec: dict[str, Any]
    cells: list[Cell]
    compute: str
    max_population: int = 256
    source: str | None = None


@dataclass
class StudyPlan(Held):
    """A study ready to run: the open store and the cells not done yet."""

    study: Study
    store: SweepStore
    todo: list[Cell]
    done: int
    failed_before: int
    _lock: Any = field(default=None, repr=False)

    @property
    def total(self) -> int:
        return len({c.id for c in self.study.cells})


def prepare(study: Study, out_dir: str | os.PathLike, *, extend: bool = False) -> StudyPlan:
    """Open (or create) ``out_dir/sweep.sqlite``, add the study's cells, find what is left.

    Raises
    ------
    InitlabError
        If another process writes to `out_dir`, the store is not usable, or it holds
        another spec's runs or cells and `extend` is false.
    """
    store, lock = open_locked(Path(out_dir))
    unique = list({c.id: c for c in study.cells}.values())
    try:
        check_same_spec(
            store, [c.id for c in unique], extend, table="cells",
            how="add this spec's cells to it with `initlab sweep SPEC --extend` (write SPEC "
            "with --write-spec; cells they share are not computed again)",
        )  # fmt: skip
        store.add_cells(
            [(c.id, study.kind, c.config, c.group) for c in unique],
            spec=study.spec,
            source=study.source,
        )
        status = store.statuses("cells")
    except BaseException:
        release(store, lock)
        raise
    todo = [c for c in unique if status[c.id] != "done"]
    failed = sum(status[c.id] == "failed" for c in unique)
    return StudyPlan(study, store, todo, len(unique) - len(todo), failed, lock)


def execute(
    plan: StudyPlan,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Compute the cells of `plan` not done yet, storing each population as it finishes.

    Parameters are those of :func:`initlab.execution.sweep.execute`: `jobs` local worker
    processes (default: the number of cores; 1 computes in this process), or the Dask
    scheduler at address `scheduler`; ``progress(stored, failed, total)`` after each
    population.
    """
    report = Report()
    if not plan.todo:
        return report
    workers = pool(jobs, scheduler, CONNECT_TIMEOUT)
    parts = partition(plan.todo, lambda c: c.group, plan.study.max_population, workers.slots)
    parts.sort(key=len, reverse=True)  # the largest first
    tasks = [
        (CellTask(plan.study.compute, tuple(c.id for c in p), tuple(c.config for c in p)),)
        for p in parts
    ]
    results = workers.run(compute_cells, tasks)
    report.chunks, report.workers = len(tasks), workers.workers
    save_failed = _failed(plan.store)

    def store(res: ChunkResult) -> None:
        store_result(res, report, plan.store.save_cells_done, save_failed)

    return collect(results, store, report, len(plan.todo), progress)


def _failed(store: SweepStore):
    return lambda ids, error, **when: store.save_failed(ids, error, table="cells", **when)


def records(out_dir: str | os.PathLike, ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """``{id: record}`` of the cells `ids` in the store of `out_dir` (None: not done).

    Raises
    ------
    InitlabError
        If `out_dir` holds no store (or a damaged one, named).
    """
    from initlab.results.sweep_store import STORE_FILE

    if not (Path(out_dir) / STORE_FILE).exists():
        raise InitlabError(f"no study results in {out_dir}: expected {STORE_FILE}, written "
                           "by a study's --out or `initlab sweep`")  # fmt: skip
    with open_store(out_dir, readonly=True) as s:
        rows = s.cells(ids=list(dict.fromkeys(ids)))
    found = {r["id"]: r["record"] for r in rows}
    return {i: found.get(i) for i in ids}


def specs(out_dir: str | os.PathLike, kind: str) -> list[dict[str, Any]]:
    """The specs of study `kind` run into the store of `out_dir`, oldest first (each as
    recorded: ``{"runs_hash", "n_runs", "spec", "source", "added_at"}``)."""
    with open_store(out_dir, readonly=True) as s:
        return [x for x in s.specs() if (x["spec"].get("study") or {}).get("kind") == kind]


def has_kind(out_dir: str | os.PathLike, kind: str) -> bool:
    """Whether ``out_dir/sweep.sqlite`` exists and holds a spec of study `kind`."""
    from initlab.results.sweep_store import STORE_FILE

    return (Path(out_dir) / STORE_FILE).is_file() and bool(specs(out_dir, kind))


def last_settings(out_dir: str | os.PathLike, kind: str, command: str) -> dict[str, Any]:
    """The settings table of the last spec of study `kind` run into `out_dir` (what its
    config is built from).

    Raises
    ------
    InitlabError
        If `out_dir` holds no store or none of `kind`, naming `command` to make one.
    """
    if not has_kind(out_dir, kind):
        raise InitlabError(f"no {kind} study in {out_dir}: run `{command}`")
    return specs(out_dir, kind)[-1]["spec"][kind]


def only_other_kinds(out_dir: str | os.PathLike, kind: str) -> bool:
    """Whether ``out_dir/sweep.sqlite`` exists and its specs are all studies, none of kind
    `kind`: a study of another kind may then be added beside them (``extend``), while a
    second spec of one kind, or a study in a sweep's store, is refused by :func:`prepare`."""
    from initlab.results.sweep_store import STORE_FILE

    if not (Path(out_dir) / STORE_FILE).is_file():
        return False
    with open_store(out_dir, readonly=True) as s:
        kinds = [(x["spec"].get("study") or {}).get("kind") for x in s.specs()]
    return bool(kinds) and None not in kinds and kind not in kinds
