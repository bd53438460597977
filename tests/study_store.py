"""Helpers of the study tests (tests/test_study_executor.py, test_theory_studies_store.py,
test_scaling_cells.py, test_study_flags.py): a store's cells as JSON text, and a study
command stopped halfway in a child process.

A cell's record compared as JSON text (floats by their shortest repr) is compared bit for
bit: equal text is equal bits.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

from initlab.results.sweep_store import open_store


def records(out) -> dict[str, str]:
    """``{cell id: its record as JSON text}`` of the done cells in `out`'s store."""
    with open_store(out, readonly=True) as s:
        return {c["id"]: json.dumps(c["record"]) for c in s.cells() if c["status"] == "done"}


def done_cells(out) -> int:
    """Cells done in the store of `out`, read while another process may be writing it (0
    before the store exists or while it is being created)."""
    db = out / "sweep.sqlite"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        n = con.execute("SELECT count(*) FROM cells WHERE status = 'done'").fetchone()[0]
        con.close()
        return n
    except sqlite3.OperationalError:  # being created
        return 0


def interrupted(argv: list[str], out, total: int, sig: int = signal.SIGKILL,
                timeout: float = 90) -> tuple[int, str, int]:  # fmt: skip
    """Run ``initlab ARGV --out OUT`` in a child process and send it `sig` as soon as a
    cell is stored; ``(exit status, stderr, cells done)``, asserting it stopped halfway
    (some of the `total` cells stored, not all)."""
    cmd = [sys.executable, "-m", "initlab", *argv, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while done_cells(out) == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    stored = done_cells(out)
    assert 0 < stored < total, (stored, total, err)
    return proc.returncode, err, stored
