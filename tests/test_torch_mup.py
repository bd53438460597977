"""initlab.torch's width/depth parametrizations held to the mup package (1.0.0) and to
independent multiplier-free references."""

from __future__ import annotations

import copy
import math

import mup
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from initlab import InitlabError
from initlab import torch as itorch
from initlab.torch.models import GPT

V, T = 17, 8


@pytest.fixture(autouse=True)
def _one_thread_float64():
    """Tiny products: threads only contend on a shared machine; float64 for 1e-10."""
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)


def gpt(d, ffn, *, tied=False, n_layers=2, seed=0):
    return GPT(vocab=V, d_model=d, n_heads=2, n_layers=n_layers, max_len=T, ffn=ffn, tied=tied,
               seed=seed).double()  # fmt: skip


def batch():
    tok = torch.randint(0, V, (4, T + 1), generator=torch.Generator().manual_seed(0))
    return tok[:, :-1], tok[:, 1:]


def train(model, opt, steps=20):
    x, y = batch()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        losses.append(loss.item())
        loss.backward()
        opt.step()
    return losses


def mup_twin(model, base, delta, tied):
    """`model` made muP by the mup package (MuReadout / MuSharedReadout, attention 1/d)."""
    twin = copy.deepcopy(model)
    for m in (twin, base, delta):
        d = m.readout.in_features
        if tied:
            m.readout = mup.MuSharedReadout(m.embed.weight, bias=False)
        else:
            w = m.readout.weight.data
            m.readout = mup.MuReadout(d, V, bias=False)
            m.readout.weight.data.copy_(w)
        for b in m.blocks:
            b.attn.attn_scale = 1.0 / b.attn.d_head
    return mup.set_base_shapes(twin, base, delta=delta)


def both(tied=False, d=32, ffn=48):
    """(initlab's muP GPT, mup's) from the same SP GPT; ffn has its own base width."""
    base, delta, model = gpt(8, 12, tied=tied), gpt(16, 24, tied=tied), gpt(d, ffn, tied=tied)
    theirs = mup_twin(model, copy.deepcopy(base), copy.deepcopy(delta), tied)
    ours = itorch.parametrize(model, itorch.base_shapes(base, delta), "mup",
                         attention=["blocks.0.attn", "blocks.1.attn"], tied_rescale=tied)  # fmt: skip
    return ours, theirs


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam", "adamw"])
def test_gpt_trains_as_mup_does(opt, tied):
    ours, theirs = both(tied)
    s1, s2 = ours.state_dict(), theirs.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    name = "sgd" if opt == "momentum" else opt
    lr = 0.05 if name == "sgd" else 0.002
    kw = {"momentum": 0.9} if opt == "momentum" else {}
    kw |= {"weight_decay": 0.1} if opt == "adamw" else {}
    mine = itorch.make_optimizer(ours, name, lr, eps_convention="mup", **kw)
    cls = {"sgd": mup.MuSGD, "adam": mup.MuAdam, "adamw": mup.MuAdamW}[name]
    a, b = train(ours, mine), train(theirs, cls(theirs.parameters(), lr=lr, **kw))
    assert max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True)) <= 1e-10
    assert a[-1] < a[0]


def test_tied_readout_is_not_rescaled_unless_asked():
    base, delta, model = gpt(8, 12, tied=True), gpt(16, 24, tied=True), gpt(32, 48, tied=True)
    w = model.embed.weight.detach().clone()
    itorch.parametrize(model, itorch.base_shapes(base, delta), "mup")
    assert torch.equal(model.embed.weight, w)
    other = itorch.parametrize(gpt(32, 48, tied=True), itorch.base_shapes(base, delta), "mup",
                          tied_rescale=True)  # fmt: skip
    assert torch.allclose(other.embed.weight, w * 2.0)  # sqrt(32 / 8)


def test_table3_eps_is_adam_on_the_effective_readout():
    """eps / r on the readout = Adam with one eps on a multiplier-free readout W = w / r
    trained at lr / r (TP V Table 3); mup's convention differs measurably at a large eps."""
    base, delta = gpt(8, 12), gpt(16, 24)
    shapes = itorch.base_shapes(base, delta)
    ours = itorch.parametrize(gpt(32, 48), shapes, "mup")
    free = copy.deepcopy(ours)  # drop the multiplier: W = w / r, lr / r
    r = 4.0
    free.readout._forward_pre_hooks.clear()
    with torch.no_grad():
        free.readout.weight.div_(r)
    named = dict(free.named_parameters())
    groups = [
        {**g, "params": [named[n]], "names": [n],
         "lr": g["lr"] / r if n == "readout.weight" else g["lr"]}
        for g in itorch.param_groups(ours, 0.003, "adam", eps=1e-3, eps_convention="mup")
        for n in g["names"]
    ]  # fmt: skip
    ref = train(free, torch.optim.Adam(groups, lr=0.003, eps=1e-3))
    mup_eps = copy.deepcopy(ours)
    t3 = train(ours, itorch.make_optimizer(ours, "adam", 0.003, eps=1e-3))
    as_mup = train(mup_eps, itorch.make_optimizer(mup_eps, "adam", 0.003, eps=1e-3,
                                             eps_convention="mup"))  # fmt: skip
    assert max(abs(a - b) / b for a, b in zip(t3, ref, strict=True)) < 1e-10
    assert max(abs(a - b) / b for a, b in zip(as_mup, ref, strict=True)) > 1e-4


def test_no_base_shapes_is_an_error():
    with pytest.raises(InitlabError, match="no parametrization"):
        itorch.param_groups(gpt(16, 24), 0.1, "adam")
    with pytest.raises(InitlabError, match="base shapes"):
        itorch.parametrize(gpt(16, 24), None, "mup")
    with pytest.raises(InitlabError, match="missing"):
        itorch.parametrize(gpt(16, 24), itorch.BaseShapes({}), "mup")


def test_base_shapes_round_trip(tmp_path):
    shapes = itorch.base_shapes(gpt(8, 12), gpt(16, 24))
    assert shapes.dims["blocks.0.fc.weight"] == (12, 8)
    assert shapes.dims["embed.weight"] == (None, 8)
    assert itorch.BaseShapes.load(shapes.save(tmp_path / "b.json")) == shapes


def test_weight_decay_conventions():
    model = itorch.parametrize(gpt(32, 32), itorch.base_shapes(gpt(8, 8), gpt(16, 16)), "mup")
    for g in itorch.param_groups(model, 0.01, "adamw", weight_decay=0.1):
        assert math.isclose(g["lr"] * g["weight_decay"], 0.01 * 0.1)
    fixed = itorch.param_groups(model, 0.01, "adamw", weight_decay=0.1, decay_convention="fixed")
    assert {g["weight_decay"] for g in fixed} == {0.1}
    assert {g["lr"] for g in fixed} == {0.01, 0.0025}


# --- coordinate checks over width and depth, with verdicts ---------------------------------


def _zen_gpt(context=16):
    from initlab.torch._chars import char_batches, zen_text

    vocab, batches = char_batches(zen_text(), context, 8)
    Vz = len(vocab)

    def gpt_(d, L=2, seed=0):
        return GPT(vocab=Vz, d_model=d, n_heads=2, n_layers=L, max_len=context, seed=seed)

    def loss(out, y):
        return F.cross_entropy(out.reshape(-1, Vz), y.reshape(-1))

    return gpt_, batches, loss


def _width_check(parametrization, steps=3, **kw):
    gpt_, batches, loss = _zen_gpt()
    shapes = itorch.base_shapes(gpt_(16), gpt_(32))

    def build(n):
        return itorch.parametrize(gpt_(n, seed=torch.initial_seed()), shapes, parametrization,
                             attention=["blocks.0.attn", "blocks.1.attn"], attn_mult=8**0.5,
                             **kw)  # fmt: skip

    layers = ["embed", "blocks.0.attn", "blocks.0.fc_out", "blocks.1.fc_out", "ln_f", "readout"]
    return itorch.coord_check(build, (16, 32, 64, 128), batches(0), loss, steps=steps,
                              layers=layers,
                              optimizer=lambda m: itorch.make_optimizer(m, "adam", 1e-2))  # fmt: skip


def test_gpt_coord_check_flat_under_mup_grows_under_sp_with_verdicts(tmp_path):
    """Adam at lr 1e-2, widths 16..128, 3 steps: muP (zero-initialized readout, as TP V
    recommends) passes with every layer stable; SP fails, its blocks' changes growing."""
    mup_cc, sp_cc = _width_check("mup", zero_readout=True), _width_check("sp")
    assert mup_cc.passed and not sp_cc.passed
    assert mup_cc.parametrization == "mup" and mup_cc.readouts == ("readout",)
    for metric in ("size", "change"):
        for r in mup_cc.rows(metric):
            assert r.verdict in ("stable", "undetermined"), r  # zeros: undetermined
    grows = [r for r in sp_cc.rows("change") if r.layer.startswith("blocks")]
    assert all(r.verdict == "grows" for r in grows), grows  # SP: updates add up over n
    assert mup_cc.verdict_lines()[-1].startswith("PASS")
    assert sp_cc.verdict_lines()[-1].startswith("FAIL")
    back = itorch.CoordCheck.load(mup_cc.save(tmp_path / "cc.json"))
    assert back.verdict_lines() == mup_cc.verdict_lines()
    assert np.array_equal(back.changes, mup_cc.changes)


def test_mup_readout_at_initialization_is_a_named_benign_exception():
    cc = _width_check("mup", steps=1)
    init = next(r for r in cc.rows("size") if r.layer == "readout" and r.step == 0)
    assert init.slope == pytest.approx(-0.5, abs=0.15) and init.verdict == "vanishes"
    line = cc.verdict_lines()[0]
    assert "readout vanishes (step 0" in line and "expected: muP's readout" in line
    assert cc.passed


@pytest.mark.parametrize("alpha", [None, 0.5, 1.0])
def test_gpt_depth_coord_check_of_the_residual_stream(alpha):
    """The residual stream after the last block (ln_f's input) under Adam: its change grows
    with depth without branch multipliers, and is flat with (L/L0)^-alpha and the blocks'
    learning rates scaled by m^(alpha - 1) (depth-muP alpha = 1/2, CompleteP alpha = 1)."""
    gpt_, batches, loss = _zen_gpt()

    def build(L):
        shapes = itorch.base_shapes(gpt_(16, L), gpt_(32, L))
        res = None if alpha is None else itorch.Residual(tuple(f"blocks.{i}" for i in range(L)),
                                                    ("attn", "fc_out"), 2, alpha)  # fmt: skip
        return itorch.parametrize(
            gpt_(16, L, seed=torch.initial_seed()), shapes, "mup", residual=res
        )

    cc = itorch.coord_check(build, (2, 4, 8, 16), batches(0), loss, steps=3, axis="depth",
                            layers=["ln_f:in"],
                            optimizer=lambda m: itorch.make_optimizer(m, "adam", 1e-2))  # fmt: skip
    change = [r for r in cc.rows("change")]
    if alpha is None:
        assert all(r.slope > 0.25 for r in change), change
        assert not cc.passed and "with the depth" in cc.verdict_lines()[-1]
    else:
        assert all(abs(r.slope) <= 0.25 for r in change), change
        assert cc.passed


def test_residual_groups_scale_the_blocks_learning_rates():
    model = gpt(16, 16, n_layers=8)
    res = itorch.Residual(tuple(f"blocks.{i}" for i in range(8)), ("attn", "fc_out"), 2, 1.0)
    itorch.parametrize(model, itorch.base_shapes(gpt(8, 8, n_layers=8), gpt(16, 16, n_layers=8)), "mup",
                  residual=res)  # fmt: skip
    lr = {n: g["lr"] for g in itorch.param_groups(model, 1.0, "sgd") for n in g["names"]}
    eps = {n: g["eps"] for g in itorch.param_groups(model, 1.0, "adam") for n in g["names"]}
    assert lr["blocks.3.fc.weight"] == pytest.approx(4.0)  # SGD: m^(2 alpha - 1), m = 4
    assert lr["blocks.3.ln1.weight"] == pytest.approx(2.0 * 4.0)  # vector-like: r m
    assert lr["embed.weight"] == pytest.approx(2.0)
    assert eps["blocks.3.fc.weight"] == pytest.approx(1e-8 / 4)
    h = torch.randn(2, T, 16, generator=torch.Generator().manual_seed(1))
    attn, fc_out = model.blocks[5].attn, model.blocks[5].fc_out
    with torch.no_grad():  # calling forward() directly skips the hooks: the branch multiplier
        assert torch.allclose(attn(h), attn.forward(h) / 4)  # (L / L0)^-1 = 1/4
        assert torch.allclose(fc_out(torch.ones(1, 16)), fc_out.forward(torch.ones(1, 16)) / 4)


# --- learning-rate transfer into the sweep store ------------------------------------------


def test_lr_transfer_is_stored_resumable_and_read_back(tmp_path):
    from initlab.results.sweep_store import open_store
    from initlab.torch._transfer import lr_transfer

    gpt_, batches, loss = _zen_gpt(context=8)
    shapes = itorch.base_shapes(gpt_(8), gpt_(16))
    calls = []

    def build(p, n, seed, fail_after=None):
        calls.append((p, n, seed))
        if fail_after is not None and len(calls) > fail_after:
            raise KeyboardInterrupt  # the study is killed here
        return itorch.parametrize(gpt_(n, seed=seed), shapes, p)

    kw = dict(optimizer=lambda m, lr: itorch.make_optimizer(m, "adam", lr), batches=batches,
              eval_batch=batches(99), loss_fn=loss, steps=2, out=tmp_path / "s", name="t",
              base_width=8, seeds=(0, 1))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        lr_transfer(lambda p, n, s: build(p, n, s, fail_after=5), (8, 16), (-7, -5), **kw)
    with open_store(tmp_path / "s", readonly=True) as store:
        assert sorted(store.statuses().values()).count("done") == 5
    calls.clear()
    first = lr_transfer(build, (8, 16), (-7, -5), **kw)
    assert len(calls) == 16 - 5  # only the runs not yet stored
    calls.clear()
    again = lr_transfer(build, (8, 16), (-7, -5), **kw)
    assert calls == [] and np.array_equal(again.loss, first.loss)
    assert np.isfinite(first.loss).all() and first.loss.shape == (2, 2, 2, 2)
    # each stored run is the same as training it alone
    model = build("mup", 16, 1)
    opt = itorch.make_optimizer(model, "adam", 2.0**-5)
    for t in range(2):
        x, y = batches(t)
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        alone = loss(model(batches(99)[0]), batches(99)[1]).item()
    assert first.loss[1, 1, 1, 1] == pytest.approx(alone, rel=1e-12)
    with open_store(tmp_path / "s", readonly=True) as store:
        rows = store.rows()
    assert {r["parametrization"] for r in rows} == {"sp", "mup"}
    assert {r["width"] for r in rows} == {8, 16} and all(r["status"] == "done" for r in rows)


def test_shift_per_doubling_recovers_a_known_slope():
    """log loss = (k - k*(n))^2 / 4 with k*(n) = -4 - 0.5 log2(n / 32): the parabola through
    the grid recovers k* exactly, so the shift is -0.5; seeds add noise that the bootstrap
    interval covers."""
    from initlab.studies.scaling import LrTransfer

    widths, ks = [32, 64, 128, 256], np.arange(-9.0, 0.0)
    star = -4 - 0.5 * np.log2(np.array(widths) / 32)
    clean = np.exp((ks[None, :] - star[:, None]) ** 2 / 4)  # (W, R)
    one = LrTransfer(["mup"], widths, list(ks), [0], clean[None, :, :, None], np.zeros(0))
    s, lo, hi = one.shift_per_doubling()[0]
    assert s == pytest.approx(-0.5, abs=1e-9)
    xc = np.log2(widths) - np.log2(widths).mean()
    assert hi - s == pytest.approx(0.5 * np.abs(xc).sum() / (xc @ xc))
    noise = np.random.default_rng(0).lognormal(0, 0.05, size=(1, 4, 9, 6))
    noisy = LrTransfer(["mup"], widths, list(ks), list(range(6)), clean[None, :, :, None] * noise,
                       np.zeros(0))  # fmt: skip
    s, lo, hi = noisy.shift_per_doubling()[0]
    assert lo < s < hi and lo < -0.5 < hi and hi - lo < 1.0


def test_gpt_example_runs_in_seconds(tmp_path, capsys):
    """examples/gpt_mup.py at its --quick size: results stored, verdicts and optima printed,
    figures drawn from the stored results."""
    import runpy
    from pathlib import Path

    torch.set_default_dtype(torch.float32)  # the example's own precision (the fixture restores)
    example = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "gpt_mup.py"))
    out = example["main"](["--out", str(tmp_path), "--quick", "--figures", str(tmp_path / "f")])
    printed = capsys.readouterr().out
    assert "== mup ==" in printed and "optimum shifts" in printed
    assert itorch.CoordCheck.load(out / "coord_check_mup.json").parametrization == "mup"
    assert (tmp_path / "f" / "gpt_coord_check.png").stat().st_size > 0
    assert (tmp_path / "f" / "gpt_lr_transfer.png").stat().st_size > 0
    assert (out / "transfer" / "sweep.sqlite").is_file()


def test_output_mult_and_zero_readout_train_as_mup():
    """output_mult = 4 and a zero readout = MuReadout(output_mult=4, readout_zero_init=True)."""
    base, delta, model = gpt(8, 12), gpt(16, 24), gpt(32, 48)
    theirs = mup_twin(model, copy.deepcopy(base), copy.deepcopy(delta), tied=False)
    theirs.readout.output_mult = 4.0
    with torch.no_grad():
        theirs.readout.weight.zero_()
    ours = itorch.parametrize(model, itorch.base_shapes(base, delta), "mup", output_mult=4.0,
                              zero_readout=True, attention=["blocks.0.attn", "blocks.1.attn"])  # fmt: skip
    assert not ours.readout.weight.any()
    a = train(ours, itorch.make_optimizer(ours, "adam", 0.002, eps_convention="mup"))
    b = train(theirs, mup.MuAdam(theirs.parameters(), lr=0.002))
    assert max(abs(x - y) / y for x, y in zip(a, b, strict=True)) <= 1e-10


def test_input_mult_zero_query_and_the_sp_ntk_groups():
    shapes = itorch.base_shapes(gpt(8, 8), gpt(16, 16))
    model = itorch.parametrize(gpt(32, 32), shapes, "mup", inputs=["embed"], input_mult=3.0,
                               zero_query=["blocks.0.attn.query"])  # fmt: skip
    tok = torch.randint(0, V, (2, T))
    assert torch.equal(model.embed(tok), model.embed.forward(tok) * 3.0)
    assert not model.blocks[0].attn.query.weight.any()
    assert not model.blocks[0].attn.query.bias.any() and model.blocks[1].attn.query.weight.any()
    r = 4.0
    for p, opt, hidden, readout in (("sp", "sgd", 1.0, 1.0), ("sp", "adam", 1.0, 1.0),
                                    ("ntk", "sgd", 1 / r, 1 / r),
                                    ("ntk", "adam", r**-0.5, r**-0.5)):  # fmt: skip
        m = itorch.parametrize(gpt(32, 32), shapes, p)
        lr = {n: g["lr"] for g in itorch.param_groups(m, 1.0, opt) for n in g["names"]}
        assert lr["blocks.0.fc.weight"] == pytest.approx(hidden)
        assert lr["readout.weight"] == pytest.approx(readout)
        assert lr["embed.weight"] == lr["blocks.0.ln1.bias"] == 1.0
        assert m.readout._forward_pre_hooks == {}  # SP and NTK change no forward pass
