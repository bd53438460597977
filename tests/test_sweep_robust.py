"""Sweeps under stress: changed data, a full disk, a garbled store, the parent killed."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from initlab import InitlabError
from initlab.cli import main
from initlab.data.fingerprint import fingerprint
from initlab.execution import sweep as sweep
from initlab.results import sweep_store
from initlab.results.sweep_store import StoreWriteError, open_store
from initlab.specs import sweep_spec as sweep_spec

SPEC = """
[data]
train = "toy.npz"
[model]
hidden = [4]
[training]
iterations = {iterations}
[sweep]
max_population = {population}
[axes]
init = ["he", "xavier"]
learning_rate = [0.1, 0.5]
seeds = 2
"""


def toy_data(path, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((80, 6))
    np.savez(path, X=X, y=(X[:, 0] > 0).astype(np.int64))


@pytest.fixture
def spec(tmp_path):
    toy_data(tmp_path / "toy.npz")
    path = tmp_path / "sweep.toml"
    path.write_text(SPEC.format(iterations=30, population=2))
    return path


def run(spec, out, **kw):
    with sweep.prepare(sweep_spec.load(spec), out, **kw) as plan:
        return plan.done, sweep.execute(plan, jobs=1)


def stored(out):
    with open_store(out, readonly=True) as s:
        return {r["id"]: r for r in s.rows(histories=["cost_history"])}


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --------------------------------------------------------------------------- changed data


def test_changed_data_is_refused_with_the_way_forward(spec, tmp_path, capsys):
    out = tmp_path / "out"
    run(spec, out)
    ids = set(stored(out))
    assert main(["sweep", str(spec), "--out", str(out)]) == 0  # same data: nothing to do
    assert "nothing to do" in capsys.readouterr().out
    toy_data(tmp_path / "toy.npz", seed=1)  # same path, other contents
    for extra in ([], ["--extend"]):
        assert main(["sweep", str(spec), "--out", str(out), *extra]) == 2
        line = one_error_line(capsys)
        assert "toy.npz changed" in line and str(out / "sweep.sqlite") in line
        assert "another --out" in line and "--retrain-changed-data" in line
    assert main(["sweep", str(spec), "--out", str(out), "--retrain-changed-data", "-q"]) == 0
    assert "0 done before, 8 to run" in capsys.readouterr().out
    again = stored(out)
    assert set(again) == ids  # run ids are kept; the store records the data's hash
    run(spec, tmp_path / "fresh")  # the same numbers as a sweep on the new data only
    fresh = stored(tmp_path / "fresh")
    for rid in ids:
        np.testing.assert_array_equal(again[rid]["cost_history"], fresh[rid]["cost_history"])
    with open_store(out, readonly=True) as s:
        assert s.data_hashes() == {str(tmp_path / "toy.npz"): fingerprint(tmp_path / "toy.npz")}


def test_fingerprints_follow_contents_not_times_or_places(tmp_path):
    f = tmp_path / "a.npz"
    toy_data(f)
    assert fingerprint(f) == hashlib.sha256(f.read_bytes()).hexdigest()
    folder = tmp_path / "imgs"
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "1.png").write_bytes(b"one")
    (folder / "dog.png").write_bytes(b"two")
    h = fingerprint(folder)
    os.utime(folder / "dog.png", (1, 1))
    assert fingerprint(folder) == h  # times do not count
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    assert fingerprint(moved) == h  # nor the folder's place
    (moved / "dog.png").write_bytes(b"twO")
    assert fingerprint(moved) != h
    (moved / "dog.png").write_bytes(b"two")
    (moved / "dog.png").rename(moved / "cat.png")
    assert fingerprint(moved) != h  # a renamed file is another data set
    import sklearn

    tag = f"bundled:digits:scikit-learn {sklearn.__version__}"
    assert fingerprint("digits") == hashlib.sha256(tag.encode()).hexdigest()
    with pytest.raises(InitlabError, match="nowhere"):
        fingerprint(tmp_path / "nowhere")


# --------------------------------------------------------------------------- full disk


def _fill_after_first_chunk(monkeypatch):
    """After the first chunk is stored, the database may not grow: SQLite's own
    ``max_page_count`` makes every later write fail with SQLITE_FULL, as a full disk does."""
    real = sweep_store.SweepStore.save_done
    calls = []

    def save_done(self, *a, **k):
        if calls:
            pages = self._con.execute("PRAGMA page_count").fetchone()[0]
            self._con.execute(f"PRAGMA max_page_count = {pages}")
        calls.append(1)
        return real(self, *a, **k)

    monkeypatch.setattr(sweep_store.SweepStore, "save_done", save_done)


def test_a_full_disk_is_reported_as_such_and_the_store_stays_intact(spec, tmp_path, monkeypatch,
                                                                   capsys):  # fmt: skip
    spec.write_text(SPEC.format(iterations=3000, population=2))  # histories need new pages
    out = tmp_path / "out"
    _fill_after_first_chunk(monkeypatch)
    assert main(["sweep", str(spec), "--out", str(out), "--jobs", "1", "-q"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("initlab sweep: error: disk full: could not write to")
    assert str(out / "sweep.sqlite") in line and "safe" in line and "damaged" not in line
    con = sqlite3.connect(out / "sweep.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = con.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0]
    con.close()
    assert done == 2  # the first chunk, whole
    monkeypatch.undo()
    assert main(["sweep", str(spec), "--out", str(out), "--jobs", "1", "-q"]) == 0  # resumes
    assert "2 done before, 6 to run" in capsys.readouterr().out


def test_store_write_errors_are_not_called_damage(tmp_path):
    with open_store(tmp_path, create=True) as s:
        err = s._unwritable(sqlite3.OperationalError("database or disk is full"))
    assert isinstance(err, StoreWriteError) and str(err).startswith("disk full")


# --------------------------------------------------------------------------- garbled store


@pytest.mark.parametrize("where", ["header", "pages"])
def test_a_garbled_store_is_one_line_naming_the_file(spec, tmp_path, where, capsys):
    out = tmp_path / "out"
    run(spec, out)
    db = out / "sweep.sqlite"
    data = bytearray(db.read_bytes())
    start, stop = (0, 100) if where == "header" else (4096, len(data))  # all but page 1
    for i in range(start, stop):
        data[i] = (data[i] * 7 + 13) % 256
    db.write_bytes(bytes(data))
    for argv in (["sweep", str(spec), "--out", str(out)], ["results", str(out)],
                 ["report", str(out)]):  # fmt: skip
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, (argv, err)
        assert str(db) in err[0] and ("another --out" in err[0] or "move it away" in err[0])


def test_garbled_contents_are_one_line_naming_the_file(spec, tmp_path, capsys):
    out = tmp_path / "out"
    run(spec, out)
    db = out / "sweep.sqlite"
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET config = '{garbled' WHERE rowid = 2")
    con.commit()
    con.close()
    for argv in (["results", str(out)], ["report", str(out)]):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, (argv, err)
        assert str(db) in err[0] and "garbled" in err[0] and "move it away" in err[0]


# --------------------------------------------------------------------------- kill -9


def _workers(pid):
    import psutil

    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for p in kids:
        try:
            if "loky" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            pass
    return found


def _training(workers):
    """Two workers past their imports (~1 s of CPU), so training."""
    try:
        busy = [w for w in workers if "LokyProcess" in " ".join(w.cmdline())]
        return len(busy) >= 2 and all(sum(w.cpu_times()[:2]) > 2.5 for w in busy)
    except Exception:  # a process ended meanwhile
        return False


def _running(p):
    """Alive and not a zombie (an exited orphan nobody reaped, as under a container's init)."""
    import psutil

    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_killing_the_parent_ends_its_workers(spec, tmp_path):
    psutil = pytest.importorskip("psutil")
    spec.write_text(SPEC.format(iterations=10_000_000, population=2))  # hours of work
    cmd = [sys.executable, "-m", "initlab", "sweep", str(spec), "--out", str(tmp_path / "o"),
           "--jobs", "2", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers, deadline = [], time.monotonic() + 90
    try:
        while not _training(workers) and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = _workers(proc.pid)
        assert _training(workers), "the sweep did not start its workers"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(map(_running, workers)):
            time.sleep(0.1)
        alive = [w for w in workers if _running(w)]
        assert not alive, [(w.pid, w.cmdline()[-3:], w.status()) for w in alive]
    finally:
        proc.kill()
        for w in workers:
            try:
                w.kill()
            except psutil.Error:
                pass
