r"""A population trained as contiguous chunks on several threads, with the same bits.

A member's numbers never depend on the population it is trained in: every product is one
BLAS call per member and every update is elementwise (:mod:`initlab.nn.training`; tests
hold it). So a population of K members split into contiguous chunks, each trained as a
population of its own, gives every member the numbers the whole population gives it, and
the chunks may run at once. NumPy's ufuncs on these arrays and OpenBLAS release the GIL, so
threads of one process share the data and still run in parallel.

What the caller must do (:func:`initlab.execution.runner.train_group` does it): resolve
everything that depends on K (the engine, its reason, the memory check) once for the whole
population, and hold ``threadpoolctl.threadpool_limits(1, "blas")`` in the calling thread
around :func:`map_chunks`. That limit is process-global; set before any thread starts, every
nested limit inside :func:`initlab.nn.training.train` saves 1 and restores 1, so no thread
can restore a higher count while another is mid-run.

Chunks pay for themselves only when they are big: each costs its own Python overhead per
step (and, on the sample engine, its own Gram matrix :math:`X^T X`). :func:`split` makes no
chunk smaller than :data:`MIN_CHUNK` members, so a population of fewer than
``2 * MIN_CHUNK`` is trained as today, in the calling thread.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

from initlab._validation import check_number

__all__ = ["MIN_CHUNK", "map_chunks", "resolve_jobs", "split", "usable_cores"]

T = TypeVar("T")

MIN_CHUNK = 8
"""Fewest members in a chunk. A chunk costs about one single member's run beyond its
members' work (its own loop of Python calls per step, its Gram matrix): on the post's
images (X (67500, 100), [67500, 5, 5, 1], sample engine, diagnostics on, 1000 steps; a
2-core machine shared with other work) one member trains in 0.13 s, and two chunks took
1.20x the CPU time of one population at 16 members, 1.16x at 32, 1.07x at 64. So a split
gains wall time only where a core is free (100 members: 0.63x the wall time of one
thread in rounds where it was), and smaller chunks would cost more than they gain."""


class Stopped(Exception):
    """Raised inside a chunk's progress callback when another chunk failed or the caller
    was interrupted: the chunk ends at its next step instead of training on."""


def usable_cores() -> int:
    """Cores this process may run on: ``len(os.sched_getaffinity(0))`` where the platform
    has it (it honours ``taskset`` and container CPU sets), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_jobs(jobs: int | None) -> int:
    """`jobs` checked to be a positive integer; None means :func:`usable_cores`."""
    if jobs is None:
        return usable_cores()
    return int(check_number("jobs", jobs, low=1, integer=True))


def split(K: int, jobs: int) -> list[range]:
    """Contiguous ranges covering ``0 .. K-1``: ``min(jobs, K // MIN_CHUNK)`` of them (at
    least one), their sizes differing by at most one."""
    n = max(1, min(jobs, K // MIN_CHUNK))
    bounds = [K * c // n for c in range(n + 1)]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


def map_chunks(
    train: Callable[[range, Callable[[int], None] | None], T],
    parts: Sequence[range],
    progress: Callable[[int], None] | None = None,
) -> list[T]:
    """``[train(part, progress_of_part) for part in parts]``, one thread per part.

    One part runs in the calling thread, exactly as a direct call. With several, `train`
    must call its progress callback after each step i (``progress_of_part(i)``), as
    :func:`initlab.nn.training.train` does: `progress` is then called with every i,
    in order, once every part has finished step i (the slowest part's step), from one
    thread at a time. The first part to fail (in part order among those that failed) has
    its exception raised here once every thread has stopped; the others stop at their
    next step (:class:`Stopped`). An interruption of the caller (Ctrl-C) stops them too.
    """
    if len(parts) == 1:
        return [train(parts[0], progress)]
    stop = threading.Event()
    lock = threading.Lock()
    done = [-1] * len(parts)
    reported = [-1]

    def report(c: int, i: int) -> None:
        if stop.is_set():
            raise Stopped
        with lock:
            done[c] = i
            for j in range(reported[0] + 1, min(done) + 1):
                reported[0] = j
                if progress is not None:
                    progress(j)

    def one(c: int) -> T:
        if stop.is_set():
            raise Stopped
        return train(parts[c], lambda i: report(c, i))

    with ThreadPoolExecutor(len(parts), thread_name_prefix="initlab-chunk") as pool:
        try:
            futures = [pool.submit(one, c) for c in range(len(parts))]
            wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # KeyboardInterrupt while waiting: stop the chunks, then go
            stop.set()
            raise
        if any(f.done() and f.exception() is not None for f in futures):
            stop.set()
    failed = [f.exception() for f in futures if not isinstance(f.exception(), Stopped | None)]
    if failed:
        raise failed[0]
    return [f.result() for f in futures]
