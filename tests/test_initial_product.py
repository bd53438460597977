"""The sample engine's Z1(0) = W1(0) X, formed by blocks of X's rows (nn.start.initial_product):
the documented arithmetic, within the rounding bound of a sum of n_0 products, the same bits
for a member alone or in any group, and the same through SampleStart's groups as through the
engine's stacked W1(0)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab.nn import start as _start
from initlab.nn.engines import SampleEngine, diagnostic_columns
from initlab.nn.start import SampleStart, block_rows, initial_product


def data(n0=3000, m=300, K=5, seed=0):
    """n0 spans several blocks (block_rows is 256 for m = 300 in float64), the last partial."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n0, m))
    Ws = [rng.standard_normal((4, n0)) for _ in range(K)]
    return X, Ws


def test_block_rows_depends_on_the_shape_and_dtype_of_x_only():
    assert block_rows(np.empty((10, 300))) == 256  # 2**19 // 2400 = 218, floored at 256
    assert block_rows(np.empty((10, 100))) == 655  # the post's X (67500, 100)
    assert block_rows(np.empty((10, 100), dtype=np.float32)) == 1310
    assert block_rows(np.empty((5, 100))) == block_rows(np.empty((70000, 100)))


def test_the_product_is_the_documented_sum_of_block_products():
    """Pins the arithmetic: one np.dot per block, summed in block order."""
    X, Ws = data()
    R = block_rows(X)
    assert X.shape[0] > 11 * R  # 12 blocks, the last one partial
    Z = initial_product(Ws, X)
    for k, W in enumerate(Ws):
        expect = np.dot(W[:, :R], X[:R])
        for j in range(R, X.shape[0], R):
            expect = expect + np.dot(W[:, j : j + R], X[j : j + R])
        np.testing.assert_array_equal(Z[k], expect)


def test_the_product_is_within_the_rounding_bound_of_an_exact_sum():
    """|Z - W X| <= n0 u sum_i |w_i x_i| (u = 2**-53), against math.fsum's correctly rounded
    sums, on a sample of entries: the standard bound for any order of summation."""
    X, Ws = data(n0=2000, m=40, K=2)
    Z = initial_product(Ws, X)
    u, n0 = 2.0**-53, X.shape[0]
    for k, i, c in [(0, 0, 0), (0, 3, 17), (1, 2, 39), (1, 1, 5)]:
        terms = Ws[k][i] * X[:, c]
        exact = math.fsum(terms.tolist())
        assert abs(Z[k, i, c] - exact) <= n0 * u * np.abs(terms).sum()
    np.testing.assert_allclose(Z[0], Ws[0] @ X, rtol=0, atol=1e-10 * np.abs(Z).max())


def test_a_member_gets_the_same_bits_alone_and_in_any_group():
    X, Ws = data()
    Ws[2] = np.zeros_like(Ws[2])  # a zero member is skipped, its Z exactly 0
    together = initial_product(Ws, X)
    for k in range(len(Ws)):
        np.testing.assert_array_equal(initial_product([Ws[k]], X)[0], together[k])
    np.testing.assert_array_equal(initial_product(Ws[::-1], X)[::-1], together)
    assert not together[2].any()
    stacked = initial_product(np.stack(Ws), X)  # the engine's stacked (K, n1, n0) W1(0)
    np.testing.assert_array_equal(stacked, together)


@pytest.mark.parametrize("group_bytes", [1, 2 * 4 * 3000 * 8, 2**25])
def test_sample_start_in_groups_equals_the_engine_on_the_stacked_weights(monkeypatch, group_bytes):
    """SampleStart reads the members a group at a time (GROUP_BYTES); whatever the group
    size, Z1(0), Z1(0) on a test set, the row norms and the column sample equal the
    engine's own from the stacked W1(0), bit for bit."""
    monkeypatch.setattr(_start, "GROUP_BYTES", group_bytes)
    X, Ws = data(K=5)
    Xt = np.random.default_rng(3).standard_normal((3000, 70))
    S = diagnostic_columns(X.shape[0])
    st = SampleStart(iter(Ws), X, S, Xt)
    eng = SampleEngine(np.stack(Ws), X)
    np.testing.assert_array_equal(st.Z0, eng.Z0)
    np.testing.assert_array_equal(st.Z0_test, eng.preactivation_on(Xt, 0.0))
    np.testing.assert_array_equal(st.W0S, np.stack(Ws)[:, :, S])
    np.testing.assert_array_equal(st.w0sq[:, :, 0], np.einsum("kij,kij->ki", eng.W0, eng.W0))


def test_the_engine_knows_its_column_sample_by_value():
    """A start keeps W1(0) only on the column sample S; asking for the rows on an equal
    array that is not S itself (a cache refilled, another chunk's draw) must not need the
    W1(0) that was dropped."""
    X, Ws = data(K=2)
    S = diagnostic_columns(X.shape[0])
    st = SampleStart(iter(Ws), X, S)
    eng = SampleEngine(st.placeholder(), X, st)
    eng.C[...] = np.random.default_rng(1).standard_normal(eng.C.shape)
    np.testing.assert_array_equal(eng.weight_columns(S.copy()), eng.weight_columns(S))
    np.testing.assert_allclose(
        eng.weight_columns(S), np.stack(Ws)[:, :, S] + eng.C @ X[S].T, rtol=1e-12
    )
