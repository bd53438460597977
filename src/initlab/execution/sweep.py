r"""Run a sweep: plan what is left, train populations on workers, store each as it finishes.

The flow is ``sweep spec -> runs -> chunks (populations) -> workers -> store``::

    sweep = sweep_spec.load("sweep.toml")
    with prepare(sweep, "out/") as plan:       # opens DIR/sweep.sqlite, adds pending runs
        report = execute(plan, jobs=None)      # trains what is not done yet

Only the parent process writes to the store: workers train a
:class:`~initlab.specs.sweep_spec.Chunk`
(:func:`~initlab.execution.workers.train_chunk`) and send back plain records, stored one
transaction per chunk as each comes back. A chunk is a population of up to
``max_population`` runs of one group.

Where the work runs:

- ``jobs = 1``: in this process, one chunk after the other.
- ``jobs = N > 1`` (default: the number of cores): N joblib (loky) worker processes; the
  data are loaded once per worker (cached by source), never sent.

Locally, each worker (this process too, with ``jobs = 1``) uses one BLAS thread: a sweep is
parallel over runs, and its matrices are small; with OpenBLAS's default threads on a busy
2-core machine the 720-run benchmark took 233 s of CPU in one process against 62 s with
one thread per worker (``benchmarks/bench_sweep.py``). Results do not depend on it.
- ``scheduler = "tcp://host:port"``: the chunks are submitted to an existing Dask
  distributed cluster (``pip install 'initlab[dask]'``), whose workers must see the data
  paths; the results flow back into the one store here.

Resume and failures: runs already ``done`` are skipped, so running a sweep again after an
interruption (Ctrl-C, kill -9, a lost machine) trains only what was not stored. A member
that diverges is a result (``done`` with ``diverged = 1``). An exception while training a
chunk marks its runs ``failed`` with the traceback in ``error``, and the sweep goes on;
the next invocation retries failed runs. A worker process that dies (e.g. killed by the
system for lack of memory) stops the sweep; what was stored stays stored. Killing the parent
(even with SIGKILL) ends its local workers within a second
(:func:`~initlab.execution.workers.watch_parent`). A full disk stops the sweep with a
message that says so: the runs stored before are intact.

Changed data: each data source's content hash is recorded in the store; a resume or
``extend`` over data whose contents changed is refused unless ``retrain_changed_data``.

One sweep per directory at a time: a lock file (``DIR/sweep.lock``) refuses a second
writer. Studies (:mod:`initlab.execution.study`) run through the same machinery
(:mod:`initlab.execution.executor`, :mod:`initlab.execution.workers`) with the same
guarantees. A directory belongs to one sweep spec (recorded in the store, identified by the
set of its run ids): running another spec into it is refused unless ``extend=True``, which
adds the new spec's runs (runs the two share are not trained again).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.execution import runner as _experiment
from initlab.execution.executor import (
    LOCK_FILE,
    Held,
    Progress,
    Report,
    check_same_spec,
    collect,
    open_locked,
    release,
    store_result,
)
from initlab.execution.workers import (
    PARENT_POLL,
    ChunkResult,
    _load_data,
    data_key,
    pool,
    train_chunk,
    watch_parent,
)
from initlab.results.sweep_store import SweepStore
from initlab.specs.sweep_spec import Chunk, SweepRun, SweepSpec, canonical, chunks

__all__ = [
    "CONNECT_TIMEOUT",
    "LOCK_FILE",
    "PARENT_POLL",
    "ChunkResult",
    "Plan",
    "Progress",
    "Report",
    "check_memory",
    "execute",
    "prepare",
    "train_chunk",
    "watch_parent",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = "15s"
"""How long to try reaching a Dask scheduler."""


@dataclass
class Plan(Held):
    """A sweep ready to run: the open store and the runs not done yet."""

    sweep: SweepSpec
    store: SweepStore
    todo: list[SweepRun]
    done: int
    failed_before: int
    _lock: Any = field(default=None, repr=False)
    data_hashes: dict[str, str] = field(default_factory=dict)
    """``{data source: content hash}``: also the key of the workers' data cache."""

    @property
    def total(self) -> int:
        return len(self.sweep.runs)


def prepare(
    sweep: SweepSpec,
    out_dir: str | os.PathLike,
    *,
    extend: bool = False,
    retrain_changed_data: bool = False,
) -> Plan:
    """Open (or create) ``out_dir/sweep.sqlite``, add the sweep's runs, find what is left.

    The content hash of every data source (:func:`initlab.data.fingerprint.fingerprint`)
    is recorded in the store. Run ids stay what they were (a hash of the config, with the
    data's path), so existing stores keep their ids; instead a source whose contents
    changed since its runs were stored is refused, unless `retrain_changed_data`: then
    its runs are made pending again (their old results deleted) and trained anew.

    Raises
    ------
    InitlabError
        If another sweep writes to `out_dir`, the store is not usable (see
        :func:`initlab.results.sweep_store.open_store`), it holds another spec's runs and
        `extend` is false, or a data source changed and not `retrain_changed_data`.
    """
    store, lock = open_locked(Path(out_dir))
    try:
        check_same_spec(store, [r.id for r in sweep.runs], extend)
        hashes = _check_same_data(store, sweep, retrain_changed_data)
        store.add_runs(
            [(r.id, r.config, r.axes()) for r in sweep.runs],
            spec=sweep.to_dict(),
            source=sweep.source,
        )
        store.set_data_hashes(hashes)
        status = store.statuses()
    except BaseException:
        release(store, lock)
        raise
    todo = [r for r in sweep.runs if status[r.id] != "done"]
    failed = sum(status[r.id] == "failed" for r in sweep.runs)
    return Plan(sweep, store, todo, len(sweep.runs) - len(todo), failed, lock, hashes)


def _check_same_data(store: SweepStore, sweep: SweepSpec, retrain: bool) -> dict[str, str]:
    """Hash the sweep's data sources; refuse (or, if `retrain`, reset the runs of) any whose
    contents differ from those recorded in `store`. Return the hashes."""
    from initlab.data.fingerprint import fingerprint

    sources = [*sweep.axes["data"], *([sweep.data.test] if sweep.data.test else [])]
    hashes = {src: fingerprint(src) for src in dict.fromkeys(sources)}
    recorded = store.data_hashes()
    changed = [s for s, h in hashes.items() if recorded.get(s, h) != h]
    if changed and not retrain:
        src = changed[0]
        raise InitlabError(
            f"the data {src} changed since its runs were stored in {store.path} (SHA-256 "
            f"{recorded[src][:12]}... then, {hashes[src][:12]}... now): old and new results "
            "would mix. Use another --out directory, or pass --retrain-changed-data to "
            "train its runs again here (their stored results are deleted)"
        )
    if changed:
        n = store.reset_runs_on(changed)
        log.warning("data changed (%s): %d runs will be trained again", ", ".join(changed), n)
    return hashes


def execute(
    plan: Plan,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Train the runs of `plan` not done yet and store each chunk as it finishes.

    Parameters
    ----------
    jobs : int, optional
        Local worker processes (default: the number of cores; 1 runs in this process).
        Ignored with `scheduler`.
    scheduler : str, optional
        Address of a Dask distributed scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    progress : callable, optional
        ``progress(stored, failed, total)`` after each chunk.
    """
    report = Report()
    if not plan.todo:
        return report
    workers = pool(jobs, scheduler, CONNECT_TIMEOUT)
    work = chunks(plan.todo, plan.sweep, workers=workers.slots)
    check_memory(work, workers.per_machine)  # on a cluster: one population at a time at least
    results = workers.run(train_chunk, [(c, data_key(c, plan.data_hashes)) for c in work])
    report.chunks, report.workers = len(work), workers.workers

    def store(res: ChunkResult) -> None:
        if store_result(res, report, plan.store.save_done, plan.store.save_failed):
            report.diverged += sum(bool(r["diverged"]) for r in res.records)

    return collect(results, store, report, len(plan.todo), progress)


def check_memory(work: Sequence[Chunk], jobs: int) -> None:
    """Refuse, before any training, a sweep whose largest population would not fit in memory
    `jobs` times over (:func:`initlab.execution.runner.check_memory`; data loaded here)."""
    biggest: dict[tuple, Chunk] = {}
    for ch in work:
        key = (canonical(ch.data.to_dict()), repr(ch.model), repr(ch.training))
        if key not in biggest or len(ch.runs) > len(biggest[key].runs):
            biggest[key] = ch
    for ch in biggest.values():
        try:
            data = _load_data(canonical(ch.data.to_dict()))
        except InitlabError:  # unreadable data: the population fails and is recorded so
            continue
        sizes = _experiment.layer_sizes(ch.model, data)
        _experiment.check_memory(len(ch.runs) * jobs, sizes, data, ch.training)
