"""initlab.torch.schemes: each scheme's draws against its paper's formula, and the audit
showing it does what the paper claims on a deep hand-built model (small widths, short
sequences, so that each runs in seconds)."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from initlab._validation import InitlabError
from initlab.torch import apply, audit, models
from initlab.torch import schemes as S


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _std(params) -> float:
    return float(torch.cat([p.detach().double().flatten() for p in params]).std())


def test_gpt2_draws_its_stds_and_divides_the_branches_variance_by_2n():
    N = 8
    model = models.GPT(vocab=65, d_model=64, n_layers=N, max_len=16).double()
    tokens = torch.randint(0, 65, (4, 16), generator=_gen(1))
    plain, gpt2 = copy.deepcopy(model), copy.deepcopy(model)
    apply(plain, None, rules=S.gpt2_rules(N, projections=()), bias=None, seed=0)
    apply(gpt2, None, rules=S.gpt2_rules(N), bias=None, seed=0)
    projections = [b.attn.proj.weight for b in gpt2.blocks] + [b.fc_out.weight for b in
                                                               gpt2.blocks]  # fmt: skip
    assert _std(projections) == pytest.approx(0.02 / math.sqrt(2 * N), rel=0.02)
    assert _std(b.fc.weight for b in gpt2.blocks) == pytest.approx(0.02, rel=0.02)
    assert _std([gpt2.embed.weight]) == pytest.approx(0.02, rel=0.02)
    assert all(float(b.fc.bias.detach().abs().max()) == 0 for b in gpt2.blocks)
    # the stream's variance: each block adds its branches' output; the projections' scale
    # 1/sqrt(2N) divides what they add by 2N (Radford et al.: "the accumulation on the
    # residual path")
    grow = {}
    for name, m in (("plain", plain), ("gpt2", gpt2)):
        b = audit(m, tokens, fix=False, probes=1, power_iters=1).blocks
        grow[name] = b[-1]["growth"] - 1
        assert all(x["growth"] < y["growth"] for x, y in itertools.pairwise(b))
    assert grow["plain"] > 5
    assert grow["gpt2"] / grow["plain"] == pytest.approx(1 / (2 * N), rel=0.35)


def _he_resnet(blocks=4):
    model = models.ResNet((blocks,), width=8, norm=None, in_channels=1)
    return model, torch.randn(8, 1, 16, 16, generator=_gen(1))


def test_fixup_zeroes_branch_ends_and_the_head_and_rescales_the_rest():
    model, X = _he_resnet(4)
    apply(model, "kaiming_normal", rules=S.fixup_rules(4), seed=0)
    blocks = list(model.layer1)
    assert all(float(b.conv2.weight.detach().abs().max()) == 0 for b in blocks)
    assert float(model.fc.weight.detach().abs().max()) == 0
    fan_in = 8 * 9
    assert _std(b.conv1.weight for b in blocks) == pytest.approx(
        math.sqrt(2 / fan_in * 4 ** (-1 / (2 - 1))), rel=0.05)  # fmt: skip
    a = audit(model, X, fix=False, probes=1, power_iters=2)
    # every residual block is the identity at initialization: relu(x + 0) = x for x >= 0
    for b in a.blocks:
        assert b["out_ms"] == pytest.approx(b["in_ms"], rel=1e-12)
        assert b["verdict"] == "healthy"
    # step 3, a scalar multiplier (init 1) per branch, changes nothing at initialization
    before = model(X)
    S.residual_scalars(model, [f"layer1.{i}.conv2" for i in range(4)], 1.0)
    assert torch.equal(model(X), before)


def test_skipinit_and_rezero_make_every_block_the_identity_with_a_learnable_scalar():
    model, X = _he_resnet(4)
    apply(model, "kaiming_normal", seed=0)
    ends = [f"layer1.{i}.conv2" for i in range(4)]
    names = S.skipinit(model, ends)
    assert names == [f"{e}.residual_scale" for e in ends]
    params = dict(model.named_parameters())
    assert all(float(params[n]) == 0 for n in names)
    a = audit(model, X, fix=False, probes=1, power_iters=2)
    assert all(b["out_ms"] == pytest.approx(b["in_ms"], rel=1e-12) for b in a.blocks)
    loss = model(X).square().mean()
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    assert all(float(g.abs()) > 0 for g in grads)  # alpha learns from the first step
    copied = copy.deepcopy(model)  # the hook reads the copy's own scalar
    with torch.no_grad():
        copied.layer1[0].conv2.residual_scale.fill_(1.0)
    assert not torch.equal(copied(X), model(X))
    with pytest.raises(InitlabError, match="already has a residual_scale"):
        S.skipinit(model, ends[:1])
    # ReZero on an LN-free Transformer: the input-output Jacobian is the identity
    enc = S.PostLNEncoder(n_layers=6, norm=False, max_len=8).double()
    S.rezero(enc, [f"blocks.{i}.{e}" for i in range(6) for e in ("attn.proj", "fc_out")])
    tokens = torch.randint(0, 100, (4, 8), generator=_gen(1))
    b = audit(enc, tokens, fix=False, probes=2, power_iters=2).blocks
    assert all(x["jac"] == pytest.approx(1.0, abs=1e-12) for x in b)


def test_t_fixup_draws_its_scales_and_bounds_the_stream_without_layernorm():
    N, d = 24, 32
    tokens = torch.randint(0, 100, (4, 8), generator=_gen(1))
    xavier = S.PostLNEncoder(n_layers=N, norm=False, max_len=8).double()
    tfixup = copy.deepcopy(xavier)
    apply(xavier, None, rules=[(nn.Linear, "xavier_normal"), ("*.bias", "zeros")], seed=0)
    apply(tfixup, None, rules=S.t_fixup_rules(N, d), seed=0)
    c = 0.67 * N**-0.25
    blocks = list(tfixup.blocks)
    assert _std(b.attn.value.weight for b in blocks) == pytest.approx(
        c * math.sqrt(2 / (d + d)), rel=0.03)  # fmt: skip
    assert _std(b.fc.weight for b in blocks) == pytest.approx(
        c * math.sqrt(2 / (d + 4 * d)), rel=0.03)  # fmt: skip
    assert _std(b.attn.query.weight for b in blocks) == pytest.approx(
        math.sqrt(2 / (d + d)), rel=0.03)  # fmt: skip
    assert _std([tfixup.embed.weight]) == pytest.approx(d**-0.5, rel=0.03)
    dec = S.t_fixup_rules(N, d, decoder=True)
    assert dict((p, s) for p, s in dec if isinstance(p, str))["embed.weight"]["std"] == \
        pytest.approx(d**-0.5 * (9 * N) ** -0.25)  # fmt: skip
    # without LayerNorm, Xavier lets the stream explode with depth; T-Fixup keeps it O(1)
    grow = {n: audit(m, tokens, fix=False, probes=1, power_iters=1).blocks[-1]["growth"]
            for n, m in (("xavier", xavier), ("t_fixup", tfixup))}  # fmt: skip
    assert grow["xavier"] > 1e6
    assert 0.5 < grow["t_fixup"] < 2


def test_deepnorm_constants_match_the_paper():
    a, b = S.deepnorm_constants(n_encoder=48)["encoder"]
    assert (a, b) == pytest.approx((96**0.25, 384**-0.25))
    a, b = S.deepnorm_constants(n_decoder=12)["decoder"]
    assert (a, b) == pytest.approx((24**0.25, 96**-0.25))
    both = S.deepnorm_constants(6, 6)
    assert both["encoder"] == pytest.approx((0.81 * (6**5) ** (1 / 16), 0.87 * (6**5) ** (-1 / 16)))
    assert both["decoder"] == pytest.approx((18**0.25, 72**-0.25))
    with pytest.raises(InitlabError):
        S.deepnorm_constants()


def test_deepnorm_keeps_a_deep_post_ln_transformer_stable():
    L, d = 32, 32
    tokens = torch.randint(0, 100, (4, 8), generator=_gen(1))
    alpha, beta = S.deepnorm_constants(L)["encoder"]
    result = {}
    for name, (a, b) in (("post-ln", (1.0, 1.0)), ("deepnorm", (alpha, beta))):
        model = S.PostLNEncoder(n_layers=L, d_model=d, alpha=a, max_len=8).double()
        apply(model, None, rules=S.deepnorm_rules(b), seed=0)
        if name == "deepnorm":
            v = [blk.attn.value.weight for blk in model.blocks]
            assert _std(v) == pytest.approx(beta * math.sqrt(2 / (d + d)), rel=0.03)
            q = [blk.attn.query.weight for blk in model.blocks]
            assert _std(q) == pytest.approx(math.sqrt(2 / (d + d)), rel=0.03)
        result[name] = audit(model, tokens, lambda o: F.cross_entropy(o, o.new_zeros(
            len(o), dtype=torch.long)), fix=False, probes=2, power_iters=2)  # fmt: skip
    spread = {}
    for name, a in result.items():
        g = [b["grad_n2"] for b in a.blocks]
        spread[name] = max(g) / min(g)
    # post-LN: the gradient reaching each block swings by a large factor over the depth,
    # and the audit flags blocks; DeepNorm (Wang et al. 2022): flat gradients, a Jacobian
    # from the embeddings to the top that is the identity's, every layer healthy
    assert spread["post-ln"] > 3
    assert set(result["post-ln"].verdicts().values()) != {"healthy"}
    assert spread["deepnorm"] < 1.5
    assert result["deepnorm"].blocks[-1]["jac"] == pytest.approx(1.0, abs=0.1)
    assert set(result["deepnorm"].verdicts().values()) == {"healthy"}


def test_small_init_embeddings_and_what_the_first_layernorm_makes_of_them():
    model = models.GPT(vocab=65, d_model=64, n_layers=2, max_len=16).double()
    apply(model, None, rules=S.small_embedding_rules(), seed=0)
    E = model.embed.weight.detach().clone()
    assert float(E.abs().max()) <= 1e-4
    assert float(E.std()) == pytest.approx(1e-4 / math.sqrt(3), rel=0.03)
    tokens = torch.randint(0, 65, (8, 16), generator=_gen(1))
    rows = {r["name"]: r for r in audit(model, tokens, fix=False, probes=1,
                                        power_iters=1).layers}  # fmt: skip
    # the audit shows LayerNorm's eps (1e-5) dominating the tiny variance v of the token
    # and position embeddings (both U(+-1e-4)): LN(x) has second moment v / (v + eps), not 1
    v = 2 * 1e-8 / 3
    assert rows["blocks.0.attn.query"]["in_ms"] == pytest.approx(v / (v + 1e-5), rel=0.05)
    # and one Adam step moves the embedding far from its start (Peng et al. 2023, sec. 3.4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    F.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten()).backward()
    opt.step()
    assert float((model.embed.weight.detach() - E).norm() / E.norm()) > 5
