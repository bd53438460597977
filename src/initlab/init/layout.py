r"""Weight layouts: initlab's and PyTorch's ``(out, in, *kernel)`` and Keras's and JAX's
``(*kernel, in, out)``.

The same weight in the two layouts is one transpose apart: entry ``W[o, i, k1, ..., kd]``
of the initlab/PyTorch layout is entry ``K[k1, ..., kd, i, o]`` of the Keras/JAX layout.
A dense weight ``(out, in)`` is the kernel ``(in, out)``. A transposed convolution's weight
follows the same rule: PyTorch's ``ConvTranspose2d`` weight ``(in, out, kH, kW)`` is Keras's
``Conv2DTranspose`` kernel ``(kH, kW, out, in)`` (both frameworks then read its fans from
the swapped axes; ``docs/initializers.md``, "Traps users hit").

Passing a Keras/JAX shape to an initlab initializer as-is reads the fans from the wrong axes
(for a ``(25, 20, 32, 64)`` kernel, He's std would be 0.00699 instead of 0.01118): convert the
shape with :func:`torch_shape`, draw, and convert the array back with :func:`to_keras`; or give
the initializer ``in_axis=-2, out_axis=-1``.
"""

from __future__ import annotations

import numpy as np

from initlab._validation import InitlabError


def _to_keras_axes(ndim: int) -> tuple[int, ...]:
    """Axes of an initlab array that make the Keras array: ``(*kernel, in, out)``."""
    return (*range(2, ndim), 1, 0)


def _from_keras_axes(ndim: int) -> tuple[int, ...]:
    """Axes of a Keras array that make the initlab array: ``(out, in, *kernel)``."""
    return (ndim - 1, ndim - 2, *range(ndim - 2))


def _check(shape: tuple[int, ...], what: str) -> None:
    if len(shape) < 2:
        raise InitlabError(f"{what} needs a weight of at least 2 dimensions; got shape {shape}")


def keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The Keras/JAX shape ``(*kernel, in, out)`` of an initlab/PyTorch ``(out, in, *kernel)``.

    >>> keras_shape((64, 32, 5, 5))
    (5, 5, 32, 64)
    """
    shape = tuple(shape)
    _check(shape, "keras_shape")
    return tuple(shape[a] for a in _to_keras_axes(len(shape)))


def torch_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The initlab/PyTorch shape ``(out, in, *kernel)`` of a Keras/JAX ``(*kernel, in, out)``.

    >>> torch_shape((5, 5, 32, 64))
    (64, 32, 5, 5)
    """
    shape = tuple(shape)
    _check(shape, "torch_shape")
    return tuple(shape[a] for a in _from_keras_axes(len(shape)))


def to_keras(W: np.ndarray) -> np.ndarray:
    """An initlab/PyTorch weight ``(out, in, *kernel)`` as a Keras/JAX kernel (a view)."""
    W = np.asarray(W)
    _check(W.shape, "to_keras")
    return W.transpose(_to_keras_axes(W.ndim))


def from_keras(K: np.ndarray) -> np.ndarray:
    """A Keras/JAX kernel ``(*kernel, in, out)`` as an initlab/PyTorch weight (a view)."""
    K = np.asarray(K)
    _check(K.shape, "from_keras")
    return K.transpose(_from_keras_axes(K.ndim))
