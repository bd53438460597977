"""Output heads: each loss against its plain formula and PyTorch, each dZ_L against central
differences of the loss, whole-network gradient checks per head (and one that fails)."""

import dataclasses

import numpy as np
import pytest

from initlab import InitlabError, gradient_check, init_network
from initlab.nn.losses import HEADS, get_head


def problem(head, n_out=3, m=25, seed=0):
    """Logits (K=2, n_out, m) and targets of the head's kind."""
    rng = np.random.default_rng(seed)
    Z = 3.0 * rng.standard_normal((2, n_out, m))
    if head == "sigmoid":
        Y = (rng.random((n_out, m)) < 0.5).astype(float)
    elif head == "softmax":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, m)]
    else:
        Y = rng.standard_normal((n_out, m))
    return Z, Y


def naive_loss(head, Z, Y):
    """The textbook formulas, accurate for moderate logits."""
    if head == "sigmoid":
        A = 1 / (1 + np.exp(-Z))
        return -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A), axis=1).mean(axis=-1)
    if head == "softmax":
        P = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
        return -np.sum(Y * np.log(P), axis=1).mean(axis=-1)
    return 0.5 * np.sum((Z - Y) ** 2, axis=1).mean(axis=-1)


@pytest.mark.parametrize("head", list(HEADS))
def test_loss_matches_the_naive_formula_where_it_is_accurate(head):
    Z, Y = problem(head)
    np.testing.assert_allclose(HEADS[head].loss(Z, Y), naive_loss(head, Z, Y), rtol=1e-13)


@pytest.mark.parametrize("head", list(HEADS))
def test_dZ_is_the_derivative_of_the_per_example_loss(head):
    """Central differences of each example's loss (J on that one column) in every logit:
    truncation ~eps^2 = 1e-12, rounding ~1e-16 / eps = 1e-10."""
    Z, Y = problem(head, n_out=3, m=6)
    h = HEADS[head]
    eps = 1e-6
    numeric = np.empty_like(Z)
    for k, j, i in np.ndindex(Z.shape):
        Zp, Zm = Z[k : k + 1, :, i : i + 1].copy(), Z[k : k + 1, :, i : i + 1].copy()
        Zp[0, j] += eps
        Zm[0, j] -= eps
        numeric[k, j, i] = (h.loss(Zp, Y[:, i : i + 1]) - h.loss(Zm, Y[:, i : i + 1]))[0] / (
            2 * eps
        )
    np.testing.assert_allclose(h.dZ(Z, Y), numeric, rtol=1e-7, atol=1e-9)


def test_losses_are_finite_and_exact_at_huge_logits():
    Z = np.array([[[800.0, -800.0], [0.0, 800.0]]])  # (1, 2 outputs, 2 examples)
    Y = np.array([[1.0, 0.0], [0.0, 1.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sig = HEADS["sigmoid"].loss(Z, Y)
        soft = HEADS["softmax"].loss(Z, Y)
        d_soft = HEADS["softmax"].dZ(Z, Y)
    # BCE: column 0 has z=800 (y=1) and z=0 (y=0): 0 + log 2; column 1: 0 + 0 (up to e^-800)
    assert sig[0] == pytest.approx(np.log(2.0) / 2, rel=1e-15)
    # cross-entropy: column 0 logsumexp(800, 0) - 800 = log1p(e^-800) = 0; column 1 likewise
    assert soft[0] == 0.0
    np.testing.assert_array_equal(d_soft, np.zeros_like(Z))


def test_accuracy_rules():
    Z = np.array([[[0.2, -1.0, 3.0], [0.1, 2.0, 1.0], [-1.0, 0.0, 3.0]]])  # (1, 3, 3)
    onehot = np.eye(3)[:, [0, 1, 2]]
    # argmax per column: 0, 1, 0 (the first of the tie 3.0, 3.0)
    assert HEADS["softmax"].accuracy(Z, onehot)[0] == pytest.approx(2 / 3)
    assert HEADS["softmax"].accuracy(Z, np.eye(3)[:, [1, 0, 2]])[0] == 0.0
    np.testing.assert_array_equal(HEADS["softmax"].predict(Z)[0], np.eye(3)[:, [0, 1, 0]])
    assert np.isnan(HEADS["linear"].accuracy(Z, onehot)).all()
    # sigmoid: the post's threshold on sigma(z) >= 0.5, entry by entry
    Zs = np.array([[[-1e-20, 0.3, -0.3]]])
    assert HEADS["sigmoid"].accuracy(Zs, np.array([[1.0, 1.0, 0.0]]))[0] == 1.0
    np.testing.assert_array_equal(HEADS["sigmoid"].predict(Zs), [[[1.0, 1.0, 0.0]]])


@pytest.mark.parametrize("head", list(HEADS))
def test_loss_equals_torch_float64(head):
    torch = pytest.importorskip("torch")
    Z, Y = problem(head, n_out=4, m=30)
    z, y = torch.tensor(Z), torch.tensor(Y)
    n_out = Z.shape[1]
    ref = []
    for k in range(Z.shape[0]):
        zk = z[k].T  # torch: (examples, outputs)
        if head == "sigmoid":
            ref.append(n_out * torch.nn.functional.binary_cross_entropy_with_logits(zk, y.T))
        elif head == "softmax":
            ref.append(torch.nn.functional.cross_entropy(zk, y.argmax(dim=0)))
        else:
            ref.append(0.5 * n_out * torch.nn.functional.mse_loss(zk, y.T))
    np.testing.assert_allclose(HEADS[head].loss(Z, Y), [float(r) for r in ref], rtol=1e-14)


@pytest.mark.parametrize(
    "head,n_out", [("sigmoid", 1), ("sigmoid", 3), ("softmax", 4), ("linear", 2)]
)
def test_gradient_check_passes_for_every_head(head, n_out):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 12))
    _, Y = problem(head, n_out=n_out, m=12, seed=2)
    net = init_network([5, 4, 3, n_out], "xavier", activation="tanh", seed=3, head=head)
    for b in net.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    assert gradient_check(net, X, Y) < 1e-7


@pytest.mark.parametrize("head", ["softmax", "linear"])
def test_gradient_check_fails_for_a_head_with_a_wrong_dZ(head):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 12))
    _, Y = problem(head, n_out=3, m=12, seed=2)
    right = init_network([5, 4, 3], "xavier", activation="tanh", seed=3, head=head)
    h = HEADS[head]
    wrong = dataclasses.replace(h, dZ=lambda Z, Y: 1.01 * h.dZ(Z, Y))  # a 1% error
    net = init_network([5, 4, 3], "xavier", activation="tanh", seed=3, head=wrong)
    assert gradient_check(right, X, Y) < 1e-7
    assert gradient_check(net, X, Y) > 1e-4


def test_targets_are_checked_against_the_head():
    net = init_network([4, 3, 3], "he", head="softmax")
    X = np.zeros((4, 2))
    with pytest.raises(InitlabError, match="one-hot"):
        net.cost(X, np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(
        InitlabError, match=r"3 output\(s\) and X has 2 examples: expected \(3, 2\)"
    ):
        net.cost(X, np.zeros((1, 2)))
    with pytest.raises(InitlabError, match="labels 0 and 1"):
        init_network([4, 3, 1], "he").cost(X, np.array([[0.0, 2.0]]))
    with pytest.raises(InitlabError, match="valid heads are: linear, sigmoid, softmax"):
        get_head("tanh")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_arithmetic_is_scipys_bit_for_bit(dtype):
    """The softmax head's logsumexp and softmax are SciPy's operations without its dispatch:
    the same bits, with ties for the largest logit, +-inf and NaN among the logits."""
    from scipy.special import logsumexp, softmax

    from initlab.nn.losses import logsumexp_outputs

    rng = np.random.default_rng(3)
    Z = (30.0 * rng.standard_normal((3, 7, 200))).astype(dtype)
    Z[0, :3, :40] = Z[0, 3, :40]  # ties
    Z[1, 2, 10:20] = np.inf
    Z[1, :, 30] = -np.inf
    Z[2, 4, 50:60] = np.nan
    Z[2, :, 70] = np.finfo(dtype).max
    with np.errstate(all="ignore"):
        ours, theirs = logsumexp_outputs(Z), logsumexp(Z, axis=-2)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours.view(np.uint8), theirs.view(np.uint8))
        Zf = np.nan_to_num(Z, nan=0.0, posinf=50.0, neginf=-50.0)
        Y = np.eye(7, dtype=dtype)[:, rng.integers(0, 7, 200)]
        assert HEADS["softmax"].dZ(Zf, Y).tobytes() == (softmax(Zf, axis=-2) - Y).tobytes()
