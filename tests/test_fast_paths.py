"""Fast paths held to the plain computation: diagnostics without materializing W_1 (sample
engine), the fixed column sample, batched small products equal to solo ones, and imports
deferred until used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from initlab import init_population
from initlab.analysis.diagnostics import Recorder, distinct_units, record_iterations
from initlab.nn import engines
from initlab.nn.engines import DirectEngine, SampleEngine, diagnostic_columns
from initlab.nn.training import train

REPO = Path(__file__).resolve().parents[1]


def wide(n=1500, m=30, seed=0):
    """More features than the column sample (1024), so S is a proper subset."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)) / np.sqrt(n)
    Y = (rng.standard_normal((1, n)) @ X > 0).astype(float)
    return X, Y


def test_diagnostic_columns_are_a_fixed_sorted_sample():
    np.testing.assert_array_equal(diagnostic_columns(64), np.arange(64))
    S = diagnostic_columns(67500)
    assert S.shape == (engines.DIAGNOSTIC_COLUMNS,)
    assert (np.diff(S) > 0).all() and 0 <= S[0] and S[-1] < 67500
    assert diagnostic_columns(67500) is S  # one array per width: engines cache X[S]
    assert not S.flags.writeable


def moved_engines(X, Y, K=3, steps=4):
    """Both engines after `steps` plain GD steps from one population, plus a != 1."""
    pop = init_population([X.shape[0], 4, 1], [("he", k) for k in range(K)], activation="tanh")
    rng = np.random.default_rng(5)
    out = []
    for cls in (DirectEngine, SampleEngine):
        eng = cls(pop.weights[0], X)
        for _ in range(steps):
            dZ1 = rng.standard_normal((K, 4, X.shape[1]))
            eng.descend(dZ1, np.full(K, 0.1))
        out.append(eng)
    return out


def test_weight_columns_and_norms_equal_the_materialized_weights():
    X, Y = wide()
    S = diagnostic_columns(X.shape[0])
    direct, sample = moved_engines(X, Y)
    np.testing.assert_array_equal(direct.weight_columns(S), direct.weight()[:, :, S])
    W = sample.weight()
    np.testing.assert_allclose(sample.weight_columns(S), W[:, :, S], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sample.weight_norm(), np.linalg.norm(W, axis=(1, 2)), rtol=1e-12)
    sample.a[:] = np.linspace(0.5, 0.9, sample.a.size).reshape(sample.a.shape)  # decay's a
    W = sample.weight()
    np.testing.assert_allclose(sample.weight_norm(), np.linalg.norm(W, axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(sample.weight_columns(S), W[:, :, S], rtol=1e-12, atol=1e-15)


def record(pop, X, Y, engine, T=20):
    rec = Recorder(2, pop.K, activation="tanh")
    _, hist = train(
        pop, X, Y, learning_rate=0.5, iterations=T, engine=engine,
        record_at=record_iterations(T), hooks=[rec], return_network=False,
    )  # fmt: skip
    return rec.result(), hist


def test_sample_engine_diagnostics_never_materialize_w1(monkeypatch):
    X, Y = wide()
    members = [("he", 1), ("zeros", 0), ({"name": "random", "scale": 1.0}, 2)]
    pop = init_population([X.shape[0], 4, 1], members, activation="tanh")
    ref, _ = record(pop, X, Y, "direct")

    def refuse(*_args, **_kw):
        raise AssertionError("W_1 materialized")

    for method in ("weight", "member_weight", "weight_gradient"):
        monkeypatch.setattr(SampleEngine, method, refuse)
    got, hist = record(pop, X, Y, "sample")
    assert hist.engine == "sample" and got.unit_columns == engines.DIAGNOSTIC_COLUMNS
    for q in ("weight_norm", "grad_norm", "update_ratio", "distinct_units"):
        np.testing.assert_allclose(getattr(got, q), getattr(ref, q), rtol=1e-9, atol=1e-12)
    # the symmetry count on the column sample is the count on all of W_1 here
    full = distinct_units(pop.weights[0], pop.biases[0])
    np.testing.assert_array_equal(got.distinct_units[0, 0], full)
    assert full.tolist() == [4, 1, 4]
    assert got.member(1)["unit_columns"] == engines.DIAGNOSTIC_COLUMNS


@pytest.mark.parametrize(
    "shape", [((5, 100), (100, 100)), ((5, 5), (5, 100)), ((5, 100), (100, 5))]
)
def test_batched_small_products_equal_solo_ones(shape):
    """np.matmul over a stacked population gives each member the bits of its own call
    (the training loop's layer products and the sample engine's C G), at K = 1 and 100."""
    (a, b), (b2, c) = shape
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((100, a, b)), rng.standard_normal((100, b2, c))
    stacked = np.matmul(A, B)
    shared = np.matmul(A, B[0])
    for k in (0, 1, 57, 99):
        np.testing.assert_array_equal(stacked[k], np.matmul(A[k : k + 1], B[k : k + 1])[0])
        np.testing.assert_array_equal(shared[k], np.matmul(A[k : k + 1], B[0])[0])


def test_heavy_imports_are_deferred():
    """Loading the CLI, training's modules and the comparison table, and computing an
    interval over seeds, load neither scipy.stats nor matplotlib (about 1 s together)."""
    code = (
        "import sys, initlab.cli, initlab.execution.runner, initlab.analysis.diagnostics, "
        "initlab.report.html, initlab.analysis.stats as s; s.summarize([1.0, 2.0, 4.0]); "
        "print(sorted(m for m in ('scipy.stats', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
    ).stdout  # fmt: skip
    assert out.strip() == "[]"


def test_interval_uses_students_t_quantile():
    """The deferred-import quantile (scipy.special.stdtrit) is scipy.stats.t.ppf, bit for bit."""
    from scipy import stats

    from initlab.analysis.stats import mean_interval

    rng = np.random.default_rng(2)
    for n in (2, 3, 5, 10, 40):
        x = rng.standard_normal((n, 3))
        mean, low, high = mean_interval(x)
        half = stats.t.ppf(0.975, n - 1) * x.std(axis=0, ddof=1) / np.sqrt(n)
        np.testing.assert_allclose(high - mean, half, rtol=1e-12)
        np.testing.assert_allclose(mean - low, half, rtol=1e-12)


def test_sample_engine_member_weight_is_its_row_of_weight():
    X, Y = wide(n=5000)  # 3 blocks of X's rows in weight()
    _, sample = moved_engines(X, Y)
    W = sample.weight()
    np.testing.assert_allclose(W, np.matmul(sample.C, X.T) + sample.W0, rtol=1e-12, atol=1e-14)
    for k in range(W.shape[0]):
        np.testing.assert_array_equal(sample.member_weight(k), W[k])


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_a_kept_step_gives_w1_and_dw1_of_its_step(engine):
    """W_1 and dW_1 are formed only when a hook reads them, and are those of the step
    even when read after training has moved on."""
    X, Y = wide(n=300)
    pop = init_population([300, 4, 1], [("he", 1), ("xavier", 2)], activation="tanh")
    seen = []
    train(pop, X, Y, learning_rate=0.5, iterations=6, engine=engine, record_at=[0, 3],
          hooks=[seen.append])  # fmt: skip
    at3, _ = train(pop, X, Y, learning_rate=0.5, iterations=3, engine=engine)
    np.testing.assert_array_equal(seen[1].weights[0], at3.weights[0])
    np.testing.assert_array_equal(seen[0].weights[0], pop.weights[0])
    dWs, _ = at3.gradients(X, Y)
    np.testing.assert_allclose(seen[1].dWs[0], dWs[0], rtol=1e-10, atol=1e-15)
    assert [W.shape for W in seen[1].weights] == [W.shape for W in pop.weights]


def test_first_on_demand_forms_the_first_item_only_when_it_is_read():
    from initlab.nn.training import FirstOnDemand

    formed = []
    layers = FirstOnDemand(lambda: formed.append(1) or "W1", ["W2", "W3"])
    assert layers[1:] == ["W2", "W3"] and layers[2] == layers[-1] == "W3" and not formed
    assert len(layers) == 3 and not formed
    assert layers[:2] == ["W1", "W2"] and list(layers) == ["W1", "W2", "W3"]
    assert formed == [1]  # once
    assert FirstOnDemand(lambda: "W1", ["W2"])[-2] == "W1"
    assert list(FirstOnDemand(lambda: "W1", ["W2"])) == ["W1", "W2"]


def _train_both(pop, X, Y, **kw):
    """The same call on the fused plain step and, with a hook at every step, the general one."""
    T = kw.pop("iterations")
    fast = train(pop, X, Y, iterations=T, **kw)
    plain = train(pop, X, Y, iterations=T, record_at=range(T), hooks=[lambda st: None], **kw)
    return fast, plain


@pytest.mark.parametrize(
    ("engine", "activation", "head", "n_out"),
    [("sample", "tanh", "sigmoid", 1), ("direct", "relu", "softmax", 3),
     ("sample", "sigmoid", "linear", 2), ("direct", "tanh", "sigmoid", 1),
     ("direct", "linear", "sigmoid", 1)],
)  # fmt: skip
def test_fused_plain_step_is_bit_identical_to_the_general_step(engine, activation, head, n_out):
    """Full-batch plain GD takes nn.fused.PlainStep unless a step records; a hook at every
    step forces the general step. Every cost, parameter, divergence step and floating-point
    event count must be equal, with a member that diverges
    at step 1 or 2 (rate 50, factor 3) and the others
    trained on after it is frozen."""
    X, _ = wide(n=60, m=40)
    rng = np.random.default_rng(1)
    Y = rng.integers(0, 2, (1, 40)).astype(float)
    if head == "softmax":
        Y = np.eye(n_out)[rng.integers(0, n_out, 40)].T
    elif head == "linear":
        Y = rng.standard_normal((n_out, 40))
    members = [("he", 1), ("xavier", 2), ("he", 3)]
    pop = init_population([60, 7, 4, n_out], members, activation=activation, head=head)
    (a, ha), (b, hb) = _train_both(
        pop, X, Y, learning_rate=[0.05, 0.5, 50.0], iterations=60, engine=engine,
        X_test=X[:, :10], Y_test=Y[:, :10], eval_every=7, divergence_factor=3,
    )  # fmt: skip
    assert ha.diverged_at[2] > 0 and (ha.diverged_at[:2] == -1).all()  # the case is exercised
    np.testing.assert_array_equal(ha.costs, hb.costs)
    np.testing.assert_array_equal(ha.diverged_at, hb.diverged_at)
    np.testing.assert_array_equal(ha.final_cost, hb.final_cost)
    np.testing.assert_array_equal(ha.test_costs, hb.test_costs)
    assert ha.warnings == hb.warnings
    for P, Q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        np.testing.assert_array_equal(P, Q)


def _same(a, b, where="record"):
    """Exact equality of nested records (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple) and not (a and isinstance(a[0], int | float | type(None))):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray | list | tuple | float):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)
    else:
        assert a == b, where


def test_a_population_gathered_member_by_member_gives_the_stacked_records(monkeypatch):
    """`initlab run` on the sample engine reads each member's W1(0) once as it is drawn
    (nn.start.SampleStart) instead of stacking it. Every number of every record (costs,
    test costs, diagnostics on the column sample and norms, divergence) must equal the
    stacked path's, with more features than the column sample and a member that diverges."""
    from initlab.data import Dataset
    from initlab.execution import runner
    from initlab.specs.spec import parse

    X, Y = wide(n=1500, m=30)
    Xt, Yt = wide(n=1500, m=12, seed=5)
    data = runner.ExperimentData(
        Dataset(X, Y, "w", tuple(map(str, range(30)))),
        Dataset(Xt, Yt[:, :12], "t", tuple(map(str, range(12)))),
    )
    s = parse({"data": {"train": "digits"}, "model": {"hidden": [6, 4], "activation": "relu",
                                                      "output": "linear"},
               "training": {"iterations": 40, "seed": 1, "seeds": 2, "engine": "sample",
                            "diagnostics": True},
               "runs": [{"name": "he", "init": "he"},
                        {"name": "big", "init": "he", "learning_rate": 40.0}]})  # fmt: skip
    gathered = runner.train_group(list(s.runs), data, s.model, s.training)
    monkeypatch.setattr(runner, "_start_data", lambda *a: None)
    stacked = runner.train_group(list(s.runs), data, s.model, s.training)
    assert [r["diverged"] for r in gathered] == [False, False, True, True]
    _same(gathered, stacked)
