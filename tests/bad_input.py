"""Helpers of the bad-input tables (tests/test_bad_<command>.py).

Every case asserts the contract of issue 21: the documented exit status (2 for bad input),
exactly one line on stderr, no traceback, and no file written outside ``--out`` (nothing at
all for a refusal made before any work). Cases that could allocate without bound or block
forever run in a subprocess under ``RLIMIT_AS`` and a timeout (:func:`limited`), so a
regression fails the test instead of taking the machine down.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from initlab.cli import main

LIMIT_AS = 3 * 2**30
"""Address space of a limited subprocess: enough for Python, NumPy and SciPy, far below
what any refused case would allocate."""


def files(root: Path) -> set[Path]:
    """Every path under `root` (files and folders), but SQLite's own side files of a store
    being read (``-wal``, ``-shm``: a WAL database's reader makes them)."""
    return {p for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm"))}


def refused(argv: list[str], capsys, root: Path, *contains: str, code: int = 2) -> str:
    """Run ``initlab ARGV`` in this process; assert the contract; return the error line.

    Nothing may be created under `root` (the test's working folder).
    """
    before = files(root)
    status = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == code, (status, err, out[-500:])
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Traceback" not in out
    for text in contains:
        assert text in lines[0], lines[0]
    assert files(root) == before, sorted(map(str, files(root) - before))
    return lines[0]


def _limit() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))


def limited(
    argv: list[str], cwd: Path, *, timeout: float = 60, env: dict | None = None
) -> subprocess.CompletedProcess:
    """``python -m initlab ARGV`` in a child limited to :data:`LIMIT_AS` bytes of address
    space and `timeout` seconds (one BLAS thread, as the tests run)."""
    base = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "initlab", *argv], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, preexec_fn=_limit, env={**base, **(env or {})},
    )  # fmt: skip


def refused_limited(argv: list[str], cwd: Path, *contains: str, code: int = 2, **kw) -> str:
    """:func:`limited`, with the contract of :func:`refused` (the child's stderr)."""
    before = files(cwd)
    p = limited(argv, cwd, **kw)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == code, (p.returncode, p.stderr[-2000:])
    assert len(lines) == 1, p.stderr
    for text in contains:
        assert text in lines[0], lines[0]
    assert files(cwd) == before
    return lines[0]


def spec(path: Path, text: str) -> Path:
    """Write the TOML `text` to `path`; return the path."""
    path.write_text(text, encoding="utf-8")
    return path


SWEEP = """[data]
train = "digits"
[model]
hidden = [3]
[training]
iterations = 3
[axes]
init = ["he", "xavier"]
seed = [0, 1]
"""
RUN = """[data]
train = "digits"
[model]
hidden = [3]
[training]
iterations = 3
[[runs]]
init = "he"
"""


def stored_results(root: Path) -> tuple[Path, Path]:
    """A tiny sweep store (root/sweep/sweep.sqlite) and run (root/run/results.json)."""
    spec(root / "sweep.toml", SWEEP)
    spec(root / "run.toml", RUN)
    assert main(["sweep", str(root / "sweep.toml"), "--out", str(root / "sweep"), "--jobs",
                 "1", "-q"]) == 0  # fmt: skip
    assert main(["run", str(root / "run.toml"), "--out", str(root / "run"), "--no-figures",
                 "-q"]) == 0  # fmt: skip
    return root / "sweep", root / "run"


def damaged_copy(source: Path, dest: Path, how: str) -> Path:
    """A copy of stored results `source` damaged `how`:

    ``sql:STATEMENT`` runs an UPDATE on the store; ``json:PATH=VALUE`` sets a field of
    results.json (PATH dotted, ``runs.0.final_cost``); ``zero-index`` zeroes the root page
    of an index of the store (its rows stay readable, its integrity check fails)."""
    import json
    import shutil
    import sqlite3

    shutil.copytree(source, dest)
    kind, _, what = how.partition(":")
    if kind == "sql":
        con = sqlite3.connect(dest / "sweep.sqlite")
        con.execute(what)
        con.commit()
        con.close()
    elif kind == "json":
        path, _, value = what.partition("=")
        doc = json.loads((dest / "results.json").read_text())
        *keys, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        target = doc
        for k in keys:
            target = target[k]
        target[last] = json.loads(value)
        (dest / "results.json").write_text(json.dumps(doc))
    else:
        db = dest / "sweep.sqlite"
        con = sqlite3.connect(db)
        (page,) = con.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'runs_seed'"
        ).fetchone()
        (size,) = con.execute("PRAGMA page_size").fetchone()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        with open(db, "r+b") as f:
            f.seek((page - 1) * size)
            f.write(bytes(size))
    return dest
