"""The hand-built reference architectures of initlab.torch.models (torchvision is not used)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from initlab.torch import models  # noqa: E402

CASES = [
    (lambda s: models.ResNet(layers=(1, 1, 1, 1), width=8, seed=s), (2, 3, 32, 32), None, (2, 10)),
    (
        lambda s: models.ResNet(layers=(1, 1), width=8, norm=None, seed=s),
        (2, 3, 16, 16),
        None,
        (2, 10),
    ),
    (lambda s: models.TransformerClassifier(seed=s), (2, 10), 100, (2, 2)),
    (lambda s: models.GPT(tied=True, seed=s), (2, 10), 65, (2, 10, 65)),
    (lambda s: models.LSTMTagger(seed=s), (2, 7), 100, (2, 7, 5)),
    (lambda s: models.mlp([4, 8, 8, 1], seed=s), (3, 4), None, (3, 1)),
]


@pytest.mark.parametrize(("make", "shape", "vocab", "out"), CASES)
def test_seeded_without_touching_global_rng(make, shape, vocab, out):
    state = torch.random.get_rng_state()
    a, b, c = make(3), make(3), make(4)
    assert torch.equal(state, torch.random.get_rng_state())
    pa, pb, pc = (list(m.parameters()) for m in (a, b, c))
    assert all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(pa, pc, strict=True))
    gen = torch.Generator().manual_seed(0)
    x = (
        torch.randint(0, vocab, shape, generator=gen)
        if vocab
        else torch.randn(shape, generator=gen)
    )
    assert a(x).shape == out


def test_layouts_as_documented():
    r = models.ResNet(seed=0)  # ResNet-18: 4 stages of 2 BasicBlocks, 11.2M parameters
    assert [len(getattr(r, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    assert sum(p.numel() for p in r.parameters()) == 11_181_642
    g = models.GPT(tied=True, seed=0)
    assert g.readout.weight is g.embed.weight
    assert g.blocks[0].attn.attn_scale == pytest.approx(1 / 4)  # d_head = 64 / 4
    t = models.TransformerClassifier(norm_first=False, seed=0)
    assert not t.encoder.layers[0].norm_first
