"""The catalogue's later additions against independent truths: fans in other layouts (JAX's
and Keras's rules written out here), the layout helpers, complex draws (distributions from
scipy), the structured matrices (dirac against torch, delta-orthogonal and orthogonal by their
algebra, STFT against numpy's FFT), and the boundary checks on shape, rng and dtype.

Statistical bounds are at alpha = 1e-6, as in test_initializers.py. JAX and Keras are not
installed: their definitions are written independently here from their documented formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from initlab._rng import make_rng
from initlab._validation import InitlabError
from initlab.init import catalogue as initializers
from initlab.init.base import COMPLEX_STD_2SIGMA

ALPHA = 1e-6
Z = stats.norm.isf(ALPHA / 2)


def jax_fans(shape, in_axis=-2, out_axis=-1, batch_axis=()):
    """JAX's _compute_fans: receptive = total / in / out / batch."""

    def size(axes):
        return shape[axes] if isinstance(axes, int) else math.prod(shape[a] for a in axes)

    receptive = math.prod(shape) / size(in_axis) / size(out_axis) / size(batch_axis)
    return size(in_axis) * receptive, size(out_axis) * receptive


def keras_fans(shape):
    """Keras 3's compute_fans without axes: kernel (..., in, out)."""
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


# --- fans and layouts ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 32), (64, 32, 5), (64, 32, 5, 3), (8, 4, 3, 2, 2)])
def test_keras_layout_fans(shape):
    k = initializers.keras_shape(shape)
    assert initializers.torch_shape(k) == shape
    fans = initializers.compute_fans(shape)
    assert initializers.compute_fans(k, in_axis=-2, out_axis=-1) == fans
    assert keras_fans(k) == fans and jax_fans(k) == pytest.approx(fans, rel=1e-15)


def test_axes_follow_jax_and_keras_definitions():
    shape = (3, 4, 5, 6, 7)
    for in_axis, out_axis, batch_axis in [(0, 4, ()), ([1, 2], 4, 0), (-1, [0, 3], [1])]:
        ours = initializers.compute_fans(shape, in_axis, out_axis, batch_axis)
        assert ours == pytest.approx(jax_fans(shape, in_axis, out_axis, batch_axis), rel=1e-15)
    # Keras input_axes=[0, 1], output_axes=[3] multiply only those sizes: batch = the rest
    assert initializers.compute_fans(shape, [0, 1], 3, [2, 4]) == (3 * 4, 6)
    with pytest.raises(InitlabError, match=r"must name distinct axes of shape \(3, 4, 5, 6, 7\)"):
        initializers.compute_fans(shape, 1, [0, 1])
    with pytest.raises(InitlabError, match="out_axis 5 is out of range for shape"):
        initializers.compute_fans(shape, 1, 5)


def test_a_keras_shape_needs_its_axes():
    # the audit's case: a (25, 20, 32, 64) Keras kernel, He normal: fan_in = 25 * 20 * 32
    k, he = (25, 20, 32, 64), initializers.get("he_normal")
    right = math.sqrt(2 / 16000)
    assert he.moments(k).std == pytest.approx(math.sqrt(2 / (20 * 32 * 64)))  # read as torch
    keras = initializers.get("he_normal", in_axis=-2, out_axis=-1)
    assert keras.params == {"in_axis": -2, "out_axis": -1}
    assert keras.moments(k).std == pytest.approx(right, rel=1e-15)
    assert he.moments(initializers.torch_shape(k)).std == pytest.approx(right, rel=1e-15)
    W = keras(k, np.random.default_rng(0))
    n = W.size
    assert abs(W.var() / right**2 - 1) < Z * math.sqrt(2 / n)  # loose CLT bound, 4.9 * 0.0044


def test_layout_helpers_move_axes():
    W = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)  # (out, in, kh, kw)
    K = initializers.to_keras(W)
    assert K.shape == (4, 5, 3, 2) == initializers.keras_shape(W.shape)
    for o, i, h, w in [(0, 0, 0, 0), (1, 2, 3, 4), (1, 0, 2, 1)]:
        assert K[h, w, i, o] == W[o, i, h, w]
    np.testing.assert_array_equal(initializers.from_keras(K), W)
    np.testing.assert_array_equal(initializers.to_keras(np.ones((3, 2))), np.ones((2, 3)))
    with pytest.raises(InitlabError, match="at least 2 dimensions"):
        initializers.keras_shape((5,))


def test_dense_layer_is_the_same_map_in_both_layouts():
    rng = np.random.default_rng(1)
    W, A = rng.standard_normal((4, 6)), rng.standard_normal((6, 3))  # Z = W A (initlab)
    np.testing.assert_allclose(W @ A, (A.T @ initializers.to_keras(W)).T, rtol=1e-14)


# --- complex draws ------------------------------------------------------------------------

N = (200, 300)
V = 2 / 300  # he_uniform / he_normal / kaiming_normal target variance on N


def test_complex_truncated_constant():
    # |Z|^2 of a complex normal with E|Z|^2 = 1 is Exp(1); truncated to |Z| <= 2: Exp on [0, 4]
    assert COMPLEX_STD_2SIGMA**2 == pytest.approx(stats.truncexpon(4).mean(), rel=1e-14)
    # JAX's literal is sqrt(1 - 5 e^-4): its draws have 1.0187 times the target variance
    jax_literal = 0.95311164380491208
    assert jax_literal == pytest.approx(math.sqrt(1 - 5 * math.exp(-4)), rel=1e-15)
    assert (COMPLEX_STD_2SIGMA / jax_literal) ** 2 == pytest.approx(1.018657, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "modulus2"),  # distribution of |W|^2 / V
    [
        ("kaiming_normal", stats.expon()),
        ("he_uniform", stats.uniform(0, 2)),
        ("he_normal", stats.truncexpon(4, scale=1 / COMPLEX_STD_2SIGMA**2)),
    ],
)
def test_complex_draws_follow_jax(name, modulus2):
    init = initializers.get(name)
    W = init(N, np.random.default_rng(7), np.complex128)
    assert W.dtype == np.complex128 and init.moments(N).std == pytest.approx(math.sqrt(V))
    m2 = np.abs(W.ravel()) ** 2 / V
    assert modulus2.mean() == pytest.approx(1.0, rel=1e-14)  # E|W|^2 = V exactly
    assert abs(m2.mean() - 1) <= Z * modulus2.std() / math.sqrt(m2.size)
    assert stats.kstest(m2, modulus2.cdf).pvalue > ALPHA
    angle = np.angle(W.ravel())  # uniform phase, independent of the modulus
    assert stats.kstest(angle, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > ALPHA
    assert abs(stats.spearmanr(angle, m2).statistic) < Z / math.sqrt(m2.size)
    W64 = init(N, np.random.default_rng(7), np.complex64)
    assert W64.dtype == np.complex64


def test_complex_matches_torch():
    torch = pytest.importorskip("torch")
    t = torch.empty(N, dtype=torch.complex128)
    torch.nn.init.kaiming_normal_(t, generator=torch.Generator().manual_seed(0))
    ours = initializers.get("kaiming_normal")(N, np.random.default_rng(0), np.complex128)
    lo, hi = stats.chi2.ppf([ALPHA / 2, 1 - ALPHA / 2], 2 * ours.size)  # 2n parts, var V/2
    for W in (t.numpy(), ours):
        parts = np.concatenate([W.real.ravel(), W.imag.ravel()])
        assert lo <= (parts**2).sum() / (V / 2) <= hi


def test_complex_refused_where_undefined_and_integers_always():
    rng = np.random.default_rng(0)
    with pytest.raises(InitlabError, match="'uniform' draws real numbers only; got dtype complex"):
        initializers.get("uniform")((3, 3), rng, np.complex128)
    np.testing.assert_array_equal(
        initializers.get("eye")((2, 3), rng, np.complex64), np.eye(2, 3, dtype=np.complex64)
    )
    for dtype in (np.int32, np.int64, bool, np.uint8):
        with pytest.raises(InitlabError, match=r"dtype must be a floating .*truncate"):
            initializers.get("he_normal")((3, 3), rng, dtype)
    with pytest.raises(InitlabError, match="dtype must be a NumPy dtype"):
        initializers.get("he_normal")((3, 3), rng, "float99")


# --- shapes and generators ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3.7, 2), (3.0, 2), (-1, 2), (True, 2), ("3", 2), 5, "ab"])
def test_shapes_must_be_integers(shape):
    with pytest.raises(InitlabError, match="shape must"):
        initializers.get("he_normal")(shape, np.random.default_rng(0))


def test_rng_is_a_generator_or_a_seed():
    init = initializers.get("he_normal")
    W = init((np.int64(4), 3), 5)
    np.testing.assert_array_equal(W, init((4, 3), make_rng(5)))
    for bad in (None, -1, True, 2.0, "5"):
        with pytest.raises(InitlabError, match=r"rng must be a numpy Generator .* seed; got"):
            init((4, 3), bad)


def test_empty_weights_are_refused_with_their_shape():
    with pytest.raises(InitlabError, match=r"fan_in of shape \(5, 0\) is 0"):
        initializers.get("he_normal")((5, 0), np.random.default_rng(0))


# --- structured matrices ------------------------------------------------------------------

DIRAC = [((6, 4, 3), 1), ((4, 6, 3, 3), 1), ((6, 6, 2, 4), 1), ((6, 3, 3), 2), ((9, 4, 2, 3, 5), 3)]


@pytest.mark.parametrize(("shape", "groups"), DIRAC)
def test_dirac_matches_torch(shape, groups):
    torch = pytest.importorskip("torch")
    t = torch.nn.init.dirac_(torch.empty(shape, dtype=torch.float64), groups)
    init = initializers.get("dirac", groups=groups)
    W = init(shape, 0)
    np.testing.assert_array_equal(W, t.numpy())
    m = init.moments(shape)
    assert (m.mean, m.std, m.low, m.high) == pytest.approx((W.mean(), W.std(), 0.0, 1.0))


def test_dirac_is_an_identity_convolution():
    # each output channel copies its input channel: the centre tap, written out
    W = initializers.get("dirac")((4, 4, 5), 0)
    x = np.random.default_rng(0).standard_normal((4, 20))
    y = np.stack(
        [sum(np.convolve(x[i], W[o, i][::-1], "same") for i in range(4)) for o in range(4)]
    )
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("shape", "message"), [((4, 4), "3-, 4- or 5-D"), ((5, 3, 3), "divisible")]
)
def test_dirac_errors(shape, message):
    with pytest.raises(InitlabError, match=message):
        initializers.get("dirac", groups=2)(shape, 0)


@pytest.mark.parametrize("column_axis", [0, 1, -1])
@pytest.mark.parametrize("shape", [(5, 3, 3), (4, 4, 2, 4), (6, 2, 3, 1, 2)])
def test_delta_orthogonal(shape, column_axis):
    init = initializers.get("delta_orthogonal", gain=1.5, column_axis=column_axis)
    W = init(shape, np.random.default_rng(3))
    centre = tuple((k - 1) // 2 for k in shape[2:])  # JAX's centre: the left middle
    M = W[(slice(None), slice(None), *centre)].copy()
    np.testing.assert_allclose(M.T @ M, 1.5**2 * np.eye(shape[1]), rtol=0, atol=1e-12)
    W[(slice(None), slice(None), *centre)] = 0
    assert not W.any()
    m = init.moments(shape)
    assert (M**2).sum() / math.prod(shape) == pytest.approx(m.std**2, rel=1e-12)


def test_delta_orthogonal_is_haar_and_refuses_wide():
    init, rng = initializers.get("delta_orthogonal"), np.random.default_rng(4)
    W = np.stack([init((3, 3, 3), rng)[:, :, 1] for _ in range(3000)])
    for i, j in [(0, 0), (1, 1), (2, 1)]:  # entries of a Haar 3x3 orthogonal are U(-1, 1)
        assert stats.kstest(W[:, i, j], stats.uniform(-1, 2).cdf).pvalue > ALPHA
    with pytest.raises(InitlabError, match=r"out >= in .*got \(2, 3, 3\)"):
        init((2, 3, 3), rng)


@pytest.mark.parametrize(
    ("shape", "axis"), [((4, 3, 2, 2), 0), ((4, 3, 2, 2), 1), ((4, 3, 2, 2), -1), ((2, 3, 10), -1)]
)
def test_orthogonal_column_axis(shape, axis):
    W = initializers.get("orthogonal", gain=2.0, column_axis=axis)(shape, np.random.default_rng(5))
    M = np.moveaxis(W, axis, -1).reshape(-1, shape[axis])  # JAX's view: columns = the axis
    G = M.T @ M if M.shape[0] >= M.shape[1] else M @ M.T
    np.testing.assert_allclose(G, 4 * np.eye(min(M.shape)), rtol=0, atol=1e-12)


def test_orthogonal_column_axis_is_haar():
    init, rng = initializers.get("orthogonal", column_axis=1), np.random.default_rng(6)
    W = np.stack([init((3, 3), rng) for _ in range(3000)])
    for i, j in [(0, 0), (1, 1), (0, 2)]:  # without the sign correction the diagonal is biased
        assert stats.kstest(W[:, i, j], stats.uniform(-1, 2).cdf).pvalue > ALPHA


def hann(T, periodic):
    n = T if periodic else T - 1
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(T) / n)


@pytest.mark.parametrize(
    ("params", "window", "scale"),
    [
        ({}, hann(12, False), lambda w: math.sqrt((w * w).sum())),
        ({"periodic": True, "scaling": "spectrum"}, hann(12, True), lambda w: np.abs(w).sum()),
        ({"scaling": None}, hann(12, False), lambda w: 1.0),
        ({"window": None}, np.ones(12), lambda w: 1.0),
        ({"window": [0.5] * 12}, np.full(12, 0.5), lambda w: math.sqrt((w * w).sum())),
    ],
)
@pytest.mark.parametrize("side", ["real", "imag"])
def test_stft_kernel_is_the_windowed_dft(params, window, scale, side):
    F, T = 9, 12  # N = 16 >= T
    W = initializers.get("stft", side=side, **params)((F, 1, T), 0)
    x = np.random.default_rng(8).standard_normal(T)
    X = np.fft.rfft(window * x, 2 * (F - 1)) / scale(window)
    np.testing.assert_allclose(W[:, 0, :] @ x, X.real if side == "real" else X.imag, atol=1e-12)


@pytest.mark.parametrize(
    ("params", "shape", "message"),
    [
        ({"side": "both"}, None, "side must be one of real, imag"),
        ({"window": "nope"}, None, "not a scipy.signal window"),
        ({"scaling": "power"}, None, "scaling must be one of"),
        ({"window": [1.0, 2.0]}, (5, 1, 8), "window has 2 values; the frame has 8"),
        ({}, (5, 2, 8), r"stft needs a weight \(F >= 2, 1, T\)"),
    ],
)
def test_stft_errors(params, shape, message):
    with pytest.raises(InitlabError, match=message):
        initializers.get("stft", **params)(shape, 0)


# --- the documented traps, where PyTorch can show them ------------------------------------


def test_documented_traps_hold_in_torch():
    torch = pytest.importorskip("torch")
    with torch.random.fork_rng():  # nn modules draw from torch's global generator
        torch.manual_seed(0)
        W = torch.nn.Linear(300, 200).weight.detach().double().numpy()
    ours = initializers.get("kaiming_uniform", a=math.sqrt(5)).moments(W.shape)
    assert ours.high == pytest.approx(1 / math.sqrt(300)) and np.abs(W).max() <= ours.high
    assert ours.std**2 == pytest.approx(1 / (3 * 300))
    assert abs(W.var() * 3 * 300 - 1) < Z * math.sqrt(0.8 / W.size)  # Var(s^2)/v^2 = 0.8/n
    # a transposed convolution's weight is (in, out, k, k); both rules read fan_in = out k^2
    shape = tuple(torch.nn.ConvTranspose2d(8, 16, 3).weight.shape)
    assert shape == (8, 16, 3, 3)
    fans = initializers.compute_fans(shape)
    assert fans == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape)) == (144, 72)
    assert keras_fans(initializers.keras_shape(shape)) == fans
    assert initializers.compute_fans(shape, in_axis=0, out_axis=1) == (72, 144)


def test_docs_have_the_traps_section():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "initializers.md").read_text()
    traps = docs.split("## Traps users hit")[1].split("\n## ")[0]
    for topic in (
        "`nn.Linear`",
        "`trunc_normal_`'s bounds",
        "Transposed convolutions",
        '"uniform"',
    ):
        assert topic in traps, topic
