r"""A network's initial parameters: every member drawn by a catalogue scheme from its own stream.

Member ``k`` of a population gets exactly the weights it would get alone: its generator is made
from its own seed (:func:`initlab.make_rng`), and its layers are drawn in order
``W_1, W_2, ...``, each as one ``(n_l, n_{l-1})`` array.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError, check_number
from initlab.init import catalogue as _initializers
from initlab.nn import activations as _activations
from initlab.nn.network import Network, check_layer_sizes, from_members

Array = np.ndarray


def init_parameters(
    layer_sizes: Sequence[int],
    init: str | Mapping[str, Any] | _initializers.Initializer,
    rng: RNG,
    dtype: Any = np.float64,
    *,
    sigma_b2: float = 0.0,
) -> tuple[list[Array], list[Array]]:
    r"""Draw one member's 2-D weights layer by layer from `rng`; biases are zero by default.

    Layers are drawn in order ``W_1, W_2, ...``, each as one ``(n_l, n_{l-1})`` array, so the
    legacy stream reproduces ``np.random.seed(s); np.random.randn(n_l, n_{l-1}) * scale``.
    With :math:`\sigma_b^2 > 0` the biases are then drawn from the same stream, after all
    the weights (:func:`gaussian_biases`), so the weights are those of ``sigma_b2 = 0``.
    """
    initializer = _initializers.get(init)
    Ws = [initializer((n, n_prev), rng, dtype) for n_prev, n in itertools.pairwise(layer_sizes)]
    if sigma_b2 == 0:
        return Ws, [np.zeros((W.shape[0], 1), dtype=dtype) for W in Ws]
    return Ws, gaussian_biases(layer_sizes, sigma_b2, rng, dtype)


def gaussian_biases(
    layer_sizes: Sequence[int], sigma_b2: float, rng: RNG, dtype: Any = np.float64
) -> list[Array]:
    r"""Biases :math:`b_l \sim N(0, \sigma_b^2)` i.i.d., of shape ``(n_l, 1)``, in layer order.

    The mean-field theory's bias law (Poole et al. 2016; Schoenholz et al. 2017, who use
    :math:`\sigma_b^2 = 0.05` in their trainability experiments): each
    :math:`b_l = \sigma_b\,\epsilon_l` with :math:`\epsilon_l` standard normal from `rng`.
    """
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    sizes = check_layer_sizes(layer_sizes)
    return [
        (math.sqrt(b2) * rng.standard_normal((n, 1))).astype(dtype, copy=False) for n in sizes[1:]
    ]


def init_population(
    layer_sizes: Sequence[int],
    members: Sequence[tuple[str | Mapping[str, Any] | _initializers.Initializer, int | RNG]],
    *,
    activation: str | _activations.Activation = "tanh",
    stream: str = "default",
    dtype: Any = np.float64,
    head: str = "sigmoid",
    sigma_b2: float = 0.0,
) -> Network:
    r"""A population whose member k is initialized by ``members[k] = (init, seed)``.

    Member k gets exactly the weights it would get alone: ``make_rng(seed, stream)`` is
    created per member. `head` is the output head (:mod:`initlab.nn.losses`); biases are
    zero, or :math:`N(0, \sigma_b^2)` from the member's stream (:func:`init_parameters`).
    """
    sizes = check_layer_sizes(layer_sizes)
    if not members:
        raise InitlabError("a population needs at least one member")
    check_number("sigma_b2", sigma_b2, low=0)
    drawn = [
        init_parameters(sizes, init, make_rng(seed, stream), dtype, sigma_b2=sigma_b2)
        for init, seed in members
    ]
    return from_members(sizes, activation, drawn, head)


def init_network(
    layer_sizes: Sequence[int],
    init: str | Mapping[str, Any] | _initializers.Initializer = "he",
    *,
    activation: str | _activations.Activation = "tanh",
    seed: int | RNG = 0,
    stream: str = "default",
    dtype: Any = np.float64,
    head: str = "sigmoid",
) -> Network:
    """One network (K = 1) initialized by `init` from `seed` on `stream`.

    Examples
    --------
    >>> net = init_network([4, 5, 5, 1], "xavier", activation="tanh", seed=1, stream="legacy")
    >>> net.weights[0].shape
    (1, 5, 4)
    """
    return init_population(
        layer_sizes, [(init, seed)], activation=activation, stream=stream, dtype=dtype, head=head
    )
