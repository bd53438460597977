r"""The PyTorch peers of the studies: a population of MLPs trained by autograd, two ways.

The arithmetic is initlab's (:mod:`initlab.nn.network`, :class:`initlab.nn.residual.ResMLP`
without skips): ``X`` (n_0, m) shared by the members, :math:`Z_1 = W_1 X_B + b_1`,
:math:`Z_l = W_l \phi(Z_{l-1}) + b_l`, the softmax cross-entropy of the logits averaged over
the batch's columns, and per parameter a rate :math:`\eta_k s_i` for each member k:

- :func:`train_bmm`: every layer's members stacked, ``(K, n_l, n_{l-1})``, one batched
  product per layer (``torch.baddbmm``), the members' costs summed so that one backward gives
  each member its own gradient, and the update written with in-place tensor operations
  (plain SGD, or Adam as ``torch.optim.Adam``'s single-tensor step computes it, with a
  ``(K, 1, 1)`` rate because the members' rates differ);
- :func:`train_loop`: the ordinary way, one model per member, ``torch.optim.SGD`` or
  ``torch.optim.Adam`` with one parameter group per parameter (its rate).

``observe(t, Zs)`` sees every layer's pre-activations of step t before its update (the
coordinate check's ``mean |x|``). PyTorch is a benchmark extra, never a runtime dependency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

ACTS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda Z: Z}
Observe = Callable[[int, list], None] | None


def _tensor(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A copy (the caller's arrays are never trained in place)."""
    return torch.tensor(a, dtype=dtype)


def _cost(Z: torch.Tensor, Y: torch.Tensor, head: str = "softmax") -> torch.Tensor:
    """Per member, averaged over the columns: ``(K,)`` from ``Z`` (K, n_L, m) and ``Y``
    (n_L, m): softmax cross-entropy (one-hot ``Y``), or for the ``"linear"`` head
    :math:`\\tfrac12 \\lVert z - y \\rVert^2` (initlab's linear head)."""
    if head == "linear":
        return 0.5 * ((Z - Y) ** 2).sum(dim=-2).mean(dim=-1)
    return -(Y * torch.log_softmax(Z, dim=-2)).sum(dim=-2).mean(dim=-1)


def train_bmm(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    batches: Sequence[np.ndarray | None],
    rates: Sequence[np.ndarray],
    *,
    activation: str,
    optimizer: str = "sgd",
    observe: Observe = None,
    dtype: torch.dtype = torch.float64,
    evaluate: tuple[Sequence, Sequence] = ((), ()),
    head: str = "softmax",
) -> np.ndarray:
    """Train the stacked population on `batches` (column indices, None for all); `rates`
    per parameter ``[W_1, b_1, W_2, ...]``, each ``(K,)``. ``evaluate``: inputs whose
    logits are computed before the first step and after the last (a study's held-out
    measurements); `head` as :func:`_cost`'s. The cost before each step, (K, T)."""
    phi = ACTS[activation]
    params = []
    for W, b in zip(weights, biases, strict=True):
        params += [_tensor(W, dtype).requires_grad_(), _tensor(b, dtype).requires_grad_()]
    lrs = [_tensor(r, dtype)[:, None, None] for r in rates]
    Xt, Yt = _tensor(X, dtype), _tensor(Y, dtype)
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]

    def forward(XB):
        Zs = [torch.matmul(params[0], XB) + params[1]]
        for l in range(2, len(params), 2):
            Zs.append(torch.baddbmm(params[l + 1], params[l], phi(Zs[-1])))
        return Zs

    def measure(inputs):
        with torch.no_grad():
            for A in inputs:
                forward(_tensor(A, dtype))

    measure(evaluate[0])
    costs = []
    for t, cols in enumerate(batches):
        XB, YB = (Xt, Yt) if cols is None else (Xt[:, cols], Yt[:, cols])
        Zs = forward(XB)
        J = _cost(Zs[-1], YB, head)
        if observe is not None:
            observe(t, [Z.detach() for Z in Zs])
        grads = torch.autograd.grad(J.sum(), params)
        costs.append(J.detach().numpy())
        with torch.no_grad():
            if optimizer == "sgd":
                for p, g, lr in zip(params, grads, lrs, strict=True):
                    p.sub_(lr * g)
            else:
                _adam(params, grads, lrs, state, t + 1)
    measure(evaluate[1])
    return np.array(costs).T


def _adam(params, grads, lrs, state, t: int, b1=0.9, b2=0.999, eps=1e-8) -> None:
    """``torch.optim.Adam``'s single-tensor step with a rate per member."""
    bc1, bc2_sqrt = 1 - b1**t, math.sqrt(1 - b2**t)
    for p, g, lr, (m, v) in zip(params, grads, lrs, state, strict=True):
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / bc2_sqrt).add_(eps)
        p.sub_((lr / bc1) * (m / denom))


def train_loop(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    batches: Sequence[np.ndarray | None],
    rates: Sequence[np.ndarray],
    *,
    activation: str,
    optimizer: str = "sgd",
    observe: Observe = None,
    evaluate: Sequence[np.ndarray] = (),
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """:func:`train_bmm`'s training, one member after the other, each a model of its own
    with ``torch.optim.SGD`` / ``Adam`` (a parameter group per parameter). ``evaluate``:
    inputs whose logits each member computes after its last step (a study's final loss)."""
    phi = ACTS[activation]
    Xt, Yt = _tensor(X, dtype), _tensor(Y, dtype)
    K = weights[0].shape[0]
    costs = np.zeros((K, len(batches)))
    for k in range(K):
        params = []
        for W, b in zip(weights, biases, strict=True):
            params += [_tensor(W[k], dtype).requires_grad_(),
                       _tensor(b[k], dtype).requires_grad_()]  # fmt: skip
        groups = [{"params": [p], "lr": float(r[k])} for p, r in zip(params, rates, strict=True)]
        opt = torch.optim.SGD(groups) if optimizer == "sgd" else torch.optim.Adam(groups)

        for t, cols in enumerate(batches):
            XB, YB = (Xt, Yt) if cols is None else (Xt[:, cols], Yt[:, cols])
            Zs = _forward_one(params, XB, phi)
            J = _cost(Zs[-1][None], YB)[0]
            if observe is not None:
                observe(t, [Z.detach()[None] for Z in Zs])
            opt.zero_grad(set_to_none=True)
            J.backward()
            opt.step()
            costs[k, t] = J.item()
        with torch.no_grad():
            for A in evaluate:
                _forward_one(params, _tensor(A, dtype), phi)
    return costs


def _forward_one(params: list[torch.Tensor], XB: torch.Tensor, phi) -> list[torch.Tensor]:
    """One member's pre-activations ``Z_1 .. Z_L`` on the columns `XB`."""
    Zs = [torch.addmm(params[1], params[0], XB)]
    for l in range(2, len(params), 2):
        Zs.append(torch.addmm(params[l + 1], params[l], phi(Zs[-1])))
    return Zs
