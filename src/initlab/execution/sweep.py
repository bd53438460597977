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
writer. A directory belongs to one sweep spec (recorded in the store, identified by the
set of its run ids): running another spec into it is refused unless ``extend=True``, which
adds the new spec's runs (runs the two share are not trained again).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError, check_number
from initlab.execution import runner as _experiment
from initlab.execution.workers import (
    PARENT_POLL,
    ChunkResult,
    _dask,
    _load_data,
    _local,
    train_chunk,
    watch_parent,
)
from initlab.results.sweep_store import SweepStore, open_store, runs_hash
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

Progress = Callable[[int, int, int], None]
"""``progress(stored, failed, total)``: runs stored and failed so far of `total` to run."""

LOCK_FILE = "sweep.lock"
CONNECT_TIMEOUT = "15s"
"""How long to try reaching a Dask scheduler."""


@dataclass
class Plan:
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

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None


@dataclass
class Report:
    """What one invocation did."""

    stored: int = 0
    failed: int = 0
    diverged: int = 0
    chunks: int = 0
    workers: str = ""
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        store = open_store(out, create=True)
    except BaseException:
        if lock is not None:
            lock.close()
        raise
    try:
        ids = [r.id for r in sweep.runs]
        _check_same_sweep(store, ids, extend)
        hashes = _check_same_data(store, sweep, retrain_changed_data)
        store.add_runs(
            [(r.id, r.config, r.axes()) for r in sweep.runs],
            spec=sweep.to_dict(),
            source=sweep.source,
        )
        store.set_data_hashes(hashes)
        status = store.statuses()
    except BaseException:
        store.close()
        if lock is not None:
            lock.close()
        raise
    todo = [r for r in sweep.runs if status[r.id] != "done"]
    failed = sum(status[r.id] == "failed" for r in sweep.runs)
    return Plan(sweep, store, todo, len(sweep.runs) - len(todo), failed, lock, hashes)


def _lock(out: Path) -> Any:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return None
    f = open(out / LOCK_FILE, "w")  # held open (and locked) while the sweep runs
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise InitlabError(
            f"another `initlab sweep` is writing to {out}; wait for it to finish, or stop it"
        ) from None
    return f


def _check_same_sweep(store: SweepStore, ids: Sequence[str], extend: bool) -> None:
    known = {s["runs_hash"] for s in store.specs()}
    if not known or runs_hash(ids) in known or extend:
        return
    status = store.statuses()
    shared = sum(i in status for i in ids)
    raise InitlabError(
        f"{store.path} holds another sweep: this spec has {len(ids)} runs, "
        f"{len(ids) - shared} of them not in the store, and the store has "
        f"{len(status) - shared} runs this spec does not have. Use another --out directory, "
        "or pass --extend to add this spec's runs to the store (runs they share are not "
        "trained again)"
    )


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
    if scheduler is None:
        from joblib import cpu_count

        jobs = cpu_count() if jobs is None else jobs
        jobs = int(check_number("jobs", jobs, low=1, integer=True))
        work = chunks(plan.todo, plan.sweep, workers=jobs)
        check_memory(work, jobs)
        jobs = min(jobs, len(work))
        results = _local(work, jobs, plan.data_hashes)
        report.workers = "this process" if jobs == 1 else f"{jobs} local worker processes"
    else:
        client = _dask_client(scheduler)
        threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
        work = chunks(plan.todo, plan.sweep, workers=max(1, threads))
        check_memory(work, 1)  # per worker machine: one population at a time at least
        results = _dask(client, work, plan.data_hashes)
        report.workers = f"the Dask cluster at {scheduler} ({threads} worker threads)"
    report.chunks = len(work)
    start = time.perf_counter()
    total = len(plan.todo)
    if progress is not None:
        progress(0, 0, total)
    for res in results:
        _store_chunk(plan, res, report)
        if progress is not None:
            progress(report.stored, report.failed, total)
    report.seconds = time.perf_counter() - start
    return report


def _store_chunk(plan: Plan, res: ChunkResult, report: Report) -> None:
    """Store one finished chunk (its records, or its error for every run) and count it."""
    if res.error is None:
        report.stored += plan.store.save_done(
            res.ids, res.records, seconds=res.seconds, worker=res.worker,
            finished_at=res.finished_at,
        )  # fmt: skip
        report.diverged += sum(bool(r["diverged"]) for r in res.records)
        return
    report.failed += plan.store.save_failed(
        res.ids, res.error, seconds=res.seconds, worker=res.worker, finished_at=res.finished_at
    )
    report.errors.append(res.error)
    last = res.error.strip().splitlines()[-1]
    log.warning("a population of %d runs failed: %s", len(res.ids), last)


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


def _dask_client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise InitlabError(
            "--scheduler needs Dask distributed, which is not installed: "
            "pip install 'initlab[dask]'"
        ) from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a malformed address
        raise InitlabError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
