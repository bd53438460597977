r"""Per-layer diagnostics recorded during training: statistics, symmetry, histograms.

A :class:`Recorder` is a training hook (``train(..., record_at=iters, hooks=[rec])``). At
each recorded iteration :math:`i` (before that iteration's update) it measures, for every
weight layer :math:`l = 1..L` and every population member :math:`k`, from the step's
:class:`~initlab.nn.history.Layers` (``step.layers``):

- ``z_mean``, ``z_std``: mean and standard deviation of :math:`Z_l` over units and examples;
- ``a_mean``, ``a_std``: the same for :math:`A_l = \phi(Z_l)`; for the output layer
  :math:`A_L = \sigma(Z_L)`;
- ``saturated``: the fraction of entries for which ``Activation.saturated(Z, A)`` holds
  (tanh, sigmoid: outside the central 99% of the output range; ReLU: exactly 0, dead);
  the output layer uses sigmoid's rule;
- ``grad_norm``: :math:`\lVert dW_l \rVert_F`; ``weight_norm``: :math:`\lVert W_l \rVert_F`;
- ``update_ratio``: :math:`\eta_k s_l \lVert dW_l \rVert_F / \lVert W_l \rVert_F`, the
  relative size of the coming (gradient-descent) update, :math:`s_l` the learning-rate
  factor of :math:`W_l` (``lr_scale``, or the optimizer's ``layer_lr_scale``; 1 without);
  **NaN when** :math:`\lVert W_l \rVert_F = 0` (e.g. zeros init),
  whatever the gradient: a relative change of a zero matrix is undefined;
- ``distinct_units``: the number of distinct rows of :math:`[W_l \mid b_l]`
  (:func:`distinct_units`); 1 for every layer of a zeros init, :math:`n_l` for He or Xavier;
  a one-unit output layer always has 1. For layer 1 the rows are read on a
  fixed sample :math:`S` of input columns, :math:`[W_1[:, S] \mid b_1]`
  (:func:`initlab.nn.engines.diagnostic_columns`: all columns up to 1024 features, else
  1024 drawn once with seed 0), so the sample engine never materializes :math:`W_1`;
  equal rows stay equal, and rows that differ only outside :math:`S` would count as one;

and the cost. It also keeps histograms of :math:`A_l` and :math:`dZ_l` (the back-propagated
gradient, not divided by m) at the first and the last recorded iteration.

**Every network** :func:`~initlab.nn.training.train` takes is recorded the same way: the
plain :class:`~initlab.nn.network.Network` (:math:`Z_l = W_l A_{l-1} + b_l`) and any
:class:`~initlab.nn.model.Model`, whose :meth:`~initlab.nn.model.Model.layers` gives each
weight matrix's :math:`Z_l` (the pre-activation it writes), :math:`A_l = \phi(Z_l)` (the
next layer's input) and :math:`dZ_l = m\, \partial J / \partial Z_l`. For a residual
:class:`~initlab.nn.residual.ResMLP` the layers are :math:`W_{in}`, every block's
:math:`V_{l,1..J}` and :math:`W_{out}` (:meth:`~initlab.nn.residual.ResMLP.layer_names`,
so ``n_layers = 2 + depth * branch_layers``); a branch's last layer writes the residual
stream :math:`x_l`, whose statistics and gradient it carries; the branch output alone and
the learnable multipliers are not recorded
(:func:`initlab.nn.residual_layers.layers` has the math). A plain ResMLP records the
plain Network's numbers (``tests/test_model_diagnostics.py``); the layers' names are
kept (:attr:`Diagnostics.layers`).

A member that has diverged (``step.alive[k]`` False, from the iteration at which it was
marked diverged: :mod:`initlab.nn.training`) gets NaN everywhere, ``diverged`` True and no
histogram. Nothing here raises or warns on NaN or inf: statistics of an overflowing member
that is still alive are whatever IEEE arithmetic gives (inf or NaN).

Arrays are indexed ``[recorded iteration, layer, member]``, the layer axis running over
``1..L`` (index 0 is layer 1). :meth:`Diagnostics.member` gives one member as plain JSON
data and :meth:`Diagnostics.from_member_dicts` rebuilds from such dicts, so figures are
drawn from stored results (:mod:`initlab.report.diagnostics`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from initlab._validation import InitlabError, check_number
from initlab.analysis.diagnostics_data import KINDS, QUANTITIES, SCHEMA, Diagnostics  # noqa: F401
from initlab.analysis.histograms import member_histograms
from initlab.analysis.symmetry import distinct_rows, distinct_units  # noqa: F401
from initlab.nn import activations as _activations
from initlab.nn.history import Layers

Array = np.ndarray

DEFAULT_TOL = {"float64": 1e-10, "float32": 1e-4}
"""Relative tolerance of :func:`distinct_units` used by :class:`Recorder`, by weight dtype."""

_SIGMOID = _activations.get("sigmoid")


def record_iterations(T: int, per_decade: int = 3) -> list[int]:
    """A default schedule: 0, then ``per_decade`` round numbers per decade, then ``T - 1``.

    With ``per_decade = 3`` these are 1, 2, 5, 10, 20, 50, ... (``10**(j / d)`` rounded to one
    significant digit); with 1 they are 1, 10, 100, .... ``T - 1`` is the last iteration a
    hook sees (the returned network, after update ``T - 1``, is not seen).

    Examples
    --------
    >>> record_iterations(1000)
    [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 999]
    """
    T = int(check_number("T", T, low=1, integer=True))
    d = int(check_number("per_decade", per_decade, low=1, integer=True))
    its, j = {0, T - 1}, 0
    while (it := _nice(10.0 ** (j / d))) < T - 1:
        its.add(it)
        j += 1
    return sorted(its)


def _nice(x: float) -> int:
    """`x` rounded to one significant digit."""
    scale = 10.0 ** math.floor(math.log10(x))
    return int(round(x / scale) * scale)


def _norms(A: Array) -> Array:
    """Frobenius norm of each member's matrix, ``(K, p, q) -> (K,)``."""
    return np.sqrt(np.einsum("kij,kij->k", A, A))


def _first_weights(lay: Layers) -> Array:
    """``W_1`` on the step's sample of input columns (``weight_columns_1``), or all of it."""
    return lay.weights[0] if lay.weight_columns_1 is None else lay.weight_columns_1


class Recorder:
    r"""A training hook recording :class:`Diagnostics` at the iterations it is called.

    Parameters
    ----------
    n_layers : int
        L, the number of weight layers: ``len(net.weights)`` for a Network,
        ``len(model.layer_names())`` for a ResMLP.
    K : int
        Population size.
    histogram_bins : int
        Bins of the ``A`` and ``dZ`` histograms.
    activation : str or Activation
        The network's hidden activation (a :class:`~initlab.nn.training.Step` does not carry
        it); it defines ``saturated``.
    tol : float, optional
        Relative tolerance of :func:`distinct_units`; by default :data:`DEFAULT_TOL` for the
        weights' dtype (1e-10 for float64, 1e-4 otherwise).
    members : sequence of int, optional
        The members to measure (default: all). The others' statistics are NaN and cost
        nothing (a run's shadow twins, :mod:`initlab.analysis.chaos`, need no diagnostics);
        their ``cost`` and ``diverged`` are still recorded.

    Examples
    --------
    >>> rec = Recorder(len(net.weights), net.K, activation=net.activation)  # doctest: +SKIP
    >>> train(net, X, Y, learning_rate=0.01, iterations=T,
    ...       record_at=record_iterations(T), hooks=[rec])  # doctest: +SKIP
    >>> rec.result().member(0)["z_std"]  # doctest: +SKIP

    Cost per call: a few passes over every ``Z_l``, ``A_l``, ``dZ_l`` and ``W_l`` of the
    population, vectorized over members (the symmetry count loops over members and layers).
    Histograms are computed at every call; the first and the latest are kept.
    """

    def __init__(
        self,
        n_layers: int,
        K: int,
        histogram_bins: int = 30,
        *,
        activation: str | _activations.Activation,
        tol: float | None = None,
        members: Sequence[int] | None = None,
    ) -> None:
        self.n_layers = int(check_number("n_layers", n_layers, low=1, integer=True))
        self.K = int(check_number("K", K, low=1, integer=True))
        self.bins = int(check_number("histogram_bins", histogram_bins, low=1, integer=True))
        self.activation = _activations.get(activation)
        self.tol = None if tol is None else float(check_number("tol", tol, low=0))
        self._measured = np.ones(self.K, dtype=bool)
        if members is not None:
            self._measured[:] = False
            self._measured[[int(check_number("members", k, low=0, high=self.K - 1, integer=True))
                            for k in members]] = True  # fmt: skip
        self._rows: list[dict[str, Array]] = []
        self._iterations: list[int] = []
        self._first: tuple[int, dict[str, tuple[Array, Array]]] | None = None
        self._last: tuple[int, dict[str, tuple[Array, Array]]] | None = None
        self._units: tuple[int, ...] = ()
        self._unit_columns: int | None = None
        self._names: tuple[str, ...] | None = None

    def __call__(self, step: Any) -> None:
        lay: Layers = step.layers
        self._check(step, lay)
        L, K, bins = self.n_layers, self.K, self.bins
        alive = np.asarray(step.alive, dtype=bool)
        idx = np.flatnonzero(alive & self._measured)
        row = {q: np.full((L, K), np.nan) for q in QUANTITIES}
        hist = {kind: (np.zeros((L, K, bins), np.int64), np.full((L, K, bins + 1), np.nan))
                for kind in KINDS}  # fmt: skip
        with np.errstate(all="ignore"):
            for l in range(L):
                for q, v in self._layer(step, lay, l, idx).items():
                    row[q][l, idx] = v
                Ws = lay.weights[l] if l > 0 else _first_weights(lay)
                if idx.size:
                    row["distinct_units"][l, idx] = distinct_units(
                        Ws[idx], lay.biases[l][idx], self.tol
                    )
                A = lay.As[l] if l < L - 1 else None
                for kind in KINDS:
                    if idx.size:
                        V = lay.dZs[l][idx] if kind == "dZ" else (
                            A[idx] if A is not None else expit(lay.Zs[l][idx]))  # fmt: skip
                        hist[kind][0][l, idx], hist[kind][1][l, idx] = member_histograms(V, bins)
        row["cost"] = np.where(alive, step.costs, np.nan)
        row["diverged"] = ~alive
        self._rows.append(row)
        self._iterations.append(int(step.iteration))
        self._last = (int(step.iteration), hist)
        self._first = self._first or self._last

    def _layer(self, step: Any, lay: Layers, l: int, idx: Array) -> dict[str, Array]:
        """Every statistic but the symmetry count for layer ``l + 1``, members `idx` at once."""
        Z = lay.Zs[l][idx]
        last = l == self.n_layers - 1
        act, A = (_SIGMOID, expit(Z)) if last else (self.activation, lay.As[l][idx])
        first = l == 0 and lay.grad_norm_1 is not None
        g = (lay.grad_norm_1 if first else _norms(lay.dWs[l]))[idx]
        w = (lay.weight_norm_1 if first else _norms(lay.weights[l]))[idx]
        rate = np.asarray(step.learning_rate, dtype=np.float64) * lay.lr_scale[l]
        lr = np.broadcast_to(rate, (self.K,))[idx]
        return {
            "z_mean": Z.mean(axis=(1, 2)),
            "z_std": Z.std(axis=(1, 2)),
            "a_mean": A.mean(axis=(1, 2)),
            "a_std": A.std(axis=(1, 2)),
            "saturated": act.saturated(Z, A).mean(axis=(1, 2)),
            "grad_norm": g,
            "weight_norm": w,
            "update_ratio": np.where(w > 0, lr * g / np.where(w > 0, w, 1.0), np.nan),
        }

    def _check(self, step: Any, lay: Layers) -> None:
        """Validate the step against (n_layers, K) and, once, the activation."""
        L, K = len(lay.Zs), lay.Zs[0].shape[0]
        if (L, K) != (self.n_layers, self.K):
            names = "" if lay.names is None else f" ({', '.join(lay.names)})"
            raise InitlabError(
                f"Recorder(n_layers={self.n_layers}, K={self.K}) does not fit this network: "
                f"it has {L} weight layers{names} and {K} members; build it as "
                f"Recorder({L}, {K}, activation=...): n_layers is len(net.weights) for a "
                "Network, len(model.layer_names()) for a ResMLP"
            )
        if self.tol is None:
            dtype = np.dtype(lay.weights[-1].dtype).name
            self.tol = DEFAULT_TOL.get(dtype, DEFAULT_TOL["float32"])
        if not self._rows:
            self._units = tuple(Z.shape[1] for Z in lay.Zs)
            self._unit_columns = _first_weights(lay).shape[-1]
            self._names = lay.names
            alive = np.asarray(step.alive, dtype=bool)
            if self.n_layers > 1 and alive.any():
                Z, A = lay.Zs[0][alive, :, :1], lay.As[0][alive, :, :1]
                with np.errstate(all="ignore"):
                    same = np.allclose(self.activation.f(Z), A, equal_nan=True)
                if not same:
                    raise InitlabError(
                        f"the recorder was built for activation {self.activation.name!r}, "
                        "but the network's hidden activations differ: pass "
                        "activation=net.activation"
                    )

    def result(self) -> Diagnostics:
        """The diagnostics recorded so far."""
        if not self._rows:
            raise InitlabError(
                "no iteration was recorded: pass record_at=record_iterations(T) and "
                "hooks=[recorder] to train"
            )
        first, last = self._first, self._last
        stack = lambda key: np.stack([r[key] for r in self._rows])  # noqa: E731
        return Diagnostics(
            iterations=np.array(self._iterations, dtype=int),
            units=self._units,
            unit_columns=self._unit_columns,
            layers=self._names,
            activation=self.activation.name,
            tol=float(self.tol),
            cost=stack("cost"),
            diverged=stack("diverged"),
            **{q: stack(q) for q in QUANTITIES},
            histogram_iterations=np.array([first[0], last[0]]),
            histogram_counts={kind: np.stack([first[1][kind][0], last[1][kind][0]])
                              for kind in KINDS},
            histogram_edges={kind: np.stack([first[1][kind][1], last[1][kind][1]])
                             for kind in KINDS},
        )  # fmt: skip
