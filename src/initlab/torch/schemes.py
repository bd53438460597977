r"""Initialization schemes of deep residual networks and Transformers, for torch modules.

Each scheme that only draws values returns :func:`initlab.torch.apply` rules (glob patterns
over parameter names, with defaults for :mod:`initlab.torch.models`' names), so it composes
with any default scheme: ``apply(model, "xavier_normal", rules=gpt2_rules(12))``. The
schemes that change what a block computes (SkipInit, ReZero, Fixup's multipliers,
DeepNorm's :math:`\alpha`) are a learnable scalar on a branch's output
(:func:`residual_scalars`) or a block that takes :math:`\alpha` (:class:`PostLNEncoder`).

* GPT-2 (Radford et al. 2019): every weight :math:`N(0, 0.02^2)`, the residual
  projections :math:`N(0, (0.02/\sqrt{2N})^2)` for :math:`N` blocks, biases 0;
* Fixup (Zhang et al. 2019): the last layer of each branch and the classifier 0, the other
  branch layers He :math:`\times L^{-1/(2m-2)}` (:math:`L` branches of :math:`m` layers),
  a scalar multiplier (init 1) per branch;
* SkipInit (De & Smith 2020) and ReZero (Bachlechner et al. 2021): :math:`x + \alpha f(x)`,
  :math:`\alpha` learnable, init 0 (ReZero also drops the norms);
* T-Fixup (Huang et al. 2020): Xavier, embeddings :math:`N(0, d^{-1})`, the encoder's
  value, output and MLP weights :math:`\times 0.67 N^{-1/4}`, a decoder's and the
  embeddings :math:`\times (9M)^{-1/4}`, no LayerNorm;
* DeepNorm (Wang et al. 2022): :math:`x_{l+1} = LN(\alpha x_l + G_l(x_l))`, value, output
  and MLP weights Xavier normal with gain :math:`\beta`, query and key gain 1;
* small-init embeddings (Peng et al. 2023, RWKV): :math:`U(-10^{-4}, 10^{-4})`, a
  LayerNorm after them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from initlab._validation import InitlabError, check_number
from initlab.torch.models import seeded

Rule = tuple[Any, Any]
__all__ = [
    "PostLNEncoder", "deepnorm_constants", "deepnorm_rules", "fixup_rules", "gpt2_rules",
    "residual_scalars", "rezero", "skipinit", "small_embedding_rules", "t_fixup_rules",
]  # fmt: skip


def _positive(name: str, n: Any) -> int:
    return int(check_number(name, n, low=1, integer=True))


def gpt2_rules(
    n_layers: int,
    *,
    std: float = 0.02,
    projections: Sequence[str] = ("*.attn.proj.weight", "*.fc_out.weight"),
) -> list[Rule]:
    r"""GPT-2's initialization (Radford et al. 2019, sec. 2.3; nanoGPT's ``_init_weights``).

    .. math::

        W \sim N(0, \sigma^2) \text{ (Linear, Embedding)}, \qquad
        W_{proj} \sim N\!\left(0, \frac{\sigma^2}{2N}\right), \qquad b = 0,

    :math:`\sigma` = `std`, :math:`N` = `n_layers` blocks, each adding two residual
    branches (attention and MLP) whose output projections are `projections`: so the
    :math:`2N` branches add a variance of :math:`\sigma^2` in all to the stream.
    """
    n = _positive("n_layers", n_layers)
    s = float(check_number("std", std, low=0, low_open=True))
    scaled = {"name": "normal", "std": s / math.sqrt(2 * n)}
    plain = {"name": "normal", "std": s}
    return [*((p, scaled) for p in projections), (nn.Linear, plain), (nn.Embedding, plain),
            ("*.bias", "zeros")]  # fmt: skip


def fixup_rules(
    n_branches: int,
    *,
    branch_layers: int = 2,
    inner: Sequence[str] = ("*.conv1.weight",),
    ends: Sequence[str] = ("*.conv2.weight",),
    head: Sequence[str] = ("fc.weight", "fc.bias"),
    nonlinearity: str = "relu",
) -> list[Rule]:
    r"""Fixup's rescaling (Zhang et al. 2019, sec. 3, steps 1-2).

    The last layer of every residual branch (`ends`) and the classifier (`head`) 0; the
    other layers of the branches (`inner`) He-initialized and scaled by
    :math:`L^{-1/(2m-2)}`, :math:`L` = `n_branches`, :math:`m` = `branch_layers`:

    .. math::

        W \sim N\!\left(0, \frac{g^2}{n_{in}}\, L^{-1/(m-1)}\right).

    Step 3 (a scalar multiplier, init 1, per branch and scalar biases) is
    :func:`residual_scalars` with ``init=1``; the scalar biases are not added.
    """
    L = _positive("n_branches", n_branches)
    m = int(check_number("branch_layers", branch_layers, low=2, integer=True))
    gain2 = 2.0 if nonlinearity == "relu" else 1.0
    he = {"name": "variance_scaling", "scale": gain2 * L ** (-1 / (m - 1)), "mode": "fan_in",
          "distribution": "normal"}  # fmt: skip
    return [*((p, "zeros") for p in (*ends, *head)), *((p, he) for p in inner)]


def _xavier(gain: float) -> dict[str, Any]:
    return {"name": "xavier_normal", "gain": gain}


def t_fixup_rules(
    n_layers: int,
    d_model: int,
    *,
    decoder: bool = False,
    scaled: Sequence[str] = ("*.value.weight", "*.proj.weight", "*.fc.weight", "*.fc_out.weight"),
    embeddings: Sequence[str] = ("embed.weight",),
) -> list[Rule]:
    r"""T-Fixup (Huang et al. 2020, sec. 3.3), for a Transformer without LayerNorm.

    Xavier (normal) for every Linear; embeddings :math:`N(0, d^{-1})` (std
    :math:`d^{-1/2}`); the attention value and output projections and the MLP weights
    (`scaled`) times :math:`0.67 N^{-1/4}` for an encoder of :math:`N` layers, or
    :math:`(9M)^{-1/4}` for a decoder of :math:`M` layers (`decoder=True`), which also
    scales the input embeddings by :math:`(9M)^{-1/4}`.
    """
    n = _positive("n_layers", n_layers)
    d = _positive("d_model", d_model)
    c = (9 * n) ** -0.25 if decoder else 0.67 * n**-0.25
    emb = {"name": "normal", "std": d**-0.5 * (c if decoder else 1.0)}
    return [*((p, _xavier(c)) for p in scaled), *((p, emb) for p in embeddings),
            (nn.Linear, _xavier(1.0)), ("*.bias", "zeros")]  # fmt: skip


def deepnorm_constants(n_encoder: int = 0, n_decoder: int = 0) -> dict[str, tuple[float, float]]:
    r"""DeepNorm's :math:`(\alpha, \beta)` per part (Wang et al. 2022, Table 1).

    Encoder only (:math:`N` layers): :math:`\alpha = (2N)^{1/4}`, :math:`\beta =
    (8N)^{-1/4}`; decoder only (:math:`M`): :math:`(2M)^{1/4}`, :math:`(8M)^{-1/4}`;
    encoder-decoder: encoder :math:`0.81 (N^4 M)^{1/16}`, :math:`0.87 (N^4 M)^{-1/16}`,
    decoder :math:`(3M)^{1/4}`, :math:`(12M)^{-1/4}`.
    """
    N = int(check_number("n_encoder", n_encoder, low=0, integer=True))
    M = int(check_number("n_decoder", n_decoder, low=0, integer=True))
    if N and M:
        return {"encoder": (0.81 * (N**4 * M) ** (1 / 16), 0.87 * (N**4 * M) ** (-1 / 16)),
                "decoder": ((3 * M) ** 0.25, (12 * M) ** -0.25)}  # fmt: skip
    if N or M:
        k = N or M
        return {"encoder" if N else "decoder": ((2 * k) ** 0.25, (8 * k) ** -0.25)}
    raise InitlabError("deepnorm_constants needs n_encoder or n_decoder >= 1")


def deepnorm_rules(
    beta: float,
    *,
    scaled: Sequence[str] = ("*.value.weight", "*.proj.weight", "*.fc.weight", "*.fc_out.weight"),
    unscaled: Sequence[str] = ("*.query.weight", "*.key.weight"),
) -> list[Rule]:
    r"""DeepNorm's initialization (Wang et al. 2022, Fig. 2): Xavier normal with gain
    :math:`\beta` for the value, output and MLP weights, gain 1 for query and key, biases
    0. Pair it with blocks computing :math:`LN(\alpha x + G(x))`
    (:class:`PostLNEncoder`)."""
    b = float(check_number("beta", beta, low=0, low_open=True))
    return [*((p, _xavier(b)) for p in scaled), *((p, _xavier(1.0)) for p in unscaled),
            ("*.bias", "zeros")]  # fmt: skip


def small_embedding_rules(scale: float = 1e-4) -> list[Rule]:
    r"""Small-init embeddings (Peng et al. 2023, RWKV, sec. 3.4): every Embedding weight
    :math:`U(-s, s)`, :math:`s` = `scale`; the model should put a LayerNorm right after."""
    s = float(check_number("scale", scale, low=0, low_open=True))
    return [(nn.Embedding, {"name": "uniform", "a": -s, "b": s})]


# --- learnable scalars on residual branches ------------------------------------------------


def _scale_output(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    return output * module.residual_scale  # a module-level hook: deepcopy and pickle keep it


def residual_scalars(model: nn.Module, ends: Sequence[str], init: float) -> list[str]:
    r"""Multiply the output of each module named in `ends` (the last layer of a residual
    branch, so the block computes :math:`x + \alpha f(x)`) by a learnable scalar
    ``residual_scale`` initialized to `init`, registered on that module (so optimizers and
    ``state_dict`` see it). Returns the new parameters' names."""
    names = []
    for n in ends:
        try:
            m = model.get_submodule(n)
        except AttributeError:
            raise InitlabError(f"residual_scalars: {n!r} names no submodule") from None
        if hasattr(m, "residual_scale"):
            raise InitlabError(f"residual_scalars: {n!r} already has a residual_scale")
        p = next(iter(m.parameters()), None)
        m.register_parameter("residual_scale", nn.Parameter(torch.full(
            (), float(init), dtype=p.dtype if p is not None else None)))  # fmt: skip
        m.register_forward_hook(_scale_output)
        names.append(f"{n}.residual_scale")
    return names


def skipinit(model: nn.Module, ends: Sequence[str], init: float = 0.0) -> list[str]:
    r"""SkipInit (De & Smith 2020): :math:`x + \alpha f(x)` with :math:`\alpha` learnable,
    initially 0 (or a small constant), in a residual network without normalization."""
    return residual_scalars(model, ends, init)


def rezero(model: nn.Module, ends: Sequence[str]) -> list[str]:
    r"""ReZero (Bachlechner et al. 2021): :math:`x_{i+1} = x_i + \alpha_i F(x_i)`,
    :math:`\alpha_i = 0` learnable, one per residual branch; the paper drops LayerNorm."""
    return residual_scalars(model, ends, 0.0)


# --- a post-LN Transformer whose residual takes alpha (DeepNorm) ----------------------------


class _Attention(nn.Module):
    """Bidirectional multi-head attention with separate query/key/value/proj layers."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (f(x).view(B, T, self.heads, D // self.heads).transpose(1, 2)
                   for f in (self.query, self.key, self.value))  # fmt: skip
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, D))


class PostLNBlock(nn.Module):
    r""":math:`y = LN(\alpha x + A(x))`, then :math:`LN(\alpha y + W_2\,\mathrm{relu}(W_1 y))`
    (``norm=False``: without the LayerNorms, for T-Fixup)."""

    def __init__(self, d: int, heads: int, ffn: int, alpha: float, norm: bool) -> None:
        super().__init__()
        self.alpha = alpha
        self.attn = _Attention(d, heads)
        self.ln1 = nn.LayerNorm(d) if norm else nn.Identity()
        self.fc, self.fc_out = nn.Linear(d, ffn), nn.Linear(ffn, d)
        self.ln2 = nn.LayerNorm(d) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(self.alpha * x + self.attn(x))
        return self.ln2(self.alpha * x + self.fc_out(F.relu(self.fc(x))))


class PostLNEncoder(nn.Module):
    r"""Token embedding, learned positions, `n_layers` :class:`PostLNBlock`, mean pooling,
    a linear head. ``alpha=1`` is the original post-LN Transformer (Vaswani et al. 2017);
    DeepNorm sets ``alpha`` from :func:`deepnorm_constants`. Built under torch's forked RNG
    seeded with `seed`, as :mod:`initlab.torch.models` are."""

    def __init__(self, vocab: int = 100, d_model: int = 32, n_heads: int = 4,
                 n_layers: int = 6, num_classes: int = 2, *, max_len: int = 64,
                 ffn: int | None = None, alpha: float = 1.0, norm: bool = True,
                 seed: int = 0) -> None:  # fmt: skip
        super().__init__()
        with seeded(seed):
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(torch.zeros(max_len, d_model))
            self.blocks = nn.ModuleList(
                PostLNBlock(d_model, n_heads, ffn or 4 * d_model, alpha, norm)
                for _ in range(n_layers)
            )
            self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(dim=1))
