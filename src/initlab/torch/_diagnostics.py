r"""Per-layer diagnostics, coordinate checks and ``initlab report`` results for torch modules.

Import these from :mod:`initlab.torch`. The :class:`Recorder` writes
:class:`initlab.analysis.diagnostics.Diagnostics` (one member, K = 1), the records initlab's own
networks write, so :mod:`initlab.report.diagnostics` and ``initlab report`` draw them
unchanged. Each recorded layer ``l`` (a Linear, Conv or ConvTranspose module, in forward
order) plays the part of initlab's layer ``l``:

- :math:`Z_l` is the module's output on the training batch (``(m, n_l)``, or
  ``(m, C_l, *spatial)``: statistics are over all its entries);
- :math:`A_l = \phi(Z_l)` for every layer but the last, :math:`\phi` the hidden activation
  (:func:`initlab.torch.infer_activation`); the last layer's
  :math:`A_L = \sigma(Z_L)`, as in initlab (for a multi-class head: each logit's sigmoid);
- :math:`dZ_l` is :math:`m\,\partial J / \partial Z_l`, ``m`` the batch size (dimension 0):
  initlab's "gradient not divided by m" when the loss :math:`J` is a mean over the batch
  (PyTorch's default reduction);
- ``grad_norm``, ``weight_norm`` are Frobenius norms of ``weight.grad`` and ``weight``;
  ``update_ratio`` is :math:`\eta \lVert dW_l \rVert / \lVert W_l \rVert` with the
  learning rate given to :meth:`Recorder.end` (the size of an SGD step; Adam's steps have
  another size);
- ``distinct_units`` counts distinct output units: rows of ``[W | b]`` with ``W`` viewed as
  ``(units, -1)`` (a Conv's output channels; a ConvTranspose's too, from its transposed
  layout).

Records carry one extra key, ``layers`` (the modules' names), which the figures use as
labels; initlab's readers ignore it.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from initlab._validation import InitlabError, check_number
from initlab._version import __version__
from initlab.analysis.diagnostics import DEFAULT_TOL, KINDS, QUANTITIES, Diagnostics, _histograms
from initlab.analysis.symmetry import distinct_rows
from initlab.experiment.runner import summarize_runs
from initlab.nn import activations as _activations
from initlab.torch._apply import CONV_TRANSPOSE, LAYERS, infer_activation, layer_order

_SIGMOID = _activations.get("sigmoid")


def _units(module: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` with W ``(units, -1)`` and b ``(units,)``, float64."""
    W = module.weight.detach().to("cpu", torch.float64).numpy()
    if isinstance(module, CONV_TRANSPOSE):  # (in, out/g, *k) -> (out, in/g * prod k)
        g = module.groups
        W = W.reshape(g, W.shape[0] // g, W.shape[1], -1).transpose(0, 2, 1, 3)
    W = W.reshape(module.out_channels if isinstance(module, CONV_TRANSPOSE) else W.shape[0], -1)
    b = module.bias
    b = np.zeros(W.shape[0]) if b is None else b.detach().to("cpu", torch.float64).numpy()
    return W, b


class Recorder:
    r"""Record initlab's per-layer diagnostics of a torch module during your training loop.

    Parameters
    ----------
    module : nn.Module
    batch : Tensor or tuple
        An example input, used once to find the layers' forward order.
    activation : str or Activation, optional
        The hidden activation; by default :func:`initlab.torch.infer_activation`.
    layers : sequence of str, optional
        Names of the layers to record; default every Linear/Conv/ConvTranspose called.
    record_at : iterable of int, optional
        Iterations to record (e.g. :func:`initlab.analysis.diagnostics.record_iterations`); default
        every iteration passed to :meth:`begin`.
    histogram_bins : int
    tol : float, optional
        Tolerance of ``distinct_units``; by default by the weights' dtype, as initlab's.

    Examples
    --------
    >>> rec = Recorder(model, X, record_at=record_iterations(T))  # doctest: +SKIP
    >>> for i in range(T):
    ...     opt.zero_grad()
    ...     rec.begin(i)                     # arms the hooks if i is recorded
    ...     loss = loss_fn(model(X), y)
    ...     loss.backward()
    ...     rec.end(loss, learning_rate=lr)  # measures, disarms
    ...     opt.step()
    >>> rec.result().member(0)  # doctest: +SKIP
    """

    def __init__(
        self,
        module: nn.Module,
        batch: Any,
        *,
        activation: str | _activations.Activation | None = None,
        layers: Sequence[str] | None = None,
        record_at: Sequence[int] | None = None,
        histogram_bins: int = 30,
        tol: float | None = None,
    ) -> None:
        self.activation = (
            infer_activation(module) if activation is None else _activations.get(activation)
        )
        self.names = layer_order(module, batch) if layers is None else list(layers)
        mods = dict(module.named_modules())
        bad = [n for n in self.names if not isinstance(mods.get(n), LAYERS)]
        if bad or not self.names:
            raise InitlabError(f"layers {bad} are not Linear/Conv/ConvTranspose layers of module")
        self.modules = [mods[n] for n in self.names]
        self.record_at = None if record_at is None else {int(i) for i in record_at}
        self.bins = int(check_number("histogram_bins", histogram_bins, low=1, integer=True))
        dtype = np.dtype(str(self.modules[-1].weight.dtype).removeprefix("torch."))
        self.tol = DEFAULT_TOL.get(dtype.name, DEFAULT_TOL["float32"]) if tol is None else tol
        self._Z: dict[int, torch.Tensor] = {}
        self._dZ: dict[int, torch.Tensor] = {}
        self._iteration: int | None = None
        self._rows: list[dict[str, Any]] = []
        self._iterations: list[int] = []
        self._hists: list[tuple[int, dict]] = []  # the first and the latest recorded
        self._diverged = False
        self._handles = [m.register_forward_hook(self._hook(l)) for l, m in enumerate(self.modules)]

    def _hook(self, l: int) -> Callable:
        def hook(mod, inputs, output):
            if self._iteration is None or l in self._Z:
                return
            self._Z[l] = output.detach().clone()  # clone: an in-place activation may follow
            if output.requires_grad:
                output.register_hook(lambda g: self._dZ.__setitem__(l, g.detach().clone()))

        return hook

    def begin(self, iteration: int) -> bool:
        """Arm the hooks for the coming forward/backward if `iteration` is recorded."""
        self._Z, self._dZ = {}, {}
        recorded = self.record_at is None or int(iteration) in self.record_at
        self._iteration = int(iteration) if recorded else None
        return recorded

    def end(self, loss: torch.Tensor | float, learning_rate: float) -> None:
        """Measure the armed iteration (after ``loss.backward()``, before the update)."""
        if self._iteration is None:
            return
        i, self._iteration = self._iteration, None
        cost = float(loss.detach() if isinstance(loss, torch.Tensor) else loss)
        self._diverged |= not np.isfinite(cost)
        L = len(self.modules)
        row = {q: np.full(L, np.nan) for q in QUANTITIES}
        hist = {kind: [None] * L for kind in KINDS}
        if not self._diverged:
            missing = [self.names[l] for l in range(L) if l not in self._Z or l not in self._dZ]
            if missing:
                raise InitlabError(
                    f"layers {missing} gave no output or no gradient between begin() and end(): "
                    "call begin(i), the forward pass, loss.backward(), then end(loss, lr)"
                )
            with np.errstate(all="ignore"):
                for l in range(L):
                    for q, v in self._layer(l, float(learning_rate)).items():
                        row[q][l] = v
                    for kind, V in (("A", self._A(l)), ("dZ", self._dZm(l))):
                        counts, edges = _histograms(V[None], self.bins)
                        hist[kind][l] = (counts[0], edges[0])
        row["cost"] = cost if not self._diverged else np.nan
        row["diverged"] = self._diverged
        self._rows.append(row)
        self._iterations.append(i)
        self._hists = [*self._hists[:1], (i, hist)]
        self._Z, self._dZ = {}, {}

    def _np(self, t: torch.Tensor) -> np.ndarray:
        return t.to("cpu", torch.float64).numpy()

    def _A(self, l: int) -> np.ndarray:
        Z = self._np(self._Z[l])
        return expit(Z) if l == len(self.modules) - 1 else self.activation.f(Z)

    def _dZm(self, l: int) -> np.ndarray:
        dZ = self._np(self._dZ[l])
        return dZ * dZ.shape[0]

    def _layer(self, l: int, lr: float) -> dict[str, float]:
        Z, A = self._np(self._Z[l]), self._A(l)
        act = _SIGMOID if l == len(self.modules) - 1 else self.activation
        mod = self.modules[l]
        g = mod.weight.grad
        g = float(np.linalg.norm(self._np(g))) if g is not None else np.nan
        w = float(np.linalg.norm(self._np(mod.weight.detach())))
        W, b = _units(mod)
        return {
            "z_mean": Z.mean(), "z_std": Z.std(), "a_mean": A.mean(), "a_std": A.std(),
            "saturated": act.saturated(Z, A).mean(),
            "grad_norm": g, "weight_norm": w,
            "update_ratio": lr * g / w if w > 0 else np.nan,
            "distinct_units": distinct_rows(W, b, self.tol),
        }  # fmt: skip

    def result(self) -> Diagnostics:
        """The diagnostics recorded so far (one member)."""
        if not self._rows:
            raise InitlabError("no iteration was recorded: call begin(i) ... end(loss, lr)")
        stack = lambda key: np.array([r[key] for r in self._rows])[:, None]  # noqa: E731
        series = {q: np.stack([r[q] for r in self._rows])[:, :, None] for q in QUANTITIES}
        counts, edges = {}, {}
        for kind in KINDS:
            c = np.zeros((2, len(self.modules), 1, self.bins), np.int64)
            e = np.full((2, len(self.modules), 1, self.bins + 1), np.nan)
            for j, (_, h) in enumerate((self._hists[0], self._hists[-1])):
                for l, he in enumerate(h[kind]):
                    if he is not None:
                        c[j, l, 0], e[j, l, 0] = he
            counts[kind], edges[kind] = c, e
        return Diagnostics(
            iterations=np.array(self._iterations),
            units=tuple(_units(m)[0].shape[0] for m in self.modules),
            activation=self.activation.name,
            tol=float(self.tol),
            cost=stack("cost").astype(float),
            diverged=stack("diverged").astype(bool),
            **series,
            histogram_iterations=np.array([self._hists[0][0], self._hists[-1][0]]),
            histogram_counts=counts,
            histogram_edges=edges,
        )

    def record(self) -> dict[str, Any]:
        """The one member's plain-data record (:meth:`Diagnostics.member`) with ``layers``."""
        return {**self.result().member(0), "layers": list(self.names)}

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []


# --- results that `initlab report` draws ---------------------------------------------------


def run_record(
    name: str,
    init: str,
    costs: Sequence[float],
    *,
    learning_rate: float,
    seed: int,
    diagnostics: Mapping[str, Any] | None = None,
    final_cost: float | None = None,
    train_accuracy: float | None = None,
    test_accuracy: float | None = None,
    eval_iterations: Sequence[int] = (),
    test_costs: Sequence[float] | None = None,
    test_accuracies: Sequence[float] | None = None,
    params: Mapping[str, Any] | None = None,
    lsuv: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One run's record in the layout of :func:`initlab.experiment.runner.run`'s ``runs`` entries.

    `costs` is the training loss at every iteration (before its update); `final_cost` that
    of the returned model (default: the last of `costs`); `diagnostics` is
    :meth:`Recorder.record`.
    """
    costs = np.asarray(costs, dtype=float)
    diverged = not np.isfinite(costs).all()
    return {
        "name": name, "init": init, "params": dict(params or {}), "seed": seed,
        "replicate": 0, "learning_rate": learning_rate, "activation":
        (diagnostics or {}).get("activation"), "layer_sizes": None, "engine": "torch",
        "cost_history": costs, "final_cost": costs[-1] if final_cost is None else final_cost,
        "train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
        "test_cost": None if test_costs is None else test_costs[-1],
        "diverged": diverged,
        "diverged_at": int(np.flatnonzero(~np.isfinite(costs))[0]) if diverged else None,
        "eval_iterations": list(eval_iterations), "test_cost_history": test_costs,
        "test_accuracy_history": test_accuracies, "lsuv": lsuv,
        "diagnostics": None if diagnostics is None else dict(diagnostics), "theory": None,
    }  # fmt: skip


def results(
    records: Sequence[dict[str, Any]],
    *,
    setup: Sequence[str],
    train: Mapping[str, Any],
    test: Mapping[str, Any] | None = None,
    loss: str = "loss",
) -> dict[str, Any]:
    """Results in the layout ``initlab report`` reads; write them with
    :func:`initlab.results.records.write_results`.

    Parameters
    ----------
    records : sequence of dict
        :func:`run_record` of each run.
    setup : sequence of str
        Lines describing the model, data and training loop, shown at the top of the report.
    train, test : dict
        The data: ``{"name", "n_features", "n_examples"}``.
    loss : str
        The loss's name, for the cost axis of the report's figures.
    """
    if not records:
        raise InitlabError("results need at least one run record")
    return {
        "initlab_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "setup": list(setup),
        "loss": str(loss),
        "spec": None,
        "data": {"train": dict(train), "test": None if test is None else dict(test)},
        "engine": "torch",
        "runs": list(records),
        "summary": summarize_runs(list(records)),
    }
