r"""The PyTorch contender: full-batch gradient descent on one network, backward by autograd.

Same layout and mathematics as initlab: ``X`` (n_0, m), ``W_l`` (n_l, n_{l-1}), ``b_l``
(n_l, 1), :math:`Z_l = W_l A_{l-1} + b_l`, hidden :math:`A_l = \phi(Z_l)`, cost the binary
cross-entropy of the logits ``Z_L`` (``F.binary_cross_entropy_with_logits``, mean over
examples), gradients by ``torch.autograd.grad`` (``X`` does not require a gradient, so
:math:`\partial J / \partial X` is never formed), update :math:`W \leftarrow W - \eta\, dW`.

PyTorch is an optional benchmark extra, never a runtime dependency of initlab.
"""

from __future__ import annotations

import re

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    raise SystemExit(
        "this benchmark compares against PyTorch, an optional extra that is not installed;\n"
        "install it for benchmarking only, e.g.\n"
        "  pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl\n"
        "or  pip install 'initlab[torch]'"
    ) from None

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def blas() -> str:
    """PyTorch's BLAS, from its build configuration."""
    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return found.group(1) if found else "unknown"


def tensors(arrays, dtype: str) -> list[torch.Tensor]:
    """NumPy arrays as contiguous torch tensors of `dtype` (a copy unless already that dtype)."""
    return [torch.from_numpy(np.ascontiguousarray(a)).to(DTYPES[dtype]) for a in arrays]


def train(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    learning_rate: float,
    iterations: int,
    activation: str = "tanh",
) -> np.ndarray:
    """Train one network; the cost before each update, then the final cost: (iterations + 1,)."""
    phi = ACTIVATIONS[activation]
    Ws = [W.detach().clone().requires_grad_() for W in weights]
    bs = [b.detach().clone().requires_grad_() for b in biases]
    params = Ws + bs
    costs = torch.empty(iterations + 1, dtype=torch.float64)

    def logits() -> torch.Tensor:
        A = X
        for W, b in zip(Ws[:-1], bs[:-1], strict=True):
            A = phi(W @ A + b)
        return Ws[-1] @ A + bs[-1]

    for i in range(iterations):
        J = F.binary_cross_entropy_with_logits(logits(), Y)
        grads = torch.autograd.grad(J, params)
        with torch.no_grad():
            for P, dP in zip(params, grads, strict=True):
                P.sub_(dP, alpha=learning_rate)
        costs[i] = J.detach()
    with torch.no_grad():
        costs[iterations] = F.binary_cross_entropy_with_logits(logits(), Y)
    return costs.numpy()
