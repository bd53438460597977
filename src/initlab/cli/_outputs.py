"""Outputs checked before the work, and never lost after it.

Every command that writes (run, reproduce, theory, report, sweep, results --csv/--parquet/
--heatmap) goes through this module twice:

1. Before any work, :func:`check_dir` (or :func:`check_file`) makes sure the output place
   is usable: an existing directory or one that can be made, writable (a probe file is
   created and removed, which also catches read-only mounts where :func:`os.access`, as
   root, says yes), and with enough free space for the expected results. A bad ``--out``
   is one line naming the option and the problem, before training.
2. After the work, :func:`save` calls the writer; on any :class:`OSError` (a full disk, a
   permission lost, the folder deleted meanwhile) it writes the same outputs into a fresh
   temporary directory (:func:`tempfile.mkdtemp`) and returns a one-line note naming both
   places. The command prints the note and exits non-zero, without a traceback, and the
   results of a long training are not lost.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from initlab._validation import InitlabError

MARGIN = 1 << 20
"""Free space asked beyond the estimate (bytes): a results file is rewritten atomically."""


def reason(exc: OSError) -> str:
    """A short description of a write failure: ``"disk full"``, ``"permission denied"``..."""
    words = {
        errno.ENOSPC: "disk full",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "read-only file system",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
        errno.EISDIR: "is a directory",
        errno.EEXIST: "a file is in the way",
    }
    text = words.get(exc.errno or 0, exc.strerror or str(exc))
    return f"{text}: {exc.filename}" if exc.filename else text


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def out_path(text: str) -> Path | str:
    """argparse type of an output option: a Path, or an empty text kept as it is (``Path("")``
    would be the current folder), which :func:`check_dir` / :func:`check_file` refuse."""
    return Path(text) if text.strip() else text


def check_dir(path: str | os.PathLike, *, need: int = 0, option: str = "--out") -> Path:
    """Make sure `path` is (or can be made) a writable directory with `need` bytes free.

    The directory is created (with its parents) if missing.

    Raises
    ------
    InitlabError
        One line naming `option`, the path and the problem.
    """
    if not str(path).strip():
        raise InitlabError(f"{option} is empty; give a directory")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InitlabError(f"{option} {path}: is a file, not a directory; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".initlab-probe-"):
            pass
    except OSError as exc:
        raise InitlabError(f"{option} {path}: cannot write there ({reason(exc)})") from None
    free = shutil.disk_usage(path).free
    if free < need + MARGIN:
        raise InitlabError(
            f"{option} {path}: only {_mb(free)} free on its disk; the results need about "
            f"{_mb(need + MARGIN)}. Free some space or choose another {option}"
        )
    return path


def check_file(path: str | os.PathLike, *, need: int = 0, option: str = "--out") -> Path:
    """Make sure file `path` can be written: not a directory, its folder usable (see
    :func:`check_dir`, which creates the folder)."""
    if not str(path).strip():
        raise InitlabError(f"{option} is empty; give a file name")
    path = Path(path)
    if path.is_dir():
        raise InitlabError(f"{option} {path}: is a directory; give a file name")
    check_dir(path.parent, need=need, option=f"{option} {path}: folder")
    return path


@dataclass(frozen=True)
class Saved:
    """What :func:`save` wrote, where, and (if the first place failed) the note to print."""

    paths: list[Path]
    where: Path
    note: str | None = None


def save(
    write: Callable[[Path], list[Path]], out: str | os.PathLike, *, what: str = "results"
) -> Saved:
    """Call ``write(out)``; on an OSError, ``write(temporary directory)`` instead.

    Parameters
    ----------
    write : callable
        Writes the outputs into the directory it is given and returns the files written.
    out : path
        The directory asked for.
    what : str
        What is written, for the note (``"results and figures"``).

    Raises
    ------
    InitlabError
        If the temporary directory cannot be written either (both reasons named).
    """
    out = Path(out)
    try:
        return Saved(write(out), out)
    except OSError as exc:
        first = reason(exc)
    tmp = Path(tempfile.mkdtemp(prefix="initlab-rescued-"))
    try:
        paths = write(tmp)
    except OSError as exc:
        raise InitlabError(
            f"could not write the {what} to {out} ({first}), nor to {tmp} ({reason(exc)}); "
            "nothing was saved"
        ) from None
    note = f"could not write the {what} to {out} ({first}); they were written to {tmp} instead"
    return Saved(paths, tmp, note)
