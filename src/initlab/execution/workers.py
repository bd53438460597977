"""Where the work of a sweep or a study runs: in this process, in local joblib (loky)
worker processes, or on a Dask distributed cluster (a :class:`Pool`); each task returns a
:class:`ChunkResult`.

A task is a tuple of arguments of a worker function ``fn(*task, blas_threads=, parent=)``
whose first argument has the ``ids`` of its members: :func:`train_chunk` trains one
:class:`~initlab.specs.sweep_spec.Chunk` of a sweep with its data loaded once per process;
:func:`compute_cells` computes one :class:`CellTask` of a study by the study's own function.
Both send back plain records; only the parent process writes to the store
(:mod:`initlab.execution.executor`). A local worker whose parent is killed ends itself
within a second (:func:`watch_parent`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import importlib
import json
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from initlab._validation import InitlabError, check_number
from initlab.execution import runner as _experiment
from initlab.results.provenance import provenance
from initlab.results.study_cells import plain
from initlab.specs.config import DataConfig
from initlab.specs.sweep_spec import Chunk, canonical


@dataclass(frozen=True)
class ChunkResult:
    """What a worker sends back: records (or the error) of one chunk."""

    ids: tuple[str, ...]
    records: list[dict[str, Any]] | None
    error: str | None
    seconds: float
    worker: str
    finished_at: str


def train_chunk(
    chunk: Chunk,
    data_key: str = "",
    blas_threads: int | None = None,
    parent: int | None = None,
) -> ChunkResult:
    """Train one chunk as a population; never raises for a training error (it is returned).

    Runs in a worker: the data are loaded from their source once per process and
    `data_key` (the sources' content hashes: changed data are loaded again). With
    `parent` (the pid of the process that started this worker) the worker ends itself
    as soon as that process is gone (:func:`watch_parent`).
    """
    if parent is not None:
        watch_parent(parent)
    start = time.perf_counter()
    try:
        with _blas_limit(blas_threads):
            data = _load_data(canonical(chunk.data.to_dict()), data_key)
            # one thread: the sweep already runs one worker process per core
            records = _experiment.train_group(
                list(chunk.runs), data, chunk.model, chunk.training, jobs=1
            )
        prov = provenance(dtype=chunk.training.dtype)  # this worker's
        for rec in records:
            rec["provenance"] = prov
        error = None
    except Exception:  # the error is stored with the runs; the sweep goes on
        records, error = None, traceback.format_exc()
    return _result(chunk.ids, records, error, start)


@dataclass(frozen=True)
class CellTask:
    """Cells of a study computed together: ``compute`` is ``"module:function"``, a function
    of a list of cell configs returning one JSON-able record per cell."""

    compute: str
    ids: tuple[str, ...]
    configs: tuple[Mapping[str, Any], ...]


def compute_cells(
    task: CellTask, blas_threads: int | None = None, parent: int | None = None
) -> ChunkResult:
    """Compute one :class:`CellTask`; never raises for an error of the study's function
    (it is returned). Each record gets this worker's provenance; NumPy values are made
    plain (:func:`~initlab.results.study_cells.plain`)."""
    if parent is not None:
        watch_parent(parent)
    start = time.perf_counter()
    try:
        with _blas_limit(blas_threads):
            records = [plain(r) for r in resolve(task.compute)([dict(c) for c in task.configs])]
        if len(records) != len(task.ids):
            raise ValueError(f"{task.compute} gave {len(records)} records for {len(task.ids)}")
        json.dumps(records)  # not JSON-able: this population fails, here, not at the store
        prov = provenance()
        for rec in records:
            rec["provenance"] = prov
        error = None
    except Exception:  # stored with the cells; the study goes on
        records, error = None, traceback.format_exc()
    return _result(task.ids, records, error, start)


def resolve(ref: str) -> Callable[..., Any]:
    """The function named by ``"package.module:function"``."""
    module, sep, name = ref.partition(":")
    if not sep:
        raise InitlabError(f"a compute function is named as module:function; got {ref!r}")
    return getattr(importlib.import_module(module), name)


def _result(ids: tuple[str, ...], records: Any, error: str | None, start: float) -> ChunkResult:
    return ChunkResult(
        ids,
        records,
        error,
        time.perf_counter() - start,
        f"{socket.gethostname()}:{os.getpid()}",
        _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    )


PARENT_POLL = 0.5
"""Seconds between a worker's checks that its parent is alive."""


@functools.cache
def watch_parent(parent: int) -> None:
    """End this process (``os._exit``) once its parent `parent` is gone.

    A loky worker whose parent is killed with SIGKILL is not told: it would train on, for
    as long as its chunk takes, and then wait for work. A daemon thread polls
    :func:`os.getppid` every :data:`PARENT_POLL` seconds; when it is no longer `parent`
    (the orphan was adopted by init or a subreaper) the worker exits. Started once per
    process (cached); does nothing in the parent itself.
    """
    import threading

    if parent == os.getpid():
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="initlab-watch-parent", daemon=True).start()


@functools.lru_cache(maxsize=2)
def _load_data(data_json: str, data_key: str = "") -> _experiment.ExperimentData:
    return _experiment.load_data(DataConfig(**json.loads(data_json)))


def _blas_limit(threads: int | None) -> contextlib.AbstractContextManager:
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def data_key(chunk: Chunk, hashes: dict[str, str]) -> str:
    """The content hashes of a chunk's data sources (the key of the workers' data cache)."""
    return " ".join(hashes.get(getattr(chunk.data, k) or "", "") for k in ("train", "test"))


@dataclass
class Pool:
    """Where tasks run: `jobs` local processes (1: this process), or a Dask `client`.

    Make one with :func:`pool`; :attr:`slots` is how many tasks can run at once (to size
    the populations), :attr:`per_machine` how many run at once on one machine (for the
    memory check)."""

    jobs: int
    client: Any = None
    address: str = ""
    slots: int = 1
    workers: str = ""

    @property
    def per_machine(self) -> int:
        return 1 if self.client is not None else self.jobs

    def run(self, fn: Callable[..., ChunkResult], tasks: Sequence[tuple]) -> Iterator[ChunkResult]:
        """``fn(*task, blas_threads=, parent=)`` of each task, as they finish; sets
        :attr:`workers` to a description of where they run."""
        if self.client is not None:
            self.workers = f"the Dask cluster at {self.address} ({self.slots} worker threads)"
            return _dask(self.client, fn, tasks)
        jobs = min(self.jobs, len(tasks))
        self.workers = "this process" if jobs <= 1 else f"{jobs} local worker processes"
        return _local(fn, tasks, jobs)


def pool(jobs: int | None, scheduler: str | None, timeout: str) -> Pool:
    """A :class:`Pool` of `jobs` local processes (default: the number of cores), or, with
    `scheduler`, of the Dask cluster at that address (reached within `timeout`)."""
    if scheduler is None:
        from joblib import cpu_count

        jobs = cpu_count() if jobs is None else jobs
        jobs = int(check_number("jobs", jobs, low=1, integer=True))
        return Pool(jobs, slots=jobs)
    client = _dask_client(scheduler, timeout)
    threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
    return Pool(1, client, scheduler, slots=max(1, threads))


def _dask_client(address: str, timeout: str) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise InitlabError(
            "--scheduler needs Dask distributed, which is not installed: "
            "pip install 'initlab[dask]'"
        ) from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a malformed address
        raise InitlabError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _local(fn: Callable[..., ChunkResult], tasks: Sequence[tuple], jobs: int
           ) -> Iterator[ChunkResult]:  # fmt: skip
    if jobs <= 1:
        for task in tasks:
            yield fn(*task, blas_threads=1, parent=None)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    parent = os.getpid()
    yield from parallel(delayed(fn)(*task, blas_threads=1, parent=parent) for task in tasks)


def _dask(client: Any, fn: Callable[..., ChunkResult], tasks: Sequence[tuple]
          ) -> Iterator[ChunkResult]:  # fmt: skip
    from distributed import as_completed

    with client:
        futures = {client.submit(fn, *t, pure=False): t for t in tasks}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # the task died with its worker, or could not run
                yield ChunkResult(
                    futures[fut][0].ids, None, f"the Dask task failed: {exc!r}", 0.0,
                    str(client.scheduler.address),
                    _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                )  # fmt: skip
            fut.release()
