"""Results on disk: one JSON file per experiment, written atomically, read with checks.

``DIR/results.json`` holds ``{"format": "initlab.results", "schema_version": 1, ...}``;
NaN and infinities are stored as ``null``. Writes go to a temporary file in the same
folder, are flushed to disk, then moved into place with ``os.replace``, so a reader never
sees a half-written file, and an interrupted write leaves the previous file intact.
"""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from initlab._limits import regular_file
from initlab._validation import InitlabError

FORMAT = "initlab.results"
SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
REQUIRED = ("spec", "data", "runs", "summary")
"""Keys every results file has; :func:`read_results` refuses a file without one."""


def jsonable(obj: Any) -> Any:
    """Convert NumPy values and non-finite floats (to None) for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically (temporary file, fsync, ``os.replace``).

    Raises
    ------
    IsADirectoryError
        If `path` is a directory (named; nothing written).
    """
    path = Path(path)
    if path.is_dir():  # os.replace would name the temporary file, or say "busy" for "."
        raise IsADirectoryError(errno.EISDIR, "expected a file path, not a directory", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(out_dir: str | os.PathLike, results: dict[str, Any]) -> Path:
    """Write `results` to ``out_dir/results.json`` atomically; return the path."""
    results = {"format": FORMAT, "schema_version": SCHEMA_VERSION, **results}
    text = json.dumps(jsonable(results), allow_nan=False, indent=1)
    path = Path(out_dir) / RESULTS_FILE
    write_atomic(path, text.encode("utf-8"))
    return path


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read results from a directory (``results.json`` inside it) or a JSON file.

    Raises
    ------
    InitlabError
        If there are no results there, the file is not initlab's, or its schema version is
        one this version of initlab does not know.
    """
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    if file.exists():  # a FIFO or device is refused by name, never read
        regular_file(file, "results file")
    if not file.is_file():
        where = f"directory {path}" if path.is_dir() else str(path)
        raise InitlabError(
            f"no results in {where}: expected {RESULTS_FILE} written by `initlab run` "
            "or `initlab reproduce`"
        )
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InitlabError(
            f"{file} is not valid JSON ({exc}); was it written by initlab?"
        ) from None
    if not isinstance(results, dict) or results.get("format") != FORMAT:
        raise InitlabError(f"{file} is not an initlab results file (no 'format': '{FORMAT}')")
    version = results.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InitlabError(
            f"{file} has results schema version {version!r}; this initlab reads version "
            f"{SCHEMA_VERSION}. Re-run the experiment, or use the initlab that wrote it"
        )
    missing = [k for k in REQUIRED if k not in results]
    if missing:
        raise InitlabError(
            f"{file} has no {', '.join(repr(k) for k in missing)}: it is incomplete or was "
            "edited; re-run the experiment (`initlab run`) to write it again"
        )
    from initlab.results.integrity import check_results

    check_results(results, file)
    return results
