"""The network's math: gradients against central differences, the stable cost, layout."""

import numpy as np
import pytest

from initlab import InitlabError, gradient_check, init_network, init_population
from initlab.nn.losses import bce_with_logits

ACTIVATIONS = [
    ("tanh", {}),
    ("sigmoid", {}),
    ("relu", {}),
    ("leaky_relu", {"slope": 0.1}),
    ("linear", {}),
]


@pytest.mark.parametrize("name,params", ACTIVATIONS)
def test_gradient_check_passes_for_every_activation(blobs, name, params):
    from initlab.nn import activations as activations

    X, Y = blobs
    act = activations.get(name, **params)
    net = init_network([6, 5, 4, 1], "xavier", activation=act, seed=3)
    # move biases off zero so every term of the gradient is exercised
    rng = np.random.default_rng(0)
    for b in net.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    assert gradient_check(net, X, Y) < 1e-7


def test_gradient_check_fails_on_a_wrong_gradient(blobs):
    X, Y = blobs
    net = init_network([6, 5, 4, 1], "xavier", activation="tanh", seed=3)
    dWs, dbs = net.gradients(X, Y)
    wrong = [dW.copy() for dW in dWs]
    wrong[1] *= 1.01  # a 1% error in one layer
    assert gradient_check(net, X, Y, grads=(wrong, dbs)) > 1e-4
    # and a transposed-activation mistake: dZ1 from the wrong derivative
    wrong_b = [db.copy() for db in dbs]
    wrong_b[0] = -wrong_b[0]
    assert gradient_check(net, X, Y, grads=(dWs, wrong_b)) > 1e-4


def test_population_gradients_are_per_member(blobs):
    X, Y = blobs
    pop = init_population(
        [6, 5, 1], [("he", 1), ("xavier", 2), ({"name": "random", "scale": 0.5}, 3)]
    )
    dWs, dbs = pop.gradients(X, Y)
    for k in range(3):
        alone_W, alone_b = pop.member(k).gradients(X, Y)
        for a, b in zip(alone_W, dWs, strict=True):
            np.testing.assert_array_equal(a[0], b[k])
        for a, b in zip(alone_b, dbs, strict=True):
            np.testing.assert_array_equal(a[0], b[k])


def test_bce_from_logits_is_finite_where_the_sigmoid_rounds_to_0_or_1():
    Z = np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]])
    Y = np.array([[1.0, 1.0, 1.0, 0.0, 0.0]])
    # exact values: softplus(-z) for y=1, softplus(z) for y=0
    expected = np.mean(
        [800.0, 40.0 + np.log1p(np.exp(-40.0)), np.log(2.0), 40.0 + np.log1p(np.exp(-40.0)), 800.0]
    )
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = bce_with_logits(Z, Y)
    assert np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-15)


def test_bce_of_confident_correct_predictions_is_tiny_not_zero():
    # softplus(-40) = log1p(exp(-40)) = 4.248e-18: the naive log(1 - a) or log(1 + e) gives 0
    Z = np.array([[40.0, -40.0]])
    Y = np.array([[1.0, 0.0]])
    assert bce_with_logits(Z, Y) == pytest.approx(np.exp(-40.0), rel=1e-15, abs=0)


def test_bce_matches_the_naive_formula_where_it_is_accurate():
    rng = np.random.default_rng(0)
    Z = rng.uniform(-5, 5, size=(1, 200))
    Y = (rng.random((1, 200)) < 0.5).astype(float)
    A = 1 / (1 + np.exp(-Z))
    naive = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    assert bce_with_logits(Z, Y) == pytest.approx(naive, rel=1e-13)


def test_layout_and_legacy_stream_match_published_code():
    net = init_network([4, 3, 2, 1], {"name": "random", "scale": 10}, seed=1, stream="legacy")
    rs = np.random.RandomState(1)
    for l, (n_prev, n) in enumerate([(4, 3), (3, 2), (2, 1)]):
        np.testing.assert_array_equal(net.weights[l][0], rs.randn(n, n_prev) * 10)
        np.testing.assert_array_equal(net.biases[l][0], np.zeros((n, 1)))
    # NumPy's global state is untouched
    state = np.random.get_state()[1].copy()  # noqa: NPY002 (checking the global state is untouched)
    init_network([4, 3, 1], "he", seed=5, stream="legacy")
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


def test_post_he_and_xavier_scales():
    he = init_network([50, 7, 1], "he", seed=2, stream="legacy")
    rs = np.random.RandomState(2)
    np.testing.assert_array_equal(he.weights[0][0], rs.randn(7, 50) * np.sqrt(2 / 50))
    np.testing.assert_array_equal(he.weights[1][0], rs.randn(1, 7) * np.sqrt(2 / 7))
    xa = init_network([50, 7, 1], "xavier", seed=2, stream="legacy")
    rs = np.random.RandomState(2)
    np.testing.assert_array_equal(xa.weights[0][0], rs.randn(7, 50) * np.sqrt(1 / 50))


def test_wrong_input_shape_is_explained():
    net = init_network([6, 3, 1], "he")
    with pytest.raises(InitlabError, match=r"expects \(n_features=6"):
        net.cost(np.zeros((40, 6)), np.zeros((1, 6)))


def test_any_output_width_builds_and_the_softmax_head_needs_two():
    net = init_network([1000] + [1000] * 4 + [1000], "he", activation="relu", head="linear")
    assert [W.shape for W in net.weights] == [(1, 1000, 1000)] * 5
    assert init_network([6, 3, 2], "he", head="softmax").logits(np.zeros((6, 4))).shape == (
        1,
        2,
        4,
    )
    with pytest.raises(InitlabError, match="softmax head needs at least 2 output units"):
        init_network([6, 3, 1], "he", head="softmax")


def test_an_activation_is_one_value_its_spec_round_trips():
    from initlab.nn import activations as activations

    leaky = activations.get({"name": "leaky_relu", "slope": 0.2})
    assert leaky.spec == {"name": "leaky_relu", "slope": 0.2}
    again = activations.get(leaky.spec)
    Z = np.array([-2.0, 3.0])
    np.testing.assert_array_equal(again(Z), [-0.4, 3.0])
    assert activations.get("tanh").spec == {"name": "tanh"}
