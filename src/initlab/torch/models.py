r"""Reference PyTorch architectures of today's shapes, built by hand.

torchvision's CPU wheels are not available everywhere initlab is tested, so the models that
initlab's PyTorch bridge is held against are written here, small and plain:

* :func:`mlp` a deep plain MLP (``Linear`` + activation, repeated);
* :class:`ResNet` torchvision's ResNet layout (``conv1``, ``bn1``, ``layer1..4`` of
  ``BasicBlock`` with ``conv1/bn1/conv2/bn2/downsample``, ``fc``); ``norm=None`` drops every
  BatchNorm (a ResNet without normalization); ``layers=(2, 2, 2, 2)`` is ResNet-18's depth;
* :class:`TransformerClassifier` token embedding, a learned positional embedding (a free
  ``nn.Parameter``), ``nn.TransformerEncoder`` (packed ``MultiheadAttention``), mean pooling,
  a linear head; ``norm_first=False`` is the post-LN Transformer;
* :class:`GPT` a small decoder-only language model with its own causal attention (separate
  ``query``/``key``/``value``/``proj`` Linear layers, so parametrizations can reach each), a
  settable attention logit scale ``attn_scale`` (default :math:`1/\sqrt{d_{head}}`), a
  feed-forward width of its own and an optional tied readout;
* :class:`LSTMTagger` an ``Embedding``, a multi-layer ``nn.LSTM`` and a linear tagger.

Every constructor takes a ``seed``: PyTorch's default initialization runs under
:func:`torch.random.fork_rng` seeded with it, so building a model never touches the caller's
global torch random state and the same seed gives the same model.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["GPT", "LSTMTagger", "ResNet", "TransformerClassifier", "build", "mlp", "seeded"]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Within the block torch's global generator is seeded with `seed`; after it, the
    caller's state is back as it was (:func:`torch.random.fork_rng`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build(factory: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``factory()`` called :func:`seeded` by `seed`."""
    with seeded(seed):
        return factory()


_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def mlp(
    widths: Sequence[int], activation: str = "tanh", *, bias: bool = True, seed: int = 0
) -> nn.Sequential:
    """A plain MLP ``Linear(widths[0], widths[1]), act, ..., Linear(widths[-2], widths[-1])``."""
    if len(widths) < 2:
        raise ValueError(f"widths needs at least an input and an output size; got {widths!r}")
    act = _ACTIVATIONS[activation]

    def make() -> nn.Sequential:
        mods: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            mods.append(nn.Linear(a, b, bias=bias))
            if i < len(widths) - 2:
                mods.append(act())
        return nn.Sequential(*mods)

    return build(make, seed)


class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: two 3x3 convolutions and an identity or 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not norm)
        self.bn1 = nn.BatchNorm2d(c_out) if norm else nn.Identity()
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=not norm)
        self.bn2 = nn.BatchNorm2d(c_out) if norm else nn.Identity()
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=not norm),
                nn.BatchNorm2d(c_out) if norm else nn.Identity(),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A ResNet in torchvision's layout; ``layers=(2, 2, 2, 2)``, ``width=64`` is ResNet-18.

    Parameters
    ----------
    layers : blocks per stage (four stages, channels ``width * (1, 2, 4, 8)``).
    num_classes : outputs of the final ``fc``.
    width : channels of the first stage.
    norm : ``"batch"`` (BatchNorm2d after every convolution) or None (no normalization;
        convolutions then carry biases).
    in_channels : input channels.
    """

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 10,
        *,
        width: int = 64,
        norm: str | None = "batch",
        in_channels: int = 3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if norm not in ("batch", None):
            raise ValueError(f"norm must be 'batch' or None; got {norm!r}")
        with seeded(seed):
            use = norm == "batch"
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=not use)
            self.bn1 = nn.BatchNorm2d(width) if use else nn.Identity()
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            c = width
            for i, n in enumerate(layers):
                c_out = width * 2**i
                blocks = [BasicBlock(c, c_out, 1 if i == 0 else 2, use)]
                blocks += [BasicBlock(c_out, c_out, 1, use) for _ in range(n - 1)]
                self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
                c = c_out
            self.n_stages = len(layers)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.n_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TransformerClassifier(nn.Module):
    """Embeddings, learned positions, ``nn.TransformerEncoder``, mean pooling, a linear head.

    ``norm_first=False`` (the default, as in the original Transformer) is post-LN.
    """

    def __init__(
        self,
        vocab: int = 100,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        num_classes: int = 2,
        *,
        max_len: int = 64,
        ffn: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        with seeded(seed):
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(torch.zeros(max_len, d_model))
            layer = nn.TransformerEncoderLayer(
                d_model,
                n_heads,
                ffn or 4 * d_model,
                dropout,
                batch_first=True,
                norm_first=norm_first,
            )
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        return self.head(self.encoder(x).mean(dim=1))


class CausalSelfAttention(nn.Module):
    r"""Causal multi-head attention, logits ``attn_scale * q . k`` (default :math:`1/\sqrt{d}`)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.attn_scale = 1.0 / math.sqrt(self.d_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (
            f(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)
            for f in (self.query, self.key, self.value)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.attn_scale)
        return self.proj(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    """A pre-LN GPT block: ``x + attn(ln1(x))``, then ``x + mlp(ln2(x))``."""

    def __init__(self, d_model: int, n_heads: int, ffn: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, ffn)
        self.act = nn.GELU()
        self.fc_out = nn.Linear(ffn, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc_out(self.act(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """A small decoder-only language model: logits (B, T, vocab) from tokens (B, T).

    ``ffn`` is the feed-forward width (default ``4 * d_model``); ``tied=True`` makes the
    readout share the token embedding's weight (``readout.weight is embed.weight``).
    """

    def __init__(
        self,
        vocab: int = 65,
        d_model: int = 64,
        n_heads: int = 4,
        n_layers: int = 2,
        *,
        max_len: int = 64,
        ffn: int | None = None,
        tied: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        with seeded(seed):
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = nn.Embedding(max_len, d_model)
            self.blocks = nn.ModuleList(
                Block(d_model, n_heads, ffn or 4 * d_model) for _ in range(n_layers)
            )
            self.ln_f = nn.LayerNorm(d_model)
            self.readout = nn.Linear(d_model, vocab, bias=False)
            if tied:
                self.readout.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(T, device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.readout(self.ln_f(x))


class LSTMTagger(nn.Module):
    """``Embedding`` -> multi-layer ``nn.LSTM`` (batch first) -> ``Linear`` tag scores per token."""

    def __init__(
        self,
        vocab: int = 100,
        embed_dim: int = 16,
        hidden: int = 24,
        n_layers: int = 2,
        n_tags: int = 5,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        with seeded(seed):
            self.embed = nn.Embedding(vocab, embed_dim)
            self.lstm = nn.LSTM(embed_dim, hidden, n_layers, batch_first=True)
            self.tagger = nn.Linear(hidden, n_tags)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.tagger(out)
