"""Factories for ``initlab audit``: each returns (model, batch) or (model, batch, loss_fn).

    initlab audit examples.torch_audit:resnet --out results/audit
    initlab report results/audit

``tanh_mlp``: a deep tanh MLP with PyTorch's default init (vanishing); ``resnet``: a ResNet
without normalization, He-initialized (its residual stream explodes); ``post_ln``: a
24-block post-LN Transformer with PyTorch's default init (gradients vanish toward the lower
blocks).
"""

import torch
from torch.nn import functional as F

from initlab.torch import apply, models


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def tanh_mlp():
    model = models.mlp([64] + [64] * 10 + [2], "tanh").double()
    return model, torch.randn(256, 64, dtype=torch.float64, generator=_gen(0))


def resnet():
    model = models.ResNet((6,), width=8, norm=None, in_channels=1)
    apply(model, "kaiming_normal", bias=None)
    X = torch.randn(16, 1, 16, 16, generator=_gen(0))
    y = torch.randint(0, 10, (16,), generator=_gen(1))
    return model, X, lambda out: F.cross_entropy(out, y)


def post_ln():
    model = models.TransformerClassifier(d_model=32, n_heads=4, n_layers=24, max_len=8)
    tokens = torch.randint(0, 100, (8, 8), generator=_gen(0))
    y = torch.randint(0, 2, (8,), generator=_gen(1))
    return model.double(), tokens, lambda out: F.cross_entropy(out, y)
