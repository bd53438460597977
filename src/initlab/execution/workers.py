"""Where a sweep's chunks are trained: in this process, in local joblib (loky) worker
processes, or on a Dask distributed cluster; each returns a :class:`ChunkResult`.

A worker trains one :class:`~initlab.specs.sweep_spec.Chunk` (:func:`train_chunk`) with
its data loaded once per process, and sends back plain records; only the parent process
writes to the store (:mod:`initlab.execution.sweep`). A local worker whose parent is killed
ends itself within a second (:func:`watch_parent`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import socket
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from initlab.execution import runner as _experiment
from initlab.results.provenance import provenance
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
    blas_threads: int | None = None,
    parent: int | None = None,
    data_key: str = "",
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
    return ChunkResult(
        chunk.ids,
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


def _data_key(chunk: Chunk, hashes: dict[str, str]) -> str:
    return " ".join(hashes.get(getattr(chunk.data, k) or "", "") for k in ("train", "test"))


def _local(work: list[Chunk], jobs: int, hashes: dict[str, str]) -> Iterator[ChunkResult]:
    if jobs == 1:
        for chunk in work:
            yield train_chunk(chunk, 1, None, _data_key(chunk, hashes))
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    parent = os.getpid()
    yield from parallel(
        delayed(train_chunk)(chunk, 1, parent, _data_key(chunk, hashes)) for chunk in work
    )


def _dask(client: Any, work: list[Chunk], hashes: dict[str, str]) -> Iterator[ChunkResult]:
    from distributed import as_completed

    with client:
        futures = {
            client.submit(train_chunk, c, None, None, _data_key(c, hashes), pure=False): c
            for c in work
        }
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # the task died with its worker, or could not run
                yield ChunkResult(
                    futures[fut].ids, None, f"the Dask task failed: {exc!r}", 0.0,
                    str(client.scheduler.address),
                    _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                )  # fmt: skip
            fut.release()
