r"""Structured matrices: orthogonal, identity, dirac, delta-orthogonal, sparse and STFT kernels.

Shapes are initlab's (and PyTorch's) layout, ``(out, in, *kernel)``; a Keras or JAX kernel
``(*kernel, in, out)`` converts with :func:`initlab.init.catalogue.torch_shape` and
:func:`initlab.init.catalogue.to_keras`. Import these from :mod:`initlab.init.catalogue`, which
registers and re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from initlab._rng import RNG
from initlab._validation import InitlabError, check_number
from initlab.init.base import Initializer, Moments, Shape, deterministic, register


def _check_gain(gain: float) -> float:
    return check_number("gain", gain, low=0, low_open=True)


def _column_axis(column_axis: int) -> int:
    return check_number("column_axis", column_axis, integer=True)


def _axis(column_axis: int, shape: Shape) -> int:
    if not -len(shape) <= column_axis < len(shape):
        raise InitlabError(f"column_axis {column_axis} is out of range for shape {shape}")
    return column_axis % len(shape)


def _semi_orthogonal(rng: RNG, rows: int, cols: int) -> np.ndarray:
    """A Haar-distributed ``(rows, cols)`` matrix whose smaller side is orthonormal."""
    A = rng.standard_normal((rows, cols))
    if rows < cols:
        A = A.T
    Q, R = np.linalg.qr(A)
    Q *= np.where(np.diag(R) < 0, -1.0, 1.0)  # without it Q is not Haar (Mezzadri 2007)
    return Q.T if rows < cols else Q


def _orthogonal_draw(gain: float, column_axis: int) -> Callable[[Shape, RNG], np.ndarray]:
    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        if len(shape) < 2:
            raise InitlabError(f"orthogonal needs at least 2 dimensions; got shape {shape}")
        c = _axis(column_axis, shape)
        rest = shape[:c] + shape[c + 1 :]
        V = _semi_orthogonal(rng, shape[c], math.prod(rest))  # (column_axis, the rest)
        return gain * np.moveaxis(V.reshape(shape[c], *rest), 0, c)

    return draw


@register(
    "orthogonal",
    "Haar (semi-)orthogonal, times gain",
    "W W^T = gain^2 I (rows <= cols), else W^T W",
    "torch orthogonal_, Keras Orthogonal, jax orthogonal(scale, column_axis)",
)
def orthogonal(gain: float = 1.0, column_axis: int = 0) -> Initializer:
    r"""A uniformly (Haar) distributed (semi-)orthogonal matrix times `gain` (Saxe et al. 2014).

    The weight is viewed as a matrix :math:`M` with one row per index of `column_axis` and
    one column per index of the other axes (flattened in order). A Gaussian matrix
    :math:`A` of that shape (transposed if it is wide) is factored :math:`A = QR` and
    :math:`Q \leftarrow Q \operatorname{diag}(\operatorname{sign} R_{ii})`: without the sign
    correction :math:`Q` is not Haar distributed (Mezzadri 2007). Then the smaller side of
    :math:`M` is orthonormal: :math:`M M^T = g^2 I` if rows <= cols, else
    :math:`M^T M = g^2 I`. Each entry has mean 0 and variance :math:`g^2 / \max(\text{rows},
    \text{cols})`.

    ``column_axis=0`` (the default) is PyTorch's ``orthogonal_`` on ``(out, in, *kernel)``.
    JAX's ``orthogonal(scale, column_axis)`` names the axis the same way (its orthonormal
    "columns" are our rows); its default ``-1`` on a ``(*kernel, in, out)`` kernel is the
    ``out`` axis, i.e. ``column_axis=0`` here after :func:`~initlab.init.catalogue.torch_shape`
    (Keras's ``Orthogonal`` too). The Haar measure does not depend on how the other axes are
    flattened, so the converted draws have the same distribution.
    """
    gain, column_axis = _check_gain(gain), _column_axis(column_axis)

    def moments(shape: Shape) -> Moments:
        c = _axis(column_axis, shape)
        n = max(shape[c], math.prod(shape) // max(shape[c], 1))
        return Moments(0.0, gain / math.sqrt(n), -gain, gain)

    params = {"gain": gain, **({"column_axis": column_axis} if column_axis else {})}
    return Initializer("orthogonal", params, _orthogonal_draw(gain, column_axis), moments)


def _indicator_moments(count: Callable[[Shape], int], value: float):
    """Moments of an array holding `value` at ``count(shape)`` entries and 0 elsewhere."""

    def moments(shape: Shape) -> Moments:
        f = count(shape) / math.prod(shape)
        return Moments(value * f, value * math.sqrt(f * (1 - f)), 0.0, value)

    return moments


def _eye(name: str, gain: float) -> Initializer:
    def values(shape: Shape) -> np.ndarray:
        if len(shape) != 2:
            raise InitlabError(f"{name} needs a 2-D weight; got shape {shape}")
        return gain * np.eye(*shape)

    return deterministic(name, {"gain": gain}, values, _indicator_moments(min, gain))


@register("identity", "constant", "W = gain * I (ones on the main diagonal)", "Keras Identity")
def identity(gain: float = 1.0) -> Initializer:
    r""":math:`W = g I`: ones on the main diagonal of a 2-D weight, zeros elsewhere, also
    when it is not square (Keras's ``Identity``)."""
    return _eye("identity", _check_gain(gain))


@register("eye", "constant", "W = gain * I (ones on the main diagonal)", "torch eye_ (gain 1)")
def eye(gain: float = 1.0) -> Initializer:
    r""":math:`W = g I` (PyTorch's ``eye_`` for :math:`g = 1`): the same matrix as
    ``identity``, under PyTorch's name."""
    return _eye("eye", _check_gain(gain))


def _check_conv(name: str, shape: Shape) -> None:
    if len(shape) not in (3, 4, 5):
        raise InitlabError(f"{name} needs a 3-, 4- or 5-D weight (out, in, *kernel); got {shape}")


@register(
    "dirac",
    "constant",
    "W[g*o + d, d, k//2...] = 1, d < min(out/groups, in)",
    "torch dirac_(groups)",
)
def dirac(groups: int = 1) -> Initializer:
    r"""PyTorch's ``dirac_``: a convolution weight ``(out, in, *kernel)`` (1-3 kernel axes)
    that passes its input through (Zagoruyko & Komodakis 2017).

    With :math:`p = \text{out} / \text{groups}` output channels per group,
    :math:`W[g p + d, d, \lfloor k_1/2 \rfloor, \ldots] = 1` for every group :math:`g` and
    :math:`d < \min(p, \text{in})`, and 0 elsewhere: output channel :math:`g p + d` copies
    input channel :math:`d` of its group at the kernel's centre (the right one of the two
    middles for an even kernel; ``delta_orthogonal`` takes the left one, as JAX does).
    """
    groups = check_number("groups", groups, low=1, integer=True)

    def count(shape: Shape) -> int:
        _check_conv("dirac", shape)
        if shape[0] % groups:
            raise InitlabError(f"dirac needs out ({shape[0]}) divisible by groups ({groups})")
        return groups * min(shape[0] // groups, shape[1])

    def values(shape: Shape) -> np.ndarray:
        W, per_group = np.zeros(shape), shape[0] // groups
        d = np.arange(count(shape) // groups)
        centre = tuple(k // 2 for k in shape[2:])
        for g in range(groups):
            W[(g * per_group + d, d, *centre)] = 1.0
        return W

    return deterministic("dirac", {"groups": groups}, values, _indicator_moments(count, 1.0))


@register(
    "delta_orthogonal",
    "Haar semi-orthogonal at the kernel centre, 0 elsewhere",
    "W[:, :, (k-1)//2...] = orthogonal(out, in), out >= in",
    "jax delta_orthogonal(scale, column_axis)",
)
def delta_orthogonal(gain: float = 1.0, column_axis: int = 0) -> Initializer:
    r"""JAX's ``delta_orthogonal`` (Xiao et al. 2018) in initlab's layout ``(out, in, *kernel)``.

    :math:`W[:, :, c_1, \ldots] = g Q` at the kernel's centre
    :math:`c_j = \lfloor (k_j - 1)/2 \rfloor`, 0 elsewhere, where :math:`Q` is an
    ``orthogonal(1, column_axis)`` ``(out, in)`` matrix; ``out >= in`` is required (JAX:
    fan_in <= fan_out), so :math:`Q^T Q = I`: the convolution is an isometry. 1-3 kernel
    axes. Entries have mean 0 and variance :math:`g^2 / (\text{out} \prod k_j)`.
    ``column_axis=0`` is JAX's default ``-1`` (the out axis).
    """
    gain, column_axis = _check_gain(gain), _column_axis(column_axis)
    ortho = _orthogonal_draw(gain, column_axis)

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        _check_conv("delta_orthogonal", shape)
        if shape[0] < shape[1]:
            raise InitlabError(f"delta_orthogonal needs out >= in (fan_in <= fan_out); got {shape}")
        W = np.zeros(shape)
        W[(slice(None), slice(None), *((k - 1) // 2 for k in shape[2:]))] = ortho(shape[:2], rng)
        return W

    def moments(shape: Shape) -> Moments:
        return Moments(0.0, gain / math.sqrt(shape[0] * math.prod(shape[2:])), -gain, gain)

    params = {"gain": gain, **({"column_axis": column_axis} if column_axis else {})}
    return Initializer("delta_orthogonal", params, draw, moments)


@register(
    "sparse",
    "normal, ceil(sparsity*rows) zeros per column",
    "N(0, std^2) off the zeros, default std 0.01",
    "torch sparse_",
)
def sparse(sparsity: float, std: float = 0.01) -> Initializer:
    r"""PyTorch's ``sparse_`` (Martens 2010) for a 2-D weight ``(rows, cols)``.

    Every entry is :math:`N(0, \sigma^2)`, then in each column a uniformly random set of
    :math:`z = \lceil \text{sparsity} \cdot \text{rows} \rceil` rows is set to 0. Entry
    variance :math:`\sigma^2 (1 - z/\text{rows})`.
    """
    sparsity = check_number("sparsity", sparsity, low=0, high=1, high_open=True)
    std = check_number("std", std, low=0)

    def zeros_per_column(shape: Shape) -> int:
        if len(shape) != 2:
            raise InitlabError(f"sparse needs a 2-D weight; got shape {shape}")
        return math.ceil(sparsity * shape[0])

    def draw(shape: Shape, rng: RNG) -> np.ndarray:
        z = zeros_per_column(shape)
        W = rng.standard_normal(shape) * std
        ranks = np.argsort(rng.random(shape), axis=0)  # a uniform permutation per column
        np.put_along_axis(W, ranks[:z], 0.0, axis=0)
        return W

    def moments(shape: Shape) -> Moments:
        kept = 1.0 - zeros_per_column(shape) / shape[0]
        return Moments(0.0, std * math.sqrt(kept))

    return Initializer("sparse", {"sparsity": sparsity, "std": std}, draw, moments)


def _window(window: str | Sequence[float] | None, length: int, periodic: bool) -> np.ndarray:
    from scipy.signal import get_window

    if window is None:
        return np.ones(length)
    if isinstance(window, str):
        return get_window(window, length, fftbins=periodic)
    if len(window) != length:
        raise InitlabError(f"stft's window has {len(window)} values; the frame has {length}")
    return np.asarray(window, dtype=float)


def _check_window(window: str | Sequence[float] | None) -> str | list[float] | None:
    if window is None:
        return None
    if isinstance(window, str):
        try:
            _window(window, 1, False)
        except ValueError as e:
            raise InitlabError(f"window {window!r} is not a scipy.signal window: {e}") from e
        return window
    if isinstance(window, Sequence):
        return [check_number(f"window[{i}]", w) for i, w in enumerate(window)]
    raise InitlabError(f"window must be a scipy.signal window name, values or None; got {window!r}")


@register(
    "stft",
    "constant",
    "W[f, 0, t] = cos|sin(-2 pi f t / N) w_t / c, N = 2(F - 1)",
    "Keras STFT",
)
def stft(
    side: str = "real",
    window: str | Sequence[float] | None = "hann",
    scaling: str | None = "density",
    periodic: bool = False,
) -> Initializer:
    r"""Keras's ``STFT``: a ``Conv1D`` kernel computing one side of a windowed real DFT.

    For a weight ``(F, 1, T)`` (Keras's ``(T, 1, F)``): :math:`F` frequencies, one input
    channel, frames of :math:`T` samples, DFT length :math:`N = 2(F - 1)`,

    .. math::

        W[f, 0, t] = \frac{w_t}{c} \cdot \begin{cases} \cos(-2\pi f t / N) & \text{real} \\
        \sin(-2\pi f t / N) & \text{imag} \end{cases}

    so that :math:`\sum_t W[f, 0, t] x_t` is the real or imaginary part of the DFT of the
    windowed frame at frequency :math:`f` (for :math:`T \le N`: ``np.fft.rfft(w * x, N) / c``).

    Parameters
    ----------
    side : {"real", "imag"}
    window : str, sequence of float or None
        A ``scipy.signal.get_window`` name (``"hann"``, ``"hamming"``, ...), the :math:`T`
        values :math:`w_t`, or None for :math:`w = 1` (and then :math:`c = 1`).
    scaling : {"density", "spectrum", None}
        :math:`c = \sqrt{\sum_t w_t^2}`, :math:`\sum_t |w_t|`, or 1.
    periodic : bool
        A periodic window (``fftbins=True`` in scipy) rather than a symmetric one.
    """
    if side not in ("real", "imag"):
        raise InitlabError(f"side must be one of real, imag; got {side!r}")
    if scaling not in ("density", "spectrum", None):
        raise InitlabError(f"scaling must be one of density, spectrum, None; got {scaling!r}")
    if not isinstance(periodic, bool):
        raise InitlabError(f"periodic must be true or false; got {periodic!r}")
    window = _check_window(window)

    def values(shape: Shape) -> np.ndarray:
        if len(shape) != 3 or shape[1] != 1 or shape[0] < 2:
            raise InitlabError(f"stft needs a weight (F >= 2, 1, T); got shape {shape}")
        F, _, T = shape
        w = _window(window, T, periodic)
        c = 1.0
        if window is not None and scaling is not None:
            c = math.sqrt(np.sum(w * w)) if scaling == "density" else np.sum(np.abs(w))
        angle = -2 * np.pi * np.outer(np.arange(F), np.arange(T)) / (2 * (F - 1))
        W = np.cos(angle) if side == "real" else np.sin(angle)
        return (W * (w / c))[:, None, :]

    def moments(shape: Shape) -> Moments:
        W = values(shape)
        return Moments(float(W.mean()), float(W.std()), float(W.min()), float(W.max()))

    params = {"side": side, "window": window, "scaling": scaling, "periodic": periodic}
    return deterministic("stft", params, values, moments)
