"""``initlab theory correlation``, ``jacobian`` and ``kernels`` as studies on the sweep's
executor (issue 23, item 1): their cells resume after kill -9 to the bits of one
uninterrupted run, their spec reruns with ``initlab sweep`` to the same bits, ``initlab
results`` lists them, and what they print does not depend on the store.

Each reference is one uninterrupted run of a small configuration (:data:`STUDIES`); every
other way of computing it must store the same records, compared as the JSON text of each
cell (floats by their shortest repr: equal text is equal bits).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from initlab.analysis.propagation import study_correlations
from initlab.cli import main
from initlab.results.sweep_store import open_store
from initlab.studies import sigprop
from study_store import interrupted, records

CORRELATION = ["theory", "correlation", "--activation", "tanh", "--sigma-w2", "2.5",
               "--sigma-b2", "0.05", "--c0", "0.2", "0.9", "--depth", "20", "--width", "800",
               "--members", "10"]  # fmt: skip
KERNELS = ["theory", "kernels", "--activation", "relu", "--sigma-b2", "0.1", "--hidden-layers",
           "1", "--width", "16", "--train-examples", "8", "--ntk-widths", "16", "64",
           "--members", "2", "--train-widths", "256", "1024", "--steps", "60", "--max-depth",
           "3", "-q"]  # fmt: skip
JACOBIAN = ["theory", "jacobian", "--activation", "tanh", "--sigma-b2", "0.05", "--depths",
            "1", "16", "40", "--width", "250", "--members", "2", "-q"]  # fmt: skip
STUDIES = {
    "correlation": (CORRELATION, 1 + 10),  # the theory's cell and one per network
    "jacobian": (JACOBIAN, 2 * 2),  # one per weight law and member chain
    "kernels": (KERNELS, 11),  # summary, convergence, 2 x (network + 3 movements), depth
}


def _printed(text: str) -> list[str]:
    """The study's own lines: without the store's and figure's paths at the end."""
    lines = text.rstrip("\n").splitlines()
    assert lines[-2].startswith("wrote ") and lines[-2].endswith("sweep.sqlite"), lines[-3:]
    return lines[:-3]


@pytest.fixture(scope="module", params=list(STUDIES))
def reference(request, tmp_path_factory):
    """(name, argv, cells, out, {id: record text}, printed lines) of one uninterrupted run."""
    argv, n = STUDIES[request.param]
    out = tmp_path_factory.mktemp(request.param) / "ref"
    proc = subprocess.run([sys.executable, "-m", "initlab", *argv, "--out", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    found = records(out)
    assert len(found) == n
    return request.param, argv, n, out, found, _printed(proc.stdout)


def test_a_killed_study_resumes_to_the_bits_of_an_uninterrupted_one(reference, tmp_path,
                                                                     capsys):  # fmt: skip
    _, argv, n, _, expected, printed = reference
    out = tmp_path / "run"
    code, err, _ = interrupted(argv, out, n)
    assert code == -signal.SIGKILL, err
    before = records(out)
    with open_store(out, readonly=True) as s:  # nothing half-stored: done, or pending
        assert {c["status"] for c in s.cells()} <= {"done", "pending"}
    assert main([*argv, "--out", str(out)]) == 0
    assert _printed(capsys.readouterr().out) == printed
    assert records(out) == expected
    with open_store(out, readonly=True) as s:  # the cells stored before were not recomputed
        assert all(c["attempts"] == 1 for c in s.cells() if c["id"] in before)


def test_the_written_spec_reruns_with_initlab_sweep_to_the_same_bits(reference, tmp_path,
                                                                     capsys):  # fmt: skip
    name, argv, n, ref, expected, printed = reference
    spec = tmp_path / "study.toml"
    assert main([*argv, "--write-spec", str(spec)]) == 0
    assert f'kind = "{name}"' in spec.read_text()
    capsys.readouterr()
    out = tmp_path / "swept"
    assert main(["sweep", str(spec), "--out", str(out), "--jobs", "2", "-q"]) == 0
    text = capsys.readouterr().out
    assert f"{n} cells stored, 0 failed" in text and "2 local worker processes" in text
    assert records(out) == expected
    shown = text.splitlines()
    assert shown[shown.index(printed[0]) :][: len(printed)] == printed  # the command's lines
    # the command's own store holds the very same cells: nothing to do
    assert main(["sweep", str(spec), "--out", str(ref), "-q"]) == 0
    assert f"{n} done before, 0 to run" in capsys.readouterr().out


def test_results_lists_the_cells_and_the_command_prints_the_same_without_a_store(reference, capsys):
    name, argv, n, out, _, printed = reference
    assert main(["results", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{n} cells shown of {n}; study: {name}" in text
    assert text.count("│ done ") == n
    assert main(argv) == 0  # no --out: computed here, through the same cell functions
    assert capsys.readouterr().out.rstrip("\n").splitlines() == printed
    assert main([*argv, "--jobs", "2"]) == 0  # no --out, two processes: a temporary store
    assert capsys.readouterr().out.rstrip("\n").splitlines() == printed


@pytest.mark.parametrize("reference", ["correlation"], indirect=True)
def test_correlation_cells_are_the_networks_of_the_population(reference):
    """Each network's cell, computed alone, holds the bits of its row in the measurement
    of all networks together (study_correlations); the report reads the store."""
    _, _, _, out, _, _ = reference
    study = study_correlations("tanh", 2.5, 0.05, c0=[0.2, 0.9], depth=20, width=800,
                               members=10, seed=0)  # fmt: skip
    stored = sigprop.read(out, "correlation")
    np.testing.assert_array_equal(np.array(stored["study"]["measured"]), study.measured)
    assert stored["study"]["predicted"] == study.predicted.tolist()
    assert json.dumps(stored["map"]["c"]) == json.dumps(np.linspace(-1, 1, 81).tolist())


@pytest.mark.parametrize("reference", ["correlation"], indirect=True)
def test_a_larger_correlation_study_reuses_the_stored_networks(reference, tmp_path, capsys):
    """Network k's cell does not depend on how many networks are drawn: ``--extend`` with
    more members computes only the new ones."""
    _, argv, n, out, expected, _ = reference
    spec = tmp_path / "more.toml"
    i = argv.index("--members")
    assert main([*argv[: i + 1], "12", *argv[i + 2 :], "--write-spec", str(spec)]) == 0
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "sweep.sqlite").write_bytes((out / "sweep.sqlite").read_bytes())
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(copy), "--extend", "--jobs", "1", "-q"]) == 0
    assert f"{n} done before, 2 to run" in capsys.readouterr().out
    found = records(copy)
    assert len(found) == n + 2 and all(found[k] == v for k, v in expected.items())


BAD = [
    ("[correlation]\nwidht = 3\n", "'widht'"),
    ("[correlation]\nwidth = 1\n", "width must be >= 2"),
    ("[correlation]\nc0 = 0.5\n", "c0 must be a list"),
    ("[correlation]\nc0 = [0.5, 2.0]\n", "c0 must be correlations in [-1, 1]"),
    ('[correlation]\nactivation = "tahn"\n', "tahn"),
    ("[kernels]\nsteps = 0\n", "steps must be >= 1"),
    ("[kernels]\nsigma_b2 = 0.0\n", "sigma_b2 must be > 0"),
    ("[kernels]\ntrain_widths = 64\n", "train_widths must be a list"),
    ("[kernels]\nmembres = 2\n", "'membres'"),
]


@pytest.mark.parametrize(("table", "expected"), BAD, ids=[b[1][:24] for b in BAD])
def test_bad_study_specs_are_one_line_naming_the_key(table, expected, tmp_path, capsys):
    kind = table[1 : table.index("]")]
    spec = tmp_path / "bad.toml"
    spec.write_text(f'[study]\nkind = "{kind}"\n{table}')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0] and str(spec) in err[0], err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("reference", ["correlation"], indirect=True)
def test_a_directory_takes_other_kinds_of_study_but_not_another_spec_of_one(reference,
                                                                            tmp_path, capsys):  # fmt: skip
    """correlation and jacobian share ``--out sigprop/`` (as the docs run them); another
    correlation spec in the same store is refused in one line, and nothing is added."""
    _, argv, n, out, expected, _ = reference
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "sweep.sqlite").write_bytes((out / "sweep.sqlite").read_bytes())
    jac = ["theory", "jacobian", "--activation", "linear", "--depths", "1", "--width", "20",
           "--members", "1", "-q", "--out", str(copy)]  # fmt: skip
    assert main(jac) == 0
    capsys.readouterr()
    assert main(["results", str(copy)]) == 0  # which kind each cell is: a table per kind
    shown = capsys.readouterr().out
    assert (
        f"{n + 2} cells shown of {n + 2}; study: correlation ({n} cells), jacobian (2 cells)"
        in shown
    ), shown
    tables = [shown.index(f"initlab: study cells ({k})") for k in ("correlation", "jacobian")]
    assert shown.count("│ network ") == n - 1 and shown.count("│ done ") == n + 2
    assert tables[0] < shown.index("│ network ") < tables[1] < shown.index("orthogonal │")
    i = argv.index("--depth")
    assert main([*argv[: i + 1], "3", *argv[i + 2 :], "--out", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another study" in err[0], err
    found = records(copy)
    assert len(found) == n + 2 and all(found[k] == v for k, v in expected.items())
    assert sigprop.read(copy, "correlation")["study"]["measured"]  # both read back
    assert sigprop.read(copy, "jacobian")["panels"]


@pytest.mark.parametrize("reference", ["correlation"], indirect=True)
def test_networks_not_yet_stored_are_named_and_computed_by_a_rerun(reference, tmp_path,
                                                                   capsys):  # fmt: skip
    """With networks 3 and 7 missing, the record is that of the others (and says which are
    missing); the command run again computes those two only, to the reference's bits."""
    import sqlite3

    _, argv, _, out, expected, printed = reference
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "sweep.sqlite").write_bytes((out / "sweep.sqlite").read_bytes())
    full = sigprop.read(copy, "correlation")
    with open_store(copy, readonly=True) as s:
        gone = [c["id"] for c in s.cells() if c["config"].get("draw") in (3, 7)]
    con = sqlite3.connect(copy / "sweep.sqlite")
    with con:
        con.executemany("UPDATE cells SET status = 'pending', record = NULL WHERE id = ?",
                        [(i,) for i in gone])  # fmt: skip
    con.close()
    part = sigprop.read(copy, "correlation")
    assert part["missing"] == [3, 7]
    kept = [m for k, m in enumerate(full["study"]["measured"]) if k not in (3, 7)]
    assert part["study"]["measured"] == kept
    assert main([*argv, "--out", str(copy)]) == 0
    assert _printed(capsys.readouterr().out) == printed
    assert records(copy) == expected
    with open_store(copy, readonly=True) as s:
        assert {c["id"] for c in s.cells() if c["attempts"] == 2} == set(gone)


@pytest.mark.parametrize("reference", ["kernels"], indirect=True)
def test_kernels_training_cells_hold_the_library_numbers(reference):
    """Each trained network's cell, computed alone, is the library's run: the rate
    0.5 m / lambda_max of the NTK on the fit examples, train_vs_kernel at that rate, and the
    kernel movement at it (NTK) or at it x sigma_w^2 / base width (muP, SP)."""
    from initlab.analysis import empirical_ntk, kernels
    from initlab.studies import kernel_study
    from initlab.studies import kernels as K

    r = kernel_study.read(reference[3])
    X, Y, Xt, _ = K.examples(8, 64)
    X, Y = X[:, :32], Y[:, :32]
    init, w2 = K.gaussian_init(2.0), 2.0
    ntk = kernels.mlp_kernels(X, layer_sizes=[64, 1024, 1], init=init, activation="relu",
                              sigma_b2=0.1).ntk  # fmt: skip
    eta = 0.5 * X.shape[1] / np.linalg.eigvalsh(ntk)[-1]
    common = {"depth": 1, "init": init, "activation": "relu", "sigma_b2": 0.1, "seed": 0}
    for entry, n in zip(r["training"], (256, 1024), strict=True):
        assert entry["width"] == n and entry["learning_rate"] == eta
        run = empirical_ntk.train_vs_kernel(X, Y, Xt, width=n, learning_rate=eta,
                                            times=[0, 6, 30, 60], **common)  # fmt: skip
        assert entry["distance"] == run["distance"].tolist()
        for p, lr in (("ntk", eta), ("mup", eta * w2 / 256), ("sp", eta * w2 / 256)):
            moved = empirical_ntk.kernel_movement(
                X, Y, width=n, parametrization=p, base_width=256, learning_rate=lr, steps=60,
                **common,
            )  # fmt: skip
            assert entry["kernel_change"][p] == moved, (n, p)
