"""Diagnostics recorded during training, against independent recomputations: the network's
own forward pass and gradients on the same parameters, numpy's histogram, brute-force
symmetry counts, and a second engine. Every warning is an error here."""

from __future__ import annotations

import io
import json

import matplotlib
import numpy as np
import pytest
from scipy.special import expit

from initlab import init_population
from initlab._validation import InitlabError
from initlab.analysis.diagnostics import (
    QUANTITIES,
    Diagnostics,
    Recorder,
    record_iterations,
)
from initlab.analysis.symmetry import _direction, distinct_units
from initlab.nn.training import train

matplotlib.use("Agg")
from matplotlib.figure import Figure

from initlab.analysis.histograms import member_histograms
from initlab.report.diagnostics import plot_diagnostics, plot_histograms

pytestmark = pytest.mark.filterwarnings("error")

SIZES = [20, 8, 6, 1]
L = len(SIZES) - 1


@pytest.fixture(scope="module")
def problem():
    """X (20, 64) Gaussian, labels from a linear rule."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((20, 64))
    Y = (X[0:1] - 0.5 * X[3:4] + 0.2 * X[7:8] > 0).astype(float)
    return X, Y


def record(net, X, Y, *, iterations=12, lr=0.1, engine="direct", at=None):
    rec = Recorder(L, net.K, activation=net.activation)
    at = record_iterations(iterations) if at is None else at
    _, history = train(
        net, X, Y, learning_rate=lr, iterations=iterations, engine=engine, record_at=at, hooks=[rec]
    )
    return rec.result(), history


def fro(A):
    return np.sqrt((A * A).sum(axis=(-2, -1)))


# --- schedule -------------------------------------------------------------------------


def test_record_iterations():
    assert record_iterations(1000) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 999]
    assert record_iterations(1) == [0]
    assert record_iterations(2) == [0, 1]
    assert record_iterations(10**4, per_decade=1) == [0, 1, 10, 100, 1000, 9999]
    with pytest.raises(InitlabError, match="T must be >= 1"):
        record_iterations(0)


# --- symmetry -------------------------------------------------------------------------


def brute_force_units(R, tol):
    """Connected components of ||r_i - r_j|| <= tol max ||r||, by all pairs."""
    n = len(R)
    thr = tol * np.linalg.norm(R, axis=1).max()
    label = list(range(n))
    for i in range(n):
        for j in range(n):
            if np.linalg.norm(R[i] - R[j]) <= thr:
                old, new = label[j], label[i]
                label = [new if x == old else x for x in label]
    return len(set(label))


@pytest.mark.parametrize("seed", range(5))
def test_distinct_units_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((rng.integers(1, 6), 11))
    which = rng.integers(0, len(centers), 12)
    R = centers[which]
    R = R * (1 + 1e-13 * rng.standard_normal(R.shape))  # rounding-level asymmetry
    W, b = R[:, :-1], R[:, -1:]
    expected = brute_force_units(R, 1e-10)
    assert distinct_units(W, b, 1e-10) == expected == len(set(which))
    assert distinct_units(W, b, 0.0) == 12  # exact equality only
    np.testing.assert_array_equal(distinct_units(np.stack([W, W]), np.stack([b, b])), expected)


def test_distinct_units_definition():
    W = np.ones((4, 3))
    b = np.zeros((4, 1))
    assert distinct_units(W, b) == 1
    assert distinct_units(np.zeros((4, 3)), b) == 1
    b[2] = 1e-6  # only the bias differs: another unit
    assert distinct_units(W, b) == 2
    b[2] = 1e-12  # within 1e-10 of the largest row norm (sqrt 3)
    assert distinct_units(W, b) == 1
    W[0, 0] = np.inf
    assert np.isnan(distinct_units(W, b))
    big = np.array([[1e300, 1e300], [1e300, 1e300], [-1e300, 1e300]])
    assert distinct_units(big, np.zeros((3, 1))) == 2  # no overflow in the norms
    assert distinct_units(big * 1e-300 * 1e-300, np.zeros((3, 1))) == 2  # nor underflow
    with pytest.raises(InitlabError, match="expected W"):
        distinct_units(np.ones((4, 3)), np.ones((3, 1)))


def test_distinct_units_of_a_population_is_each_members_own_count():
    """The population form screens members whose rows are surely apart all at once; every
    count must equal the one-member count, for members of every kind: distinct rows,
    duplicated units, rows just beyond and just within the threshold, zeros, one non-finite
    entry, huge and tiny scales, and rows equal in projection but not in value."""
    rng = np.random.default_rng(4)
    n, d, tol = 6, 9, 1e-10
    base = rng.standard_normal((n, d + 1))
    near = base.copy()
    near[3] = near[2] + 1.5 * tol * np.linalg.norm(base, axis=1).max() / np.sqrt(d + 1)
    within = base.copy()
    within[4] = within[1] * (1 + 1e-13)
    u = _direction(d + 1)
    v = rng.standard_normal(d + 1)
    v = 1e-3 * (v - (v @ u) * u)  # the same projection, another row
    same_p = base.copy()
    same_p[5] = same_p[0] + v
    bad = base.copy()
    bad[1, 2] = np.nan
    members = [base, near, within, same_p, np.zeros((n, d + 1)), bad, base * 1e200,
               base * 1e-200, base[[0, 0, 1, 1, 2, 2]], rng.standard_normal((n, d + 1))]  # fmt: skip
    R = np.stack(members)
    counts = distinct_units(R[:, :, :-1], R[:, :, -1:], tol)
    expected = [distinct_units(M[:, :-1], M[:, -1:], tol) for M in members]
    np.testing.assert_array_equal(counts, expected)
    assert counts[0] == n and counts[4] == 1 and np.isnan(counts[5]) and counts[8] == 3
    assert counts[2] == n - 1 and counts[3] == n
    one = distinct_units(R[:, 1:2, :-1], R[:, 1:2, -1:], tol)  # layers of one unit
    expected = [distinct_units(M[1:2, :-1], M[1:2, -1:], tol) for M in members]
    np.testing.assert_array_equal(one, expected)
    assert np.isnan(one[5]) and (np.delete(one, 5) == 1).all()


def test_distinct_units_in_float32_at_extreme_scales():
    """float32 squares overflow above ~1.8e19: rows at 1e25 (and 1e-25) are rescaled as in
    float64, and count the same."""
    R = np.random.default_rng(2).standard_normal((6, 5))
    for scale in (1e25, 1e-25, 1e10):
        W64, b64 = R[:, :-1] * scale, R[:, -1:] * scale
        W32, b32 = W64.astype(np.float32), b64.astype(np.float32)
        assert distinct_units(W32, b32, 1e-4) == distinct_units(W64, b64, 1e-4) == 6
        np.testing.assert_array_equal(distinct_units(W32[None], b32[None], 1e-4), [6.0])


def test_distinct_units_compares_rows_not_only_their_projections():
    """Rows whose projections on the sorting direction coincide are still told apart, and
    the bias counts: a tolerance between the weight part and the whole of the difference."""
    d = 7
    u = _direction(d + 1)
    r = np.random.default_rng(9).standard_normal(d + 1)
    for v in (np.r_[np.ones(d), 0.0], np.r_[np.zeros(d), 1.0]):
        v = 1e-6 * (v - (v @ u) * u)  # orthogonal to u: the same projection
        R = np.stack([r, r + v, r])
        s = np.linalg.norm(R, axis=1).max()
        tol = np.sqrt(np.linalg.norm(v[:-1]) * np.linalg.norm(v)) / s
        assert np.linalg.norm(v[:-1]) < tol * s < np.linalg.norm(v)
        assert distinct_units(R[:, :-1], R[:, -1:], tol) == 2
        assert distinct_units(R[:, :-1], R[:, -1:], 2 * np.linalg.norm(v) / s) == 1


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_zeros_and_constant_are_one_unit_he_and_xavier_all(problem, activation):
    net = init_population(
        SIZES, [("zeros", 0), ("he", 1), ("xavier", 2), ("ones", 3)], activation=activation
    )
    d, _ = record(net, *problem, iterations=30, lr=0.05)
    units = d.distinct_units
    assert (units[:, :, 0] == 1).all() and (units[:, :, 3] == 1).all()
    for k in (1, 2):
        np.testing.assert_array_equal(units[:, :, k], np.broadcast_to(SIZES[1:], (len(units), L)))
    # the constant init's rows do move (so "1" is not just "never updated")
    assert (d.grad_norm[:, :, 3] > 0).all() and np.ptp(d.weight_norm[:, 0, 3]) > 0
    # equal weights with different biases are different units
    net.biases[0][3, :, 0] = np.linspace(-1, 1, SIZES[1])
    d, _ = record(net, *problem, iterations=1)
    assert d.distinct_units[0, 0, 3] == SIZES[1]


# --- statistics against an independent recomputation -----------------------------------


def tanh_backprop(net, X, Y):
    """dZ_1..dZ_L of the cross-entropy (not divided by m), written out for tanh."""
    Zs, As = net.forward(X)
    dZs = [expit(Zs[-1]) - Y]
    for l in range(L - 1, 0, -1):
        dZs.insert(0, np.matmul(net.weights[l].swapaxes(1, 2), dZs[0]) * (1 - As[l - 1] ** 2))
    return dZs


def check_iteration(d, r, net, X, Y, lr):
    """Row r of `d` against `net` (the parameters at that iteration) recomputed here."""
    Zs, As = net.forward(X)
    A_out = [*As, expit(Zs[-1])]
    dWs, _ = net.gradients(X, Y)
    for l in range(L):
        Z, A = Zs[l], A_out[l]
        sat = np.abs(A) > 0.99 if l < L - 1 else np.abs(A - 0.5) > 0.495
        for k in range(net.K):
            close = lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-12)  # noqa: E731
            close(d.z_mean[r, l, k], np.mean(Z[k]))
            close(d.z_std[r, l, k], np.std(Z[k]))
            close(d.a_mean[r, l, k], np.mean(A[k]))
            close(d.a_std[r, l, k], np.std(A[k]))
            assert d.saturated[r, l, k] == np.mean(sat[k])
            g, w = np.linalg.norm(dWs[l][k]), np.linalg.norm(net.weights[l][k])
            close(d.grad_norm[r, l, k], g)
            close(d.weight_norm[r, l, k], w)
            close(d.update_ratio[r, l, k], lr[k] * g / w)


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_statistics_equal_forward_pass_and_gradients(problem, engine):
    """At iteration 0 for both engines; at a later iteration for the direct engine (the
    sample engine is held to it by test_engines_agree: rounding may move a value across a
    bin edge or the saturation threshold)."""
    X, Y = problem
    net = init_population(
        SIZES, [("he", 1), ({"name": "random", "scale": 1.0}, 2)], activation="tanh"
    )
    lr = np.array([0.1, 0.03])
    d, history = record(net, X, Y, iterations=6, lr=lr, engine=engine, at=[0, 5])
    assert history.engine == engine
    np.testing.assert_array_equal(d.histogram_iterations, [0, 5])
    moved, _ = train(net, X, Y, learning_rate=lr, iterations=5, engine="direct")
    for j, at_net in enumerate((net, moved) if engine == "direct" else (net,)):
        check_iteration(d, j, at_net, X, Y, lr)
        # histograms at the first and last recorded iteration: numpy's, on the same data
        Zs, As = at_net.forward(X)
        data = {"A": [*As, expit(Zs[-1])], "dZ": tanh_backprop(at_net, X, Y)}
        for kind, arrays in data.items():
            for l, V in enumerate(arrays):
                for k in range(net.K):
                    counts, edges = np.histogram(V[k], bins=30)
                    np.testing.assert_array_equal(d.histogram_counts[kind][j, l, k], counts)
                    np.testing.assert_allclose(d.histogram_edges[kind][j, l, k], edges, rtol=1e-9)


def test_engines_agree(problem):
    X, Y = problem
    net = init_population(SIZES, [("he", 1), ("zeros", 0)], activation="tanh")
    a, _ = record(net, X, Y, engine="direct")
    b, _ = record(net, X, Y, engine="sample")
    for q in QUANTITIES:
        np.testing.assert_allclose(getattr(a, q), getattr(b, q), rtol=1e-9, atol=1e-12)


def test_histograms_are_numpys():
    rng = np.random.default_rng(3)
    V = rng.standard_normal((5, 62))
    V[1] = 2.5  # constant: numpy widens the range by 0.5 each side
    V[2, :3] = [np.nan, np.inf, -np.inf]  # not counted
    V[3] = np.nan  # nothing finite: no histogram
    e = np.linspace(0.1, 0.3, 31)  # on the edges and just below: rounding decides
    V[4] = np.r_[e, np.nextafter(e[1:], -np.inf), e[15]]
    counts, edges = member_histograms(V, 30)
    for k in (0, 1, 2, 4):
        x = V[k][np.isfinite(V[k])]
        c, e = np.histogram(x, bins=30)
        np.testing.assert_array_equal(counts[k], c)
        np.testing.assert_array_equal(edges[k], e)
    assert counts[3].sum() == 0 and np.isnan(edges[3]).all()


# --- saturation -----------------------------------------------------------------------


def test_large_random_init_saturates_tanh(problem):
    net = init_population(SIZES, [({"name": "random", "scale": 10.0}, 4)], activation="tanh")
    d, _ = record(net, *problem, iterations=3)
    assert (d.saturated[0, :-1, 0] > 0.9).all()
    # the output layer follows sigmoid's rule, on both sides
    ZL = net.forward(problem[0])[0][-1][0]
    out = np.abs(expit(ZL) - 0.5) > 0.495
    assert d.saturated[0, -1, 0] == out.mean()
    assert (out & (ZL < 0)).any() and (out & (ZL > 0)).any()


def test_relu_saturation_is_dead_fraction(problem):
    X, Y = problem
    net = init_population(SIZES, [("he", 5), ("xavier", 6)], activation="relu")
    d, _ = record(net, X, Y, iterations=3)
    Zs, _ = net.forward(X)
    for l in range(L - 1):
        for k in range(net.K):
            assert d.saturated[0, l, k] == (Zs[l][k] <= 0).mean()
            assert 0 < d.saturated[0, l, k] < 1


# --- divergence -----------------------------------------------------------------------


def test_diverged_members_are_flagged_and_leave_the_others_alone(problem):
    X, Y = problem
    members = [("he", 1), ("he", 1), ("he", 2), ("he", 3)]
    net = init_population(SIZES, members, activation="relu")
    net.weights[0][2] *= 1e300  # huge but finite at iteration 0: alive, then diverges
    net.weights[0][3] *= 1e300
    net.weights[1][3] *= 1e300  # overflows at iteration 0
    T = 8
    d, history = record(net, X, Y, iterations=T, lr=[0.1, 1e100, 0.1, 0.1], at=range(T))
    np.testing.assert_array_equal(history.diverged_at[[0, 2, 3]], [-1, 1, 0])
    assert 0 < history.diverged_at[1] < T - 1
    for k in (1, 2, 3):
        gone = d.iterations >= history.diverged_at[k]
        np.testing.assert_array_equal(d.diverged[:, k], gone)
        for q in (*QUANTITIES, "cost"):
            values = getattr(d, q)[gone, ..., k]
            assert np.isnan(values).all(), q
        assert np.isfinite(d.cost[~gone, k]).all()
    # member 0 exactly as when trained alone
    alone, _ = record(init_population(SIZES, members[:1], activation="relu"), X, Y,
                      iterations=T, lr=0.1, at=range(T))  # fmt: skip
    assert alone.member(0) == d.member(0)
    # a diverged member's data is still plain JSON, without histograms where it was gone
    m3 = json.loads(json.dumps(d.member(3), allow_nan=False))
    assert all(h is None for w in ("first", "last") for h in m3["histograms"][w]["A"])
    json.dumps(d.member(2), allow_nan=False)
    m1 = d.member(1)
    assert all(h is None for h in m1["histograms"]["last"]["dZ"])
    assert all(h is not None for h in m1["histograms"]["first"]["dZ"])
    assert len(plot_histograms(m1).axes) == 4 * L
    plot_diagnostics(m3).savefig(io.BytesIO(), format="png", dpi=30)  # all NaN: no warning


def test_recording_some_members_measures_them_exactly_and_skips_the_rest(problem):
    """members=[...] (the runner's runs without their shadow twins): the chosen members'
    diagnostics are those of the full recorder, bit for bit; the others have cost and the
    divergence flag only."""
    X, Y = problem
    net = init_population(SIZES, [("he", 1), ("xavier", 2), ("he", 3), ("random", 4)],
                          activation="tanh")  # fmt: skip
    full, _ = record(net, X, Y)
    rec = Recorder(L, net.K, activation=net.activation, members=[0, 2])
    train(net, X, Y, learning_rate=0.1, iterations=12, engine="direct",
          record_at=record_iterations(12), hooks=[rec])  # fmt: skip
    some = rec.result()
    for k in (0, 2):
        assert some.member(k) == full.member(k)
    for k in (1, 3):
        np.testing.assert_array_equal(some.cost[:, k], full.cost[:, k])
        assert all(np.isnan(getattr(some, q)[..., k]).all() for q in QUANTITIES)
        assert all(h is None for h in some.member(k)["histograms"]["last"]["A"])
    with pytest.raises(InitlabError, match="members"):
        Recorder(L, 4, activation="tanh", members=[4])


# --- stored form ----------------------------------------------------------------------


def test_member_json_round_trip(problem):
    net = init_population(SIZES, [("zeros", 0), ("he", 1)], activation="tanh")
    d, _ = record(net, *problem)
    members = [json.loads(json.dumps(d.member(k), allow_nan=False)) for k in range(2)]
    assert set(members[0]) == {
        "schema", "activation", "units", "tol", "unit_columns", "iterations", "diverged",
        "cost", "histograms", *QUANTITIES,
    }  # fmt: skip
    assert members[1]["units"] == SIZES[1:] and members[1]["iterations"] == record_iterations(12)
    assert np.shape(members[1]["z_std"]) == (L, len(d.iterations))
    assert members[0]["update_ratio"][0][0] is None  # ||W|| = 0: undefined
    assert set(members[0]["histograms"]) == {"bins", "first", "last"}
    back = Diagnostics.from_member_dicts(members)
    for q in (*QUANTITIES, "cost", "diverged", "iterations", "histogram_iterations"):
        np.testing.assert_array_equal(getattr(back, q), getattr(d, q), err_msg=q)
    for kind in ("A", "dZ"):
        np.testing.assert_array_equal(back.histogram_counts[kind], d.histogram_counts[kind])
        np.testing.assert_array_equal(back.histogram_edges[kind], d.histogram_edges[kind])
    assert (back.units, back.activation, back.tol) == (d.units, d.activation, d.tol)
    assert back.unit_columns == d.unit_columns == SIZES[0]  # all 20 input columns


def test_plots_return_figures(problem):
    net = init_population(SIZES, [("he", 1)], activation="tanh")
    d, _ = record(net, *problem)
    member = json.loads(json.dumps(d.member(0)))
    for fig in (plot_diagnostics(member, title="he"), plot_histograms(member)):
        assert isinstance(fig, Figure)
        fig.savefig(io.BytesIO(), format="png", dpi=30)
    assert len(plot_histograms(member).axes) == 4 * L
    with pytest.raises(InitlabError, match="valid quantities"):
        plot_diagnostics(member, ["z_var"])


# --- boundary -------------------------------------------------------------------------


def test_recorder_checks_its_arguments(problem):
    X, Y = problem
    net = init_population(SIZES, [("he", 1)], activation="tanh")
    with pytest.raises(InitlabError, match="no iteration was recorded"):
        Recorder(L, 1, activation="tanh").result()
    with pytest.raises(InitlabError, match="n_layers=3, K=2"):
        train(net, X, Y, learning_rate=0.1, iterations=1, record_at=[0],
              hooks=[Recorder(L, 2, activation="tanh")])  # fmt: skip
    with pytest.raises(InitlabError, match="activation 'relu'"):
        train(net, X, Y, learning_rate=0.1, iterations=1, record_at=[0],
              hooks=[Recorder(L, 1, activation="relu")])  # fmt: skip
    with pytest.raises(InitlabError, match="histogram_bins"):
        Recorder(L, 1, 0, activation="tanh")
