r"""The input-output Jacobian of a torch model at its initialization, for
:func:`initlab.torch.audit`: Hutchinson's estimate of every layer's gain by forward-mode
JVPs and the largest singular value by power iteration (the formulas are in
:mod:`initlab.torch._probe`'s docstring).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD
from torch import nn

from initlab.torch._apply import _run, layer_order
from initlab.torch._probe import Hooks, first_tensor


@contextmanager
def forward_mode() -> Iterator[None]:
    """Forward-mode AD with oneDNN off: its recurrent kernels (``nn.LSTM``) have no JVP,
    PyTorch's own do."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*oneDNN.*")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def input_site(model: nn.Module, batch: Any) -> tuple[str | None, nn.Module | None]:
    """Where J starts: the batch if floating point, else the first Embedding's output."""
    x = first_tensor(batch)
    if x is not None and x.is_floating_point():
        return "input", None
    order = layer_order(model, batch, types=(nn.Embedding,))
    if not order:
        return None, None
    return f"output of {order[0]}", model.get_submodule(order[0])


def _run_at(model: nn.Module, batch: Any, site: nn.Module | None, x: torch.Tensor) -> Any:
    """The model's output with the input site's value replaced by `x`."""
    if site is None:
        if isinstance(batch, tuple | list):
            i = next(i for i, t in enumerate(batch) if isinstance(t, torch.Tensor))
            return _run(model, (*batch[:i], x, *batch[i + 1 :]))
        return model(x)
    h = site.register_forward_hook(lambda m, i, o: x)
    try:
        return _run(model, batch)
    finally:
        h.remove()


def site_value(model: nn.Module, batch: Any, site: nn.Module | None) -> torch.Tensor:
    if site is None:
        return first_tensor(batch).detach()
    seen = []
    h = site.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    try:
        with torch.no_grad():
            _run(model, batch)
    finally:
        h.remove()
    return seen[0]


def _norm2(t: torch.Tensor | None) -> float | None:
    return None if t is None else float(t.double().pow(2).sum())


def gains(model, batch, site, x0, names, probes, gen) -> dict[tuple[str, str], float]:
    r"""Hutchinson: :math:`\sum_k \lVert J_l v_k\rVert^2 / \sum_k \lVert v_k\rVert^2` for
    every layer's input and output and every block's output."""
    sums: dict[tuple[str, str], float] = {}
    hooks = Hooks(model, names)

    def add(key, t):
        n2 = _norm2(None if t is None else fwAD.unpack_dual(t).tangent)
        if n2 is not None:
            sums[key] = sums.get(key, 0.0) + n2

    done: set = set()

    def on_layer(name, mod, x, z, tag):
        if (k, name) not in done:
            done.add((k, name))
            add(("in", name), x)
            add(("out", name), z)

    def on_block(name, x, y):
        if (k, "block:" + name) not in done:
            done.add((k, "block:" + name))
            add(("block", name), y)

    hooks.on_layer, hooks.on_block = on_layer, on_block
    total = 0.0
    try:
        with torch.no_grad(), fwAD.dual_level(), forward_mode():
            for k in range(probes):  # noqa: B007 (the hooks read k)
                v = torch.randn(x0.shape, generator=gen, dtype=torch.float64).to(x0.dtype)
                total += float(v.double().pow(2).sum())
                _run_at(model, batch, site, fwAD.make_dual(x0, v))
    finally:
        hooks.remove()
    return {key: s / total for key, s in sums.items()}


def sv_max(model, batch, site, x0, iters, gen) -> float | None:
    r"""Largest singular value of the batch's input-output Jacobian by power iteration:
    :math:`u = J v` by forward mode, :math:`w = J^T u` by reverse mode, :math:`v = w/\lVert
    w\rVert`; returns :math:`\lVert J v\rVert` after `iters` steps."""
    v = torch.randn(x0.shape, generator=gen, dtype=torch.float64).to(x0.dtype)
    v = v / v.norm()
    s = None
    for _ in range(iters):
        with torch.no_grad(), fwAD.dual_level(), forward_mode():
            u = fwAD.unpack_dual(
                first_tensor(_run_at(model, batch, site, fwAD.make_dual(x0, v)))
            ).tangent
        if u is None:
            return 0.0
        s = float(u.double().norm())
        x = x0.clone().requires_grad_(True)
        y = first_tensor(_run_at(model, batch, site, x))
        (w,) = torch.autograd.grad(y, x, u)
        n = w.norm()
        if float(n) == 0.0:
            return 0.0
        v = (w / n).detach()
    return s
