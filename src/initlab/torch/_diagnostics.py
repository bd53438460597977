r"""Per-layer diagnostics of a torch module during your training loop (the :class:`Recorder`).

Import it from :mod:`initlab.torch`. The :class:`Recorder` writes
:class:`initlab.analysis.diagnostics.Diagnostics` (one member, K = 1), the records initlab's own
networks write, so :mod:`initlab.report.diagnostics` and ``initlab report`` draw them
unchanged. Each recorded layer ``l`` (a Linear, Conv or ConvTranspose module, in forward
order, named by its module path) plays the part of initlab's layer ``l``:

- :math:`Z_l` is the module's output on the training batch (``(m, n_l)``, or
  ``(m, C_l, *spatial)``: statistics are over all its entries);
- :math:`A_l` is what the model computes from it: the output of the chain of
  normalization and elementwise activation modules (:data:`FOLLOWERS`) that the forward
  pass applies to :math:`Z_l`, one after the other, found by hooks on those modules (a
  tensor's identity links a module's input to the previous one's output; values are copied
  when a module sees them, so a later in-place operation changes nothing). In a BatchNorm
  ResNet :math:`A_l = \mathrm{relu}(\mathrm{bn}(Z_l))` for a block's first convolution
  and :math:`\mathrm{bn}(Z_l)` for its second (its ReLU follows the residual sum). A layer
  no such module follows (an activation called as a function) gets
  :math:`A_l = \phi(Z_l)`, :math:`\phi` the hidden activation
  (:func:`initlab.torch.infer_activation`), and the last layer :math:`\sigma(Z_L)`, as in
  initlab (for a multi-class head: each logit's sigmoid);
- ``saturated`` is the fraction of saturated (tanh, sigmoid) or zero (ReLU) units of the
  chain's last activation module, on that module's own input and output (undefined, a
  gap, for a chain of normalization only or an activation initlab does not know);
- :math:`dZ_l` is :math:`m\,\partial J / \partial Z_l`, ``m`` the batch size (dimension 0):
  initlab's "gradient not divided by m" when the loss :math:`J` is a mean over the batch
  (PyTorch's default reduction);
- ``grad_norm``, ``weight_norm`` are Frobenius norms of ``weight.grad`` and ``weight``;
  ``update_ratio`` is :math:`\eta \lVert dW_l \rVert / \lVert W_l \rVert` with the
  learning rate given to :meth:`Recorder.end` (the size of an SGD step);
- ``distinct_units`` counts distinct output units: rows of ``[W | b]`` with ``W`` viewed as
  ``(units, -1)`` (a Conv's output channels; a ConvTranspose's too, from its transposed
  layout).

While a recorded iteration is armed, the Recorder keeps a copy of the input and the output
of every follower module (one forward pass's worth of activations) until :meth:`Recorder.end`.

Records (:meth:`Recorder.record`) carry extra keys, which initlab's readers ignore:
``layers`` (the modules' paths, the figures' labels); ``blocks`` and ``block_rms``, the
residual stream: the root mean square of each block's output per recorded iteration (a
block is a child of an ``nn.Sequential`` or ``nn.ModuleList`` holding recorded layers:
ResNet's ``layer1.0``, a Transformer's ``encoder.layers.0``); ``parameters``, for every
trainable parameter (biases and normalization included): ``grad_norm``, ``norm`` and the
measured ``update_ratio`` :math:`\lVert \theta_{t+1} - \theta_t \rVert / \lVert \theta_t
\rVert` of the optimizer's actual step (any optimizer, Adam included; measured at the next
:meth:`Recorder.begin`, so None for the last recorded iteration).

The Recorder's own computations run with one thread
(:func:`initlab.torch._threads.one_thread`); your forward and backward passes keep yours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from initlab._validation import InitlabError, check_number
from initlab.analysis.diagnostics import (
    DEFAULT_TOL,
    KINDS,
    QUANTITIES,
    Diagnostics,
)
from initlab.analysis.histograms import finite_list, member_histograms
from initlab.analysis.symmetry import distinct_rows
from initlab.nn import activations as _activations
from initlab.torch._apply import activation_of, infer_activation, layer_order
from initlab.torch._lsuv import quiet
from initlab.torch._params import CONV_TRANSPOSE, LAYERS, NORMS
from initlab.torch._threads import one_thread

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


FOLLOWERS = (*NORMS, nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU,
             nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardtanh,
             nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign)  # fmt: skip
"""Modules whose output becomes a layer's :math:`A_l` when they follow it (module docstring)."""


class Recorder:
    r"""Record initlab's per-layer diagnostics of a torch module during your training loop.

    Parameters
    ----------
    module : nn.Module
    batch : Tensor or tuple
        An example input, used once to find the layers' forward order.
    activation : str or Activation, optional
        The hidden activation (for layers no activation module follows); by default
        :func:`initlab.torch.infer_activation`.
    layers : sequence of str, optional
        Names of the layers to record; default every Linear/Conv/ConvTranspose called.
    blocks : sequence of str, optional
        Names of the modules whose output is the residual stream; default every child of an
        ``nn.Sequential``/``nn.ModuleList`` that holds a recorded layer (module docstring).
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
        blocks: Sequence[str] | None = None,
        record_at: Sequence[int] | None = None,
        histogram_bins: int = 30,
        tol: float | None = None,
    ) -> None:
        self.activation = (
            infer_activation(module) if activation is None else _activations.get(activation)
        )
        with quiet(module):
            self.names = layer_order(module, batch) if layers is None else list(layers)
        mods = dict(module.named_modules())
        bad = [n for n in self.names if not isinstance(mods.get(n), LAYERS)]
        if bad or not self.names:
            raise InitlabError(f"layers {bad} are not Linear/Conv/ConvTranspose layers of module")
        self.modules = [mods[n] for n in self.names]
        self.blocks = _blocks(module, self.names) if blocks is None else list(blocks)
        missing = [n for n in self.blocks if n not in mods]
        if missing:
            raise InitlabError(f"blocks {missing} are not modules of module")
        self.params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self.record_at = None if record_at is None else {int(i) for i in record_at}
        self.bins = int(check_number("histogram_bins", histogram_bins, low=1, integer=True))
        dtype = np.dtype(str(self.modules[-1].weight.dtype).removeprefix("torch."))
        self.tol = DEFAULT_TOL.get(dtype.name, DEFAULT_TOL["float32"]) if tol is None else tol
        self._iteration: int | None = None
        self._clear()
        self._rows: list[dict[str, Any]] = []
        self._iterations: list[int] = []
        self._hists: list[tuple[int, dict]] = []  # the first and the latest recorded
        self._stream: list[list[float]] = []
        self._param_rows: list[dict[str, list[float]]] = []
        self._snapshot: list[torch.Tensor] | None = None
        self._diverged = False
        self._handles = [m.register_forward_hook(self._hook(l)) for l, m in enumerate(self.modules)]
        followers = [m for m in module.modules() if isinstance(m, FOLLOWERS)]
        self._handles += [m.register_forward_pre_hook(self._before) for m in followers]
        self._handles += [m.register_forward_hook(self._follow) for m in followers]
        self._handles += [mods[n].register_forward_hook(self._block(b))
                          for b, n in enumerate(self.blocks)]  # fmt: skip

    def _clear(self) -> None:
        self._Z: dict[int, torch.Tensor] = {}  # clones (an in-place op may follow)
        self._Zref: dict[int, torch.Tensor] = {}  # the tensors themselves, for their identity
        self._dZ: dict[int, torch.Tensor] = {}
        self._next: dict[int, list[tuple]] = {}  # id(input) -> [(input, module, X, Y, output)]
        self._inputs: dict[int, torch.Tensor] = {}  # id(module) -> its input's values
        self._out: dict[int, torch.Tensor] = {}  # block outputs

    def _hook(self, l: int) -> Callable:
        def hook(mod, inputs, output):
            if self._iteration is None or l in self._Z:
                return
            self._Z[l], self._Zref[l] = output.detach().clone(), output
            if output.requires_grad:
                output.register_hook(lambda g: self._dZ.__setitem__(l, g.detach().clone()))

        return hook

    def _before(self, mod: nn.Module, inputs: tuple) -> None:
        """A follower's input values, before an in-place module overwrites them."""
        if self._iteration is not None and inputs and isinstance(inputs[0], torch.Tensor):
            self._inputs[id(mod)] = inputs[0].detach().clone()

    def _follow(self, mod: nn.Module, inputs: tuple, output: Any) -> None:
        """Link a follower's input tensor to its output: ``(input, module, X, Y, output)``
        (X, Y the values), in call order (an in-place module's output is its input)."""
        X = self._inputs.pop(id(mod), None)
        if X is None or self._iteration is None or not isinstance(output, torch.Tensor):
            return
        x = inputs[0]
        self._next.setdefault(id(x), []).append((x, mod, X, output.detach().clone(), output))

    def _chain(self, l: int) -> list[tuple]:
        """The followers applied one after the other to layer `l`'s output."""
        t, used, chain = self._Zref[l], {}, []
        while used.get(id(t), 0) < len(self._next.get(id(t), ())):
            entry = self._next[id(t)][used.get(id(t), 0)]
            used[id(t)] = used.get(id(t), 0) + 1
            chain.append(entry)
            t = entry[4]
        return chain

    def _block(self, b: int) -> Callable:
        def hook(mod, inputs, output):
            if self._iteration is not None and b not in self._out:
                out = output[0] if isinstance(output, tuple) else output
                self._out[b] = out.detach().clone()

        return hook

    def begin(self, iteration: int) -> bool:
        """Arm the hooks for the coming forward/backward if `iteration` is recorded (and
        measure the update the optimizer made since the last recorded iteration)."""
        self._measure_update()
        self._clear()
        recorded = self.record_at is None or int(iteration) in self.record_at
        self._iteration = int(iteration) if recorded else None
        return recorded

    def _measure_update(self) -> None:
        """``||theta_now - theta_then|| / ||theta_then||`` per parameter, for the last row."""
        if self._snapshot is None:
            return
        with torch.no_grad(), one_thread():
            ratios = []
            for (_, p), before in zip(self.params, self._snapshot, strict=True):
                d, n = float((p.detach() - before).double().norm()), float(before.double().norm())
                ratios.append(d / n if n > 0 else np.nan)
        self._param_rows[-1]["update_ratio"] = ratios
        self._snapshot = None

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
            with np.errstate(all="ignore"), one_thread():
                for l in range(L):
                    A, stats = self._layer(l, float(learning_rate))
                    for q, v in stats.items():
                        row[q][l] = v
                    for kind, V in (("A", A), ("dZ", self._dZm(l))):
                        counts, edges = member_histograms(V[None], self.bins)
                        hist[kind][l] = (counts[0], edges[0])
        row["cost"] = cost if not self._diverged else np.nan
        row["diverged"] = self._diverged
        self._rows.append(row)
        self._iterations.append(i)
        self._hists = [*self._hists[:1], (i, hist)]
        self._record_stream_and_params()
        self._clear()

    def _record_stream_and_params(self) -> None:
        """The blocks' output RMS; every parameter's gradient and norm, and a snapshot."""
        with torch.no_grad(), one_thread():
            self._stream.append([
                float(self._out[b].double().square().mean().sqrt())
                if b in self._out and not self._diverged else np.nan
                for b in range(len(self.blocks))
            ])  # fmt: skip
            grads = [np.nan if p.grad is None else float(p.grad.double().norm())
                     for _, p in self.params]  # fmt: skip
            norms = [float(p.detach().double().norm()) for _, p in self.params]
            self._snapshot = [p.detach().clone() for _, p in self.params]
        nan = [np.nan] * len(self.params)
        self._param_rows.append({"grad_norm": grads, "norm": norms, "update_ratio": nan})

    def _np(self, t: torch.Tensor) -> np.ndarray:
        return t.to("cpu", torch.float64).numpy()

    def _dZm(self, l: int) -> np.ndarray:
        dZ = self._np(self._dZ[l])
        return dZ * dZ.shape[0]

    def _A(self, l: int) -> tuple[np.ndarray, float]:
        """:math:`A_l` and its fraction saturated (module docstring)."""
        Z, last = self._np(self._Z[l]), l == len(self.modules) - 1
        chain = self._chain(l)
        if not chain:
            act = _SIGMOID if last else self.activation
            A = expit(Z) if last else act.f(Z)
            return A, float(act.saturated(Z, A).mean())
        A = self._np(chain[-1][3])
        acts = [e for e in chain if not isinstance(e[1], (*NORMS, nn.Identity))]
        act = activation_of(acts[-1][1]) if acts else None
        if act is None:  # normalization only, or an activation initlab does not know
            return A, np.nan
        _, _, X, Y, _ = acts[-1]
        return A, float(act.saturated(self._np(X), self._np(Y)).mean())

    def _layer(self, l: int, lr: float) -> tuple[np.ndarray, dict[str, float]]:
        Z = self._np(self._Z[l])
        A, saturated = self._A(l)
        mod = self.modules[l]
        g = mod.weight.grad
        g = float(np.linalg.norm(self._np(g))) if g is not None else np.nan
        w = float(np.linalg.norm(self._np(mod.weight.detach())))
        W, b = _units(mod)
        return A, {
            "z_mean": Z.mean(), "z_std": Z.std(), "a_mean": A.mean(), "a_std": A.std(),
            "saturated": saturated, "grad_norm": g, "weight_norm": w,
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
        """The one member's plain-data record (:meth:`Diagnostics.member`) with ``layers``,
        ``blocks``, ``block_rms`` and ``parameters`` (module docstring)."""
        stream = np.array(self._stream, dtype=float).reshape(len(self._stream), -1).T
        rows = self._param_rows
        params = {"names": [n for n, _ in self.params]}
        for key in ("grad_norm", "norm", "update_ratio"):
            params[key] = [finite_list(np.array([r[key][j] for r in rows], dtype=float))
                           for j in range(len(self.params))]  # fmt: skip
        return {**self.result().member(0), "layers": list(self.names),
                "blocks": list(self.blocks), "block_rms": [finite_list(s) for s in stream],
                "parameters": params}  # fmt: skip

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []


def _blocks(module: nn.Module, layers: Sequence[str]) -> list[str]:
    """Children of Sequential/ModuleList containers holding a recorded layer (not itself one)."""
    out = []
    for path, m in module.named_modules():
        for name, _ in m.named_children():
            full = f"{path}.{name}" if path else name
            inside = any(n == full or n.startswith(full + ".") for n in layers)
            if isinstance(m, nn.Sequential | nn.ModuleList) and inside and full not in layers:
                out.append(full)
    return out
