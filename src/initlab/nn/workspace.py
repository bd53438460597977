r"""Arrays one training of a :class:`~initlab.nn.model.Model` hands to the next:
:class:`Workspace`.

A Model's training loop (:func:`initlab.nn.training.train`) writes every step's forward
pass into the last step's cache (``model.forward(X, out=cache)``) and its gradients into
the last step's (``model.backward(dZ, cache, out=grads)``), so it allocates them once, at
its first step. A caller that trains populations of the same shapes one after the other
(a coordinate check: one per parametrization and width) gives each training the same
:class:`Workspace`; a training then starts from the arrays the last one left, instead of
fresh pages (at width 2048, 128 MiB per hidden weight's gradient, whose first touch the
kernel zeroes: BENCHMARKS.md).

Nothing of a training's numbers depends on what the arrays held: each step writes every
element of the cache and of the weight gradients before reading it (the ``out=`` of
:meth:`~initlab.nn.model.Model.forward` and :meth:`~initlab.nn.model.Model.backward`;
a frozen member's gradients are rewritten by the backward pass, then zeroed again), which
is why the loop reuses them from step to step; a Workspace only extends that reuse across
trainings. Arrays :meth:`~initlab.nn.model.Model.records` handed to hooks are the hooks'
to keep: a :class:`~initlab.nn.residual.ResMLP` cache marks them given, and the next
forward pass makes new ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from initlab.nn.model import Model

Array = np.ndarray


class Workspace:
    r"""The forward cache and gradient arrays of the last training given it, for the next.

    Pass one to :func:`initlab.nn.training.train` (``workspace=``) for each of a sequence
    of trainings of a :class:`~initlab.nn.model.Model`. A training takes the arrays when its
    model is of the same type with parameters of the same shapes and dtypes as the model
    that left them (:meth:`take`), else they are dropped before it allocates its own; at its
    end it leaves its own (:meth:`keep`). So the workspace holds one training's arrays at a
    time (about its gradients, one array per parameter, and its cache: a ResMLP's
    activations, ``(K, n, m)`` each), replaced, never accumulated; drop it to free them.

    The same bits as trainings without it. A hook must not keep ``Step.grads`` or the
    arrays of ``Step.layers`` past its call (the next step, or the next training, rewrites
    them; :class:`~initlab.nn.history.Step`); the records (``Step.Zs`` of a Model) it may.

    Attributes
    ----------
    cache : object or None
        The last training's last forward cache (the Model's ``out=`` for its next one).
    grads : list of ndarray or None
        The last training's last gradients, one per parameter.
    """

    def __init__(self) -> None:
        self.cache: Any = None
        self.grads: list[Array] | None = None
        self._key: tuple | None = None

    @staticmethod
    def key(model: Model) -> tuple:
        """What the arrays must fit: the model's type and its parameters' shapes and dtypes."""
        return (type(model), *((P.shape, P.dtype) for P in model.params))

    def take(self, model: Model) -> tuple[Any, list[Array] | None]:
        """The kept ``(cache, grads)`` for a training of `model` when they fit it (else
        ``(None, None)``); the workspace holds nothing until :meth:`keep`."""
        fits = self._key == self.key(model)
        cache, grads = (self.cache, self.grads) if fits else (None, None)
        self.cache, self.grads, self._key = None, None, None
        return cache, grads

    def keep(self, model: Model, cache: Any, grads: list[Array] | None) -> None:
        """Hold a finished training's `cache` and `grads` (of `model`) for the next."""
        self.cache, self.grads, self._key = cache, grads, self.key(model)
