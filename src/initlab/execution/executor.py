r"""What sweeps and studies share to run work into a store: the directory's lock, the spec
check, the report, and the loop that stores each population as it comes back.

:mod:`initlab.execution.sweep` (a sweep's runs) and :mod:`initlab.execution.study` (a
study's cells) each plan their own work; both then open the directory with
:func:`open_locked`, refuse another spec's store with :func:`check_same_spec`, hand their
tasks to a :class:`~initlab.execution.workers.Pool` and store each
:class:`~initlab.execution.workers.ChunkResult` with :func:`store_result` inside
:func:`collect`. So Ctrl-C, kill -9, a full disk, a failing population and a lost worker
have one behaviour, described in :mod:`initlab.execution.sweep`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError
from initlab.execution.workers import ChunkResult
from initlab.results.sweep_store import SweepStore, open_store, runs_hash

log = logging.getLogger(__name__)

Progress = Callable[[int, int, int], None]
"""``progress(stored, failed, total)``: runs (cells) stored and failed so far of `total`."""

LOCK_FILE = "sweep.lock"


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


class Held:
    """The open store and lock of a plan (``with plan: ...`` closes both)."""

    store: SweepStore
    _lock: Any

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        release(self.store, self._lock)
        self._lock = None


def open_locked(out: Path) -> tuple[SweepStore, Any]:
    """Lock `out` (:data:`LOCK_FILE`) and open (or create) its store; ``(store, lock)``.

    Raises
    ------
    InitlabError
        If another process writes to `out`, or the store is not usable.
    """
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        return open_store(out, create=True), lock
    except BaseException:
        if lock is not None:
            lock.close()
        raise


def release(store: SweepStore, lock: Any) -> None:
    store.close()
    if lock is not None:
        lock.close()


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
            f"another initlab sweep or study is writing to {out}; wait for it to finish, or stop it"
        ) from None
    return f


def check_same_spec(
    store: SweepStore, ids: Sequence[str], extend: bool, *, table: str = "runs", how: str = ""
) -> None:
    """Refuse a spec whose runs (``table="cells"``: cells) `ids` are not those of a spec
    already run into `store`, unless `extend`; `how` says how to add them anyway."""
    specs = store.specs()
    known = {s["runs_hash"] for s in specs}
    if not known or runs_hash(ids) in known or extend:
        return
    kinds = [(s["spec"].get("study") or {}).get("kind") for s in specs]
    if table == "runs" and all(kinds):  # a sweep into studies' directory
        raise InitlabError(f"{store.path} holds studies' cells ({', '.join(dict.fromkeys(kinds))}"
                           "), not a sweep's runs: use another --out directory")  # fmt: skip
    if table == "cells" and not any(kinds):
        raise InitlabError(f"{store.path} holds a sweep's runs, not a study's cells: use "
                           "another --out directory")  # fmt: skip
    status = store.statuses(table)
    shared = sum(i in status for i in ids)
    how = how or (
        "pass --extend to add this spec's runs to the store (runs they share are not trained again)"
    )
    raise InitlabError(
        f"{store.path} holds another {'sweep' if table == 'runs' else 'study'}: this spec has "
        f"{len(ids)} {table}, {len(ids) - shared} of them not in the store, and the store has "
        f"{len(status) - shared} {table} this spec does not have. Use another --out "
        f"directory, or {how}"
    )


def store_result(
    res: ChunkResult, report: Report, save_done: Callable[..., int],
    save_failed: Callable[..., int],
) -> bool:  # fmt: skip
    """Store one finished population (its records, or its error for every member) with
    `save_done` / `save_failed` and count it in `report`; True if it succeeded."""
    when = {"seconds": res.seconds, "worker": res.worker, "finished_at": res.finished_at}
    if res.error is None:
        report.stored += save_done(res.ids, res.records, **when)
        return True
    report.failed += save_failed(res.ids, res.error, **when)
    report.errors.append(res.error)
    last = res.error.strip().splitlines()[-1]
    log.warning("a population of %d failed: %s", len(res.ids), last)
    return False


def collect(
    results: Iterable[ChunkResult],
    store: Callable[[ChunkResult], Any],
    report: Report,
    total: int,
    progress: Progress | None = None,
) -> Report:
    """``store(result)`` for each result as it comes, with ``progress(stored, failed,
    total)`` before the first and after each; the time taken into `report`."""
    start = time.perf_counter()
    if progress is not None:
        progress(0, 0, total)
    for res in results:
        store(res)
        if progress is not None:
            progress(report.stored, report.failed, total)
    report.seconds = time.perf_counter() - start
    return report
