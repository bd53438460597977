r"""The network protocol of the training loop: what :func:`initlab.nn.training.train` needs
of a network that computes its own forward and backward passes.

A :class:`Model` is a population of K networks whose parameters are a flat list
:attr:`~Model.params` of arrays with the population axis first (a scalar per member is
``(K, 1, 1)``), updated in place by the optimizers (:mod:`initlab.nn.optimizers`), so one
learning-rate factor per parameter applies. :meth:`~Model.forward` maps ``X`` ``(n_in, m)``
to the logits ``(K, n_out, m)`` and a cache; :meth:`~Model.backward` takes the head's
:math:`dZ = m\, \partial J / \partial Z` (not divided by m) and gives every parameter's
gradient of the mean loss, in the order of ``params``; :meth:`~Model.records` gives the
per-layer outputs of a forward pass (logits last), which the hooks see as ``Step.Zs``
(a coordinate check measures them); :meth:`~Model.layers` gives, for each weight matrix,
the pre-activation it writes, its activation and gradient
(:class:`~initlab.nn.history.Layers`), which the diagnostics read as ``Step.layers``
(:class:`initlab.analysis.diagnostics.Recorder`): the training loop calls it only when a
hook reads them, during that hook's call, after :meth:`~Model.backward` (which must leave
`dZ` and the cache's forward arrays as they were).

:class:`initlab.nn.residual.ResMLP` (residual and plain MLPs) is a Model. The plain
:class:`initlab.nn.network.Network` is trained by the same loop through its engines
(:mod:`initlab.nn.engines`: the first layer in the direct or sample engine's coordinates,
the fused plain step of :mod:`initlab.nn.fused`); a Model takes the direct engine: its
forward pass multiplies its first weight matrix by the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from initlab.nn.history import Layers

Array = np.ndarray


@runtime_checkable
class Model(Protocol):
    """A population of networks with their own forward and backward passes (see above)."""

    params: list[Array]

    @property
    def K(self) -> int: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def n_in(self) -> int: ...

    @property
    def n_out(self) -> int: ...

    def forward(self, X: Array, out: Any = None) -> tuple[Array, Any]: ...

    def backward(self, dZ: Array, cache: Any, out: list[Array] | None = None) -> list[Array]: ...

    def records(self, cache: Any, Z: Array) -> list[Array]: ...

    def layers(
        self, cache: Any, dZ: Array, grads: list[Array], lr_scale: Sequence[float] | None = None
    ) -> Layers: ...

    def copy(self) -> Model: ...
