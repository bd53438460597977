r"""What a training run hands back: :class:`Step` for hooks (and its per-layer view
:class:`Layers`), :class:`History` at the end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from initlab._validation import InitlabError

Array = np.ndarray


@dataclass
class Layers:
    r"""A step's weight layers :math:`l = 1..L`, in forward order, as the diagnostics read
    them (:class:`initlab.analysis.diagnostics.Recorder`); :attr:`Step.layers`.

    For the plain MLP, :math:`Z_l = W_l A_{l-1} + b_l` (:math:`A_0 = X`),
    :math:`A_l = \phi(Z_l)` and :math:`dZ_l = m\, \partial J / \partial Z_l`, so that
    :math:`dW_l = dZ_l A_{l-1}^T / m`. A :class:`~initlab.nn.model.Model` gives the same
    three for each of its weight matrices, in its own documented form (a
    :class:`~initlab.nn.residual.ResMLP`: :meth:`~initlab.nn.residual.ResMLP.layers`):
    :math:`Z_l` the pre-activation that layer l writes, :math:`A_l = \phi(Z_l)` the input
    of layer l + 1, and :math:`dZ_l` the gradient of the mean loss with respect to
    :math:`Z_l` times m.

    Attributes
    ----------
    Zs : list of ndarray (K, n_l, m)
        :math:`Z_1 .. Z_L` (the logits last).
    As : list of ndarray (K, n_l, m)
        :math:`A_1 .. A_{L-1}` (hidden layers only).
    dZs : list of ndarray (K, n_l, m)
        :math:`dZ_1 .. dZ_L`, not divided by m.
    dWs : list of ndarray (K, n_l, n_{l-1})
        Every weight matrix's gradient of the mean loss (divided by m).
    weights, biases : list of ndarray
        :math:`W_l` and :math:`b_l` ``(K, n_l, 1)``.
    lr_scale : tuple of float (L,)
        The learning-rate factor :math:`s_l` of :math:`W_l`: it moves at :math:`\eta_k s_l`.
    grad_norm_1, weight_norm_1 : ndarray (K,), optional
        :math:`\lVert dW_1 \rVert_F` and :math:`\lVert W_1 \rVert_F` when computed without
        ``dWs[0]``/``weights[0]`` (a Network's engine); None: from those.
    weight_columns_1 : ndarray (K, n_1, |S|), optional
        :math:`W_1` on the fixed sample :math:`S` of input columns
        (:func:`initlab.nn.engines.diagnostic_columns`); None: all of ``weights[0]``.
    names : tuple of str, optional
        The layers' names (a ResMLP's ``W_in``, ``V1.1``, ..., ``W_out``).
    """

    Zs: list[Array]
    As: list[Array]
    dZs: list[Array]
    dWs: Sequence[Array | None]
    weights: Sequence[Array]
    biases: Sequence[Array]
    lr_scale: tuple[float, ...]
    grad_norm_1: Array | None = None
    weight_norm_1: Array | None = None
    weight_columns_1: Array | None = None
    names: tuple[str, ...] | None = None


@dataclass
class Step:
    """What a hook sees at a recorded step (before that step's update).

    ``Zs``/``As`` are the forward pass on the step's batch, ``dZs`` the back-propagated
    gradients with respect to each ``Z_l`` (not divided by the batch size), ``dWs``/``dbs``
    every layer's gradient, each divided by the batch size. ``dWs[0]`` and ``weights[0]``
    are feature-sized: they are formed from the engine only when a hook reads them, during
    its call (None afterwards if no hook did); ``grad_norm_1`` and ``weight_norm_1`` are
    computed in the engine's own coordinates, and ``weight_columns_1`` is
    ``W_1[:, :, columns_1]`` on the fixed sample of input columns
    :func:`initlab.nn.engines.diagnostic_columns`, so diagnostics never form ``W_1``.
    ``learning_rate`` is each member's base rate (before the layer multipliers).

    For a :class:`~initlab.nn.model.Model`, ``Zs`` are its per-layer outputs
    (:meth:`~initlab.nn.model.Model.records`, the logits last), ``params`` and ``grads`` its
    parameters and their gradients (divided by the batch size) in its order, and
    ``grad_norm_1``/``weight_norm_1`` the Frobenius norms of its first parameter's; the
    plain network's fields (``As``, ``dZs``, ``dWs``, ``dbs``, ``weights``, ``biases``) are
    empty, and ``params``/``grads`` are None for a Network. The arrays are the loop's: read
    or copy them during the call.

    :attr:`layers` is the per-weight-layer view the diagnostics read (:class:`Layers`),
    for a Network and a Model alike; a Model's is computed when first read (its ``dZ``
    take a pass back through the network), so a hook that does not read it costs nothing.
    """

    iteration: int
    Zs: list[Array]
    As: list[Array]
    dZs: list[Array]
    dWs: list[Array | None]
    dbs: list[Array]
    grad_norm_1: Array
    weight_norm_1: Array
    weights: list[Array]
    biases: list[Array]
    learning_rate: Array
    alive: Array
    costs: Array
    columns_1: Array | None = None
    weight_columns_1: Array | None = None
    params: list[Array] | None = None
    grads: list[Array] | None = None
    layer_source: Callable[[], Layers] | None = field(default=None, repr=False)
    _layers: Layers | None = field(default=None, init=False, repr=False)

    @property
    def layers(self) -> Layers:
        """:class:`Layers` of this step, made by ``layer_source`` at the first read, which
        must come during the hook's call (the loop then moves on and closes it)."""
        if self._layers is None:
            if self.layer_source is None:
                raise InitlabError(
                    "Step.layers is read during the hook's call: the training loop's arrays "
                    "have moved on since"
                )
            self._layers = self.layer_source()
        return self._layers

    def call(self, hooks: Sequence[Hook]) -> None:
        """Every hook on this step, in order; then :attr:`layers`, if none read them, are
        never made (the loop's arrays move on)."""
        for hook in hooks:
            hook(self)
        self.layer_source = None


Hook = Callable[[Step], None]


class FirstOnDemand(list):
    """Per-layer arrays whose first (the feature-sized ``dW_1`` or ``W_1``) is formed when
    first read, by a function that gives the step's value whenever it is called (the
    gradient from the step's ``dZ_1``; :meth:`~initlab.nn.engines.SampleEngine.weight_later`),
    so a hook may keep the step."""

    def __init__(self, first: Callable[[], Array], rest: Sequence[Array]) -> None:
        super().__init__([None, *rest])
        self._first: Callable[[], Array] | None = first

    def _fill(self) -> None:
        if self._first is not None:
            first, self._first = self._first, None
            list.__setitem__(self, 0, first())

    def __getitem__(self, i):  # type: ignore[override]
        if (0 in range(len(self))[i]) if isinstance(i, slice) else i in (0, -len(self)):
            self._fill()
        return list.__getitem__(self, i)

    def __iter__(self):
        self._fill()
        return list.__iter__(self)


@dataclass
class History:
    """What a training run produced, per member.

    Attributes
    ----------
    costs : ndarray (K, T)
        Cost of each step's batch before its update; NaN after a member diverged.
    final_cost : ndarray (K,)
        Training cost of the returned parameters (whole training set); NaN if diverged.
    final_accuracy : ndarray (K,)
        The head's training accuracy of the returned parameters; NaN if diverged (and for
        the linear head).
    diverged_at : ndarray of int (K,)
        Step at which the member diverged (see the module docstring), or -1.
    engine : str
        The engine used (``"direct"`` or ``"sample"``); ``engine_reason`` says why.
    seconds : float
        Wall-clock training time.
    eval_iterations : list of int
        Steps at which ``test_costs``/``test_accuracy_history`` were measured (before that
        step's update; T means the returned parameters).
    warnings : dict
        Counts of floating-point events in the loop (``overflow``, ``invalid``, ``divide``),
        one per array operation that raised it: they depend on how many members shared
        each operation.
    warning_steps : dict
        For each kind in `warnings`, the steps at which it occurred (T: the final
        measurements). A member's arithmetic never depends on the others, so a population's
        steps are the union of its members' (or of any split of it into chunks).
    """

    costs: Array
    final_cost: Array
    final_accuracy: Array
    diverged_at: Array
    engine: str
    seconds: float
    eval_iterations: list[int] = field(default_factory=list)
    test_costs: Array | None = None
    test_accuracy_history: Array | None = None
    engine_reason: str = ""
    optimizer: str = "gd"
    head: str = "sigmoid"
    batch_size: int = 0
    steps_per_epoch: int = 1
    warnings: dict[str, int] = field(default_factory=dict)
    warning_steps: dict[str, list[int]] = field(default_factory=dict)

    @property
    def diverged(self) -> Array:
        return self.diverged_at >= 0
