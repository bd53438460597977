"""Running a study (:mod:`initlab.execution.study`) from the command line: ``initlab theory
trainability --out DIR`` and ``initlab sweep STUDY.toml --out DIR`` both come here, so both
store the same cells the same way.

Every study command (``initlab theory trainability | deep-linear | correlation | jacobian |
kernels``, ``initlab scaling lr-transfer | coord-check``) gives its four shared options one
meaning, here (:func:`run`, :data:`HELP`):

``--write-spec FILE``  write the spec (``[study] kind`` = the command's name), compute
                       nothing; refused beside the three others (:func:`check_write_spec`).
``--out DIR``          compute the cells not yet in ``DIR/sweep.sqlite``, print the study's
                       lines from the store, draw its figures there.
no ``--out``           compute into a temporary store, print the same lines, keep nothing.
``--jobs N``           local worker processes (default: :func:`default_jobs`, by the
                       study's estimated work); ``--scheduler ADDRESS`` a Dask cluster
                       instead. The same bits either way.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from initlab.cli._common import console, err_console
from initlab.execution import study as _study
from initlab.execution.executor import Report


def execute(
    study: _study.Study,
    out: Path,
    *,
    jobs: int | None,
    scheduler: str | None,
    progress: Callable[..., None] | None = None,
    extend: bool = False,
    talk: bool = False,
    kept: bool = True,
) -> Report:
    """Compute the cells of `study` not yet in `out`'s store (`jobs` local processes or the
    Dask `scheduler`); with `talk`, say what is done and left as a sweep does. On Ctrl-C,
    say how much is stored and re-raise. A store holding only studies of other kinds takes
    this one beside them (as ``initlab theory correlation`` and ``jacobian --out DIR`` share
    a directory); another spec of the same kind is refused unless `extend`. `kept`: `out`
    is kept afterwards (not a temporary store), which the Ctrl-C line says."""
    extend = extend or _study.only_other_kinds(out, study.kind)
    with _study.prepare(study, out, extend=extend) as plan:
        if talk:
            console.print(
                f"store {plan.store.path}: {plan.done} done before, "
                + (f"{plan.failed_before} failed before (retrying), " if plan.failed_before
                   else "")
                + f"{len(plan.todo)} to run"
            )  # fmt: skip
            if not plan.todo:
                console.print("nothing to do: every cell is done")
        bar = None if progress is None else lambda ok, bad, n: progress(ok + bad, n, bad)
        try:
            return _study.execute(plan, jobs=jobs, scheduler=scheduler, progress=bar)
        except KeyboardInterrupt:
            err_console.print(
                interrupted_note(study, plan.store.statuses("cells"), plan.store.path, kept=kept),
                markup=False,
            )
            raise


def interrupted_note(study: _study.Study, statuses: dict[str, str], store: Path, *,
                     kept: bool = True) -> str:  # fmt: skip
    """The line a study command prints on Ctrl-C: how many of its cells are done
    (`statuses`: the store's ``{cell id: status}``) in `store`, and how to resume; or, for a
    temporary store (not `kept`), that nothing is kept."""
    ids = {c.id for c in study.cells}
    done = sum(statuses.get(i) == "done" for i in ids)
    if not kept:
        return (f"interrupted: {done} of {len(ids)} cells were computed; nothing is kept "
                "without --out (run with --out DIR to store the cells and resume)")  # fmt: skip
    return (f"interrupted: {done} of {len(ids)} cells are stored in {store}; run the same "
            "command again to resume")  # fmt: skip


def failure_note(report: Report, out: Path) -> str | None:
    """The line that says cells failed, with the first error, and how to retry; or None."""
    if not report.failed:
        return None
    last = report.errors[0].strip().splitlines()[-1]
    return (
        f"{report.failed} cells failed (first error: {last}); their errors are stored "
        f"(initlab results {out} --where status=failed). Run the same command again to "
        "retry them"
    )


def check_write_spec(args: Any) -> None:
    """Refuse ``--out``, ``--jobs`` or ``--scheduler`` beside ``--write-spec`` (which writes
    the spec and computes nothing), before any work."""
    from initlab._validation import InitlabError

    if not getattr(args, "write_spec", None):
        return
    given = [f"--{o}" for o in ("out", "jobs", "scheduler") if getattr(args, o, None)]
    if given:
        raise InitlabError(f"--write-spec writes the spec and computes nothing; drop "
                           f"{' and '.join(given)} (then run it with `initlab sweep SPEC --out "
                           "DIR`)")  # fmt: skip


def write_spec(args: Any, spec: dict[str, Any]) -> list[str]:
    """Write the study's `spec` as TOML at ``args.write_spec`` (:func:`check_write_spec`
    first); the line to print."""
    from initlab.cli._outputs import check_file
    from initlab.studies import specs as study_specs

    check_write_spec(args)
    check_file(args.write_spec, need=100_000, option="--write-spec")
    path = study_specs.write(args.write_spec, spec)
    return [f"wrote {path}: run it with `initlab sweep {path} --out DIR`"]


def run(study: _study.Study, args: Any, *, lines: Callable[[Path], list[str]],
        outputs: Callable[[_study.Study, Path], list[str]],
        progress: Callable[..., None] | None = None, flops: float | None = None
        ) -> tuple[list[str], str | None]:  # fmt: skip
    """What every study command does with ``--write-spec``, ``--out``, ``--jobs`` and
    ``--scheduler`` (the same for each): write the spec and compute nothing; or compute
    the cells not yet stored in ``--out``'s store and return ``outputs(study, out)`` (the
    study's lines, its figures drawn) with the note of failed cells; or, without ``--out``,
    compute into a temporary store and return ``lines(its directory)``, keeping nothing.
    ``progress(done, total, failed)`` after each population; `flops`, the study's estimated
    work, decides the default of ``--jobs`` (:func:`default_jobs`)."""
    if getattr(args, "write_spec", None):
        return write_spec(args, study.spec), None
    jobs = default_jobs(args.jobs, flops)
    if not args.out:
        return execute_temporary(study, lines, jobs=jobs, scheduler=args.scheduler,
                                 progress=progress), None  # fmt: skip
    out = Path(args.out)
    report = execute(study, out, jobs=jobs, scheduler=args.scheduler, progress=progress)
    return outputs(study, out), failure_note(report, out)


SMALL_WORK = 5e10
"""Estimated floating-point operations under which a study command computes in this process
when ``--jobs`` is not given: starting worker processes (each imports NumPy, SciPy and
initlab; 4-5 s of wall time on the loaded 2-core machine) costs more than they save. Set
between the measured defaults (BENCHMARKS.md, "studies: --jobs"): ``theory correlation``
(3e9) and ``jacobian`` (4e10) are slower on two processes; ``scaling lr-transfer`` (9e10)
and ``theory trainability`` (2e11) faster."""


def default_jobs(jobs: int | None, flops: float | None = None) -> int | None:
    """``--jobs`` as given; if not given, 1 for a study of fewer than :data:`SMALL_WORK`
    estimated `flops` (:mod:`initlab.cli._checks`' estimates), else None: the executor's
    choice, one local worker process per core, as ``initlab sweep``'s default (faster for
    the longer studies even beside another CPU-bound process). The bits do not depend on
    it."""
    if jobs is not None:
        return jobs
    return 1 if flops is not None and flops < SMALL_WORK else None


HELP = {
    "out": "store the cells in DIR/sweep.sqlite (a rerun computes only those not stored) "
    "and write the figures here; without --out the study is computed and printed, and "
    "nothing is kept",
    "jobs": "local worker processes (default: one per core, or this process alone for a "
    "study of seconds; 1 computes in this process)",
    "scheduler": "compute on the Dask distributed scheduler at ADDRESS, e.g. "
    "tcp://10.0.0.5:8786 (needs initlab[dask])",
    "write_spec": "write the study's spec (TOML) and compute nothing; `initlab sweep "
    "FILE.toml --out DIR` runs it",
}
"""The help of the options every study command shares (``initlab theory`` and ``initlab
scaling``), in one place so that they say the same."""


@contextlib.contextmanager
def temporary_store(kind: str) -> Iterator[Path]:
    """A directory for a study's store that is removed afterwards (no ``--out``)."""
    with tempfile.TemporaryDirectory(prefix=f"initlab-{kind}-") as tmp:
        yield Path(tmp)


def execute_temporary(study: _study.Study, read: Callable[[Path], Any], *, jobs: int | None,
                      scheduler: str | None, progress: Callable[..., None] | None = None
                      ) -> Any:  # fmt: skip
    """No ``--out``: compute `study` into a temporary store and return ``read(its
    directory)`` before the directory is removed.

    Raises
    ------
    InitlabError
        If cells failed (their first error named; nothing is kept to retry from).
    """
    from initlab._validation import InitlabError

    with temporary_store(study.kind) as tmp:
        report = execute(study, tmp, jobs=jobs, scheduler=scheduler, progress=progress,
                         kept=False)  # fmt: skip
        if report.failed:
            last = report.errors[0].strip().splitlines()[-1]
            raise InitlabError(
                f"{report.failed} cells of {study.kind} failed (first error: {last}); run "
                "with --out DIR to keep the others and retry"
            )
        return read(tmp)
