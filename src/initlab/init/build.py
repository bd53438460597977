r"""A network's initial parameters: every member drawn by a catalogue scheme from its own stream.

Member ``k`` of a population gets exactly the weights it would get alone: its generator is made
from its own seed (:func:`initlab.make_rng`), and its layers are drawn in order
``W_1, W_2, ...``, each as one ``(n_l, n_{l-1})`` array.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from initlab._rng import RNG, make_rng
from initlab._validation import InitlabError
from initlab.init import catalogue as _initializers
from initlab.nn import activations as _activations
from initlab.nn.network import Network, check_layer_sizes, from_members

Array = np.ndarray


def init_parameters(
    layer_sizes: Sequence[int],
    init: str | Mapping[str, Any] | _initializers.Initializer,
    rng: RNG,
    dtype: Any = np.float64,
) -> tuple[list[Array], list[Array]]:
    """Draw one member's 2-D weights layer by layer from `rng`; biases are zero.

    Layers are drawn in order ``W_1, W_2, ...``, each as one ``(n_l, n_{l-1})`` array, so the
    legacy stream reproduces ``np.random.seed(s); np.random.randn(n_l, n_{l-1}) * scale``.
    """
    initializer = _initializers.get(init)
    Ws, bs = [], []
    for n_prev, n in itertools.pairwise(layer_sizes):
        Ws.append(initializer((n, n_prev), rng, dtype))
        bs.append(np.zeros((n, 1), dtype=dtype))
    return Ws, bs


def init_population(
    layer_sizes: Sequence[int],
    members: Sequence[tuple[str | Mapping[str, Any] | _initializers.Initializer, int | RNG]],
    *,
    activation: str | _activations.Activation = "tanh",
    stream: str = "default",
    dtype: Any = np.float64,
    head: str = "sigmoid",
) -> Network:
    """A population whose member k is initialized by ``members[k] = (init, seed)``.

    Member k gets exactly the weights it would get alone: ``make_rng(seed, stream)`` is
    created per member. `head` is the output head (:mod:`initlab.nn.losses`).
    """
    sizes = check_layer_sizes(layer_sizes)
    if not members:
        raise InitlabError("a population needs at least one member")
    drawn = [init_parameters(sizes, init, make_rng(seed, stream), dtype) for init, seed in members]
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
