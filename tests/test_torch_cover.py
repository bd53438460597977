"""initlab.torch on models of today's shapes: every parameter accounted for by ``apply``
(gated recurrent blocks, packed attention, parametrizations, tied, frozen and free
parameters), LSUV without side effects, the Recorder against the modules' own outputs,
and torch's threads pinned during initlab's measurements.

The reference architectures are :mod:`initlab.torch.models`, built by hand (torchvision's
CPU wheels for torch 2.13 are not reachable here).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

if os.environ.get("CI") == "true":
    import torch  # CI installs the CPU build: a missing torch is a failure, not a skip
else:
    torch = pytest.importorskip("torch")

from torch import nn
from torch.nn.utils import parametrizations

from initlab import torch as itorch
from initlab._validation import InitlabError
from initlab.torch import models


def old_weight_norm(layer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the hook-based API is deprecated
        return nn.utils.weight_norm(layer)


class WithFree(nn.Module):
    """A weight-normed conv, an orthogonal Linear, a frozen layer, a free scale."""

    def __init__(self):
        super().__init__()
        self.conv = parametrizations.weight_norm(nn.Conv1d(3, 6, 3))
        self.old = old_weight_norm(nn.Linear(6, 6))
        self.ortho = parametrizations.orthogonal(nn.Linear(6, 6))
        self.frozen = nn.Linear(6, 6).requires_grad_(False)
        self.scale = nn.Parameter(torch.ones(6))

    def forward(self, x):
        h = self.conv(x).mean(-1)
        return self.frozen(self.ortho(self.old(h))) * self.scale


def conv_zoo():
    return nn.ModuleList([
        nn.Conv1d(6, 8, 5, groups=2), nn.Conv3d(4, 6, 3, groups=2), nn.Conv2d(4, 8, 3, groups=4),
        nn.ConvTranspose1d(6, 8, 5, groups=2), nn.ConvTranspose2d(6, 8, (3, 5), groups=2),
        nn.ConvTranspose3d(4, 6, 3),
    ])  # fmt: skip


MODELS = {
    "resnet_bn": lambda: models.ResNet((1, 1, 1, 1), width=4),
    "resnet_plain": lambda: models.ResNet((1, 1), width=4, norm=None),
    "transformer": lambda: models.TransformerClassifier(d_model=16, n_layers=2, ffn=32),
    "gpt_tied": lambda: models.GPT(d_model=16, n_layers=2, tied=True),
    "lstm": lambda: models.LSTMTagger(n_layers=2),
    "gru_bi": lambda: nn.GRU(5, 7, 2, bidirectional=True),
    "mlp": lambda: models.mlp([8, 16, 16, 1]),
    "parametrized": WithFree,
    "spectral": lambda: nn.Sequential(nn.utils.spectral_norm(nn.Linear(4, 3))),
    "convs": conv_zoo,
}


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_apply_accounts_for_every_parameter(make):
    model = make()
    table = itorch.apply(model, "glorot_uniform", seed=0)
    named = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    assert named <= table.names  # no parameter left without a row (tied aliases included)
    for r in table:
        assert r.status in ("drawn", "set", "kept") and r.type and r.shape
        if r.status == "drawn":
            assert r.scheme != "(kept)" and r.variance is not None
        else:
            assert r.note  # every parameter not drawn says why
    # fans of every whole (unblocked) drawn weight are torch's own
    params = dict(model.named_parameters())
    for r in table.drawn:
        if not r.block and r.name in params and params[r.name].dim() >= 2:
            assert (r.fan_in, r.fan_out) == nn.init._calculate_fan_in_and_fan_out(params[r.name])
    assert "note" in str(table).splitlines()[0]
    if isinstance(model, nn.Sequential) and hasattr(model[0], "weight_orig"):  # spectral norm
        assert "0.weight_orig" in {r.name for r in table.drawn}


def test_recurrent_weights_are_drawn_per_gate():
    lstm = nn.LSTM(16, 24, 2)
    table = itorch.apply(lstm, "xavier_uniform", seed=0)
    ih = [r for r in table if r.name == "weight_ih_l0"]
    assert [r.block for r in ih] == list("ifgo")
    assert all((r.fan_in, r.fan_out, r.shape) == (16, 24, (24, 16)) for r in ih)
    bound = (6 / (16 + 24)) ** 0.5  # one gate's Glorot bound; the whole (96, 16) matrix: 0.23
    W = lstm.weight_ih_l0.detach().double()
    for k in range(4):
        block = W[24 * k : 24 * (k + 1)].abs()
        assert block.max() <= bound + 1e-6 and block.max() > (6 / (16 + 96)) ** 0.5
    for k in range(4):  # recurrent kernels: an orthogonal matrix per gate, as Flax draws them
        U = lstm.weight_hh_l1.detach().double()[24 * k : 24 * (k + 1)]
        np.testing.assert_allclose(U @ U.T, np.eye(24), atol=1e-6)
    assert not lstm.bias_hh_l1.any()
    gru = nn.GRU(5, 7)
    rows = itorch.apply(gru, "he", recurrent="he", seed=0)
    assert [r.block for r in rows if r.name == "weight_hh_l0"] == list("rzn")
    assert {r.scheme for r in rows if r.name == "weight_hh_l0"} == {"he"}


def test_attention_in_proj_is_three_blocks_with_their_own_fans():
    E = 32
    mha = nn.MultiheadAttention(E, 4)
    table = itorch.apply(mha, "xavier_uniform", rules=[("*in_proj_weight:q", "zeros")], seed=0)
    rows = {(r.name, r.block): r for r in table}
    for b in "qkv":
        assert (rows["in_proj_weight", b].fan_in, rows["in_proj_weight", b].fan_out) == (E, E)
    W = mha.in_proj_weight.detach().double()
    assert not W[:E].any() and rows["in_proj_weight", "q"].scheme == "zeros"
    bound = (6 / (2 * E)) ** 0.5  # torch's xavier_uniform_ on the packed (3E, E): sqrt(6/4E)
    for k in (1, 2):
        block = W[E * k : E * (k + 1)].abs()
        assert block.max() <= bound + 1e-6 and block.max() > (6 / (4 * E)) ** 0.5
    assert rows["out_proj.weight", ""].status == "drawn"
    assert not mha.in_proj_bias.any() and not mha.out_proj.bias.any()
    sep = nn.MultiheadAttention(E, 4, kdim=8, vdim=12, add_bias_kv=True)
    rows = {r.name: r for r in itorch.apply(sep, "he", seed=0)}
    assert (rows["k_proj_weight"].fan_in, rows["v_proj_weight"].fan_in) == (8, 12)
    assert rows["bias_k"].status == "kept" and "rule" in rows["bias_k"].note


def test_weight_norm_is_set_through_its_parametrization():
    plain = nn.Linear(5, 3)
    itorch.apply(plain, "glorot_uniform", seed=3)
    for wn in (parametrizations.weight_norm(nn.Linear(5, 3)), old_weight_norm(nn.Linear(5, 3))):
        table = itorch.apply(wn, "glorot_uniform", seed=3)
        # the weight the module computes is the one drawn (direction v = W, norm g = ||W||)
        torch.testing.assert_close(wn(torch.eye(5)) - wn.bias, plain.weight.T.detach())
        statuses = {r.name: r.status for r in table}
        assert statuses["weight"] == "drawn"
        assert sorted(s for n, s in statuses.items() if n not in ("weight", "bias")) == ["set"] * 2
    model = WithFree()
    ortho = model.ortho.weight.detach().clone()
    table = {r.name: r for r in itorch.apply(model, "he", seed=0)}
    W = model.ortho.weight.detach().double()  # right_inverse keeps it orthogonal
    np.testing.assert_allclose(W @ W.T, np.eye(6), atol=1e-5)
    assert not torch.equal(W.float(), ortho) and table["ortho.weight"].status == "drawn"


def test_frozen_free_and_tied_parameters():
    model = WithFree()
    before = model.frozen.weight.detach().clone()
    rows = {r.name: r for r in itorch.apply(model, "he", seed=0)}
    assert torch.equal(model.frozen.weight, before) and "frozen" in rows["frozen.weight"].note
    assert rows["scale"].status == "kept" and "free parameter" in rows["scale"].note
    rows = {r.name: r for r in itorch.apply(model, "he", frozen=True, rules=[("scale", "zeros")])}
    assert not torch.equal(model.frozen.weight, before) and rows["frozen.weight"].scheme == "he"
    assert not model.scale.any() and rows["scale"].status == "drawn"
    gpt = models.GPT(d_model=16, n_layers=1, tied=True)
    table = itorch.apply(gpt, "he", rules=[("readout.weight", {"name": "constant", "value": 0.5})])
    (row,) = [r for r in table if "readout.weight" in (r.name, *r.aliases)]
    assert row.scheme.startswith("constant") and (gpt.embed.weight == 0.5).all()
    assert gpt.readout.weight is gpt.embed.weight  # drawn once, still tied


def test_seeds_generators_and_unmaterialized_parameters():
    make = lambda: models.mlp([6, 5, 1])  # noqa: E731
    state = torch.random.get_rng_state()
    a, b = make(), make()
    g = torch.Generator().manual_seed(7)
    itorch.apply(a, "he", seed=torch.Generator().manual_seed(7))
    itorch.apply(b, "he", seed=g)
    assert torch.equal(a[0].weight, b[0].weight)
    assert torch.equal(state, torch.random.get_rng_state())  # the global stream is untouched
    itorch.apply(b, "he", seed=g)  # the generator advanced: new values
    assert not torch.equal(a[0].weight, b[0].weight)
    with pytest.raises(InitlabError, match=r"'0\.weight' of LazyLinear is not materialized"):
        itorch.apply(nn.Sequential(nn.LazyLinear(3)), "he")
    with pytest.raises(InitlabError, match=r"'weight' is on the meta device.*to_empty"):
        itorch.apply(nn.Linear(3, 2, device="meta"), "he")
    with pytest.raises(InitlabError, match="seed"):
        itorch.apply(a, "he", seed=-1)


# --- LSUV without side effects -----------------------------------------------------------


def state_of(model):
    return ([b.clone() for b in model.buffers()], [m.training for m in model.modules()],
            torch.random.get_rng_state())  # fmt: skip


def test_lsuv_restores_every_buffer_mode_rng_and_thread_count():
    model = nn.Sequential(models.ResNet((1, 1), num_classes=16, width=8), nn.Dropout(0.1),
                          nn.ReLU(), nn.Linear(16, 4))  # fmt: skip
    model.train()
    model[0].layer1.eval()  # a mixed mode is restored module by module
    X = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []
    hook = model[3].register_forward_hook(lambda *a: seen.append(torch.get_num_threads()))
    try:
        buffers, modes, rng = state_of(model)
        report = itorch.lsuv(model, X, tol=0.02, orthonormal=1)
        assert torch.get_num_threads() == 2 and seen and set(seen) == {1}
    finally:
        torch.set_num_threads(threads)
        hook.remove()
    after_buffers, after_modes, after_rng = state_of(model)
    assert all(torch.equal(a, b) for a, b in zip(buffers, after_buffers, strict=True))
    assert after_modes == modes and torch.equal(rng, after_rng)
    assert report.all_converged and report.layers[0] == "0.conv1" and report.layers[-1] == "3"
    outputs = {}  # measured independently, in eval mode as LSUV measured: every output ~ 1
    mods = dict(model.named_modules())
    hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: outputs.setdefault(n, o))
             for n in report.layers]  # fmt: skip
    model.eval()
    with torch.no_grad():
        model(X)
    for h in hooks:
        h.remove()
    assert len(outputs) == len(report.layers) > 5
    for n, o in outputs.items():
        assert abs(o.double().var(unbiased=False).item() - 1) < 0.02, n


def test_lsuv_scales_attention_and_embeddings_and_lists_what_it_skips():
    model = models.TransformerClassifier(vocab=50, d_model=16, n_layers=1, ffn=32, dropout=0.1)
    tokens = torch.randint(0, 50, (8, 12), generator=torch.Generator().manual_seed(0))
    report = itorch.lsuv(model, tokens, tol=0.02)
    attn = "encoder.layers.0.self_attn"
    assert report.layers[:5] == ("embed", *(f"{attn}.in_proj_weight:{b}" for b in "qkv"),
                                 f"{attn}.out_proj")  # fmt: skip
    assert report.all_converged
    got = {}
    mha = model.encoder.layers[0].self_attn
    h = mha.register_forward_hook(lambda m, i, o: got.update(x=i[0], y=o[0]))
    model.eval()
    with torch.no_grad():
        model(tokens)
    h.remove()
    assert abs(got["y"].var(unbiased=False).item() - 1) < 0.02  # out_proj's output
    E = 16
    for k in range(3):  # each packed block's projection of the attention's input
        proj = got["x"] @ mha.in_proj_weight[k * E : (k + 1) * E].T
        assert abs(proj.detach().var(unbiased=False).item() - 1) < 0.02
    tagger = models.LSTMTagger(n_layers=1)
    tagger.embed.padding_idx = 0
    with torch.no_grad():
        tagger.embed.weight[0] = 0
    report = itorch.lsuv(tagger, torch.randint(0, 100, (6, 9), generator=torch.Generator()))
    assert report.layers == ("embed", "tagger")
    assert report.skipped == (("lstm", itorch._lsuv.RECURRENT_SKIP),)
    assert not tagger.embed.weight[0].any() and tagger.embed.weight[1].all()  # padding row 0
    assert "skipped: recurrent" in str(report)
    gpt = models.GPT(vocab=30, d_model=16, n_layers=1, tied=True)
    report = itorch.lsuv(gpt, torch.randint(0, 30, (4, 8), generator=torch.Generator()))
    assert report.layers[-1] == "blocks.0.fc_out" and report.skipped[0][0] == "readout"
    assert "tied" in report.skipped[0][1]  # scaling the readout would undo the embedding's


def test_lsuv_errors_name_the_layer_by_its_path():
    model = nn.Sequential()
    model.add_module("enc", nn.Sequential())
    model.enc.add_module("attn_in", nn.Linear(4, 8))
    mha = nn.MultiheadAttention(8, 2, batch_first=True)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre, self.attn = model, mha

        def forward(self, x):
            h = self.pre(x)
            return self.attn(h, h, h)[0]

    net = Net()
    nn.init.zeros_(mha.out_proj.weight)
    X = torch.randn(4, 5, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InitlabError, match=r"layer 'attn\.out_proj' has variance 0"):
        itorch.lsuv(net, X, orthonormal=None)
    with pytest.raises(InitlabError, match=r"layers \['nope'\] .* pre\.enc\.attn_in, attn\.in"):
        itorch.lsuv(net, X, layers=["nope"])


# --- the Recorder: what the model computes ------------------------------------------------


def test_recorder_activations_are_the_modules_outputs_in_a_batchnorm_resnet():
    model = models.ResNet((1, 1), num_classes=3, width=8).double()
    model.relu = nn.ReLU(inplace=True)  # in place, and reused twice per block (torchvision's)
    for block in (model.layer1[0], model.layer2[0]):
        block.relu = nn.ReLU(inplace=True)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(6, 3, 16, 16, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (6,), generator=g)
    rec = itorch.Recorder(model, X)
    assert rec.names[:3] == ["conv1", "layer1.0.conv1", "layer1.0.conv2"]
    assert rec.blocks == ["layer1.0", "layer2.0"]
    seen = {}  # independent: the outputs of bn/relu modules, first call, cloned at once

    def keep(name):
        return lambda m, i, o: seen.setdefault(name, []).append(o.detach().clone())

    mods = dict(model.named_modules())
    hooks = [mods[n].register_forward_hook(keep(n)) for n in
             ("relu", "layer1.0.relu", "layer1.0.bn2", "layer2.0.relu", "layer2.0.bn2",
              "layer2.0.downsample.1", "layer1.0", "layer2.0")]  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for i in range(2):
        opt.zero_grad()
        rec.begin(i)
        loss = nn.functional.cross_entropy(model(X), y)
        loss.backward()
        rec.end(loss, 1e-2)
        opt.step()
        if i == 0:
            after = {n: p.detach().clone() for n, p in model.named_parameters()}
    rec.begin(2)  # measures the second step's update
    for h in hooks:
        h.remove()
    d = rec.record()
    expected = {  # layer -> the module whose output is A_l: relu(bn(conv)), or bn before a sum
        "conv1": "relu", "layer1.0.conv1": "layer1.0.relu", "layer1.0.conv2": "layer1.0.bn2",
        "layer2.0.conv1": "layer2.0.relu", "layer2.0.conv2": "layer2.0.bn2",
        "layer2.0.downsample.0": "layer2.0.downsample.1",
    }  # fmt: skip
    for l, name in enumerate(d["layers"][:-1]):
        mod = expected[name]
        for it in (0, 1):  # a block's ReLU is called twice per pass: its first call is A_l
            A = seen[mod][2 * it if mod.endswith(".relu") else it].numpy()
            assert d["a_std"][l][it] == A.std() and d["a_mean"][l][it] == A.mean(), name
    # relu outputs: the fraction of zero units of the ReLU's own input/output
    assert d["saturated"][0][0] == float((seen["relu"][0].numpy() == 0).mean())
    assert d["saturated"][2][0] is None  # bn2: normalization only, no activation
    for b, name in enumerate(d["blocks"]):
        rms = float(seen[name][0].square().mean().sqrt())
        assert d["block_rms"][b][0] == pytest.approx(rms, rel=1e-12)
    params = d["parameters"]
    j = params["names"].index("layer1.0.conv1.weight")
    step = float((after["layer1.0.conv1.weight"] - before["layer1.0.conv1.weight"]).norm())
    ratio = step / float(before["layer1.0.conv1.weight"].norm())
    assert params["update_ratio"][j][0] == pytest.approx(ratio, rel=1e-9)  # Adam's real step
    assert params["update_ratio"][j][1] is not None and len(params["grad_norm"][j]) == 2
    assert "layer1.0.bn1.weight" in params["names"]


def test_recorder_streams_a_transformers_blocks():
    model = models.TransformerClassifier(vocab=40, d_model=16, n_layers=2, ffn=32).double()
    tokens = torch.randint(0, 40, (4, 10), generator=torch.Generator().manual_seed(0))
    rec = itorch.Recorder(model, tokens, activation="relu")  # F.relu: no activation module
    assert rec.blocks == ["encoder.layers.0", "encoder.layers.1"]
    outs = []
    hooks = [model.encoder.layers[i].register_forward_hook(lambda m, i, o: outs.append(o))
             for i in range(2)]  # fmt: skip
    rec.begin(0)
    loss = model(tokens).square().mean()
    loss.backward()
    rec.end(loss, 0.1)
    for h in hooks:
        h.remove()
    d = rec.record()
    for b in range(2):
        assert d["block_rms"][b][0] == pytest.approx(float(outs[b].detach().square().mean().sqrt()))
    layers = d["layers"]
    assert (
        "encoder.layers.0.linear1" in layers and "encoder.layers.0.self_attn.out_proj" not in layers
    )


# --- report figures of deep models ------------------------------------------------------


def recorded(widths, steps=2):
    model = models.mlp(widths, "tanh").double()
    g = torch.Generator().manual_seed(0)
    X = torch.randn(16, widths[0], generator=g, dtype=torch.float64)
    y = torch.randn(16, 1, generator=g, dtype=torch.float64)
    rec = itorch.Recorder(model, X)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for i in range(steps):
        opt.zero_grad()
        rec.begin(i)
        loss = nn.functional.mse_loss(model(X), y)
        loss.backward()
        rec.end(loss, 0.1)
        opt.step()
    return rec.record()


def test_report_draws_sixty_layers_as_heatmaps_with_every_number():
    from initlab.report.diagnostics import LABELS, plot_diagnostics, plot_histograms

    d = recorded([6] + [8] * 60 + [1])
    L = len(d["layers"])
    assert L == 61
    fig = plot_diagnostics(d)
    panels = [ax for ax in fig.axes if ax.get_title() in LABELS.values()]
    assert len(panels) == len(LABELS)
    for ax, q in zip(panels, LABELS, strict=True):
        assert ax.get_legend() is None  # nothing covers a panel
        expected = np.array(d[q], dtype=float)
        if not np.isfinite(expected).any():
            continue
        (image,) = ax.get_images()
        shown = np.ma.filled(image.get_array().astype(float), np.nan)
        if q in ("grad_norm", "weight_norm", "update_ratio"):
            expected = np.where(expected > 0, expected, np.nan)
        np.testing.assert_array_equal(shown, expected)  # the numbers behind the figure
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[0] == "layer 1 (0)" and len(labels) >= 20
    assert not fig.legends
    hist = plot_histograms(d)
    assert len(hist.axes) == 4 * 12 and "12 of 61 layers" in hist.get_suptitle()
    assert hist.axes[-4].get_ylabel() == "layer 61 (120) (output)"


def test_report_lines_of_a_few_layers_have_distinct_colours_and_an_outside_legend():
    from initlab.report.diagnostics import plot_diagnostics

    d = recorded([6, 8, 8, 8, 8, 8, 1])
    fig = plot_diagnostics(d, ["z_std", "a_std"])
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 6 and len({tuple(map(float, ln.get_color())) for ln in lines}) == 6
    for l, line in enumerate(lines):
        np.testing.assert_array_equal(line.get_ydata(), np.array(d["z_std"][l], dtype=float))
    assert all(a.get_legend() is None for a in fig.axes) and len(fig.legends) == 1


def test_report_draws_the_residual_stream_and_update_ratios_of_a_resnet():
    from initlab.report.diagnostics import plot_stream

    model = models.ResNet((1, 1, 1), num_classes=3, width=4, norm=None).double()
    g = torch.Generator().manual_seed(1)
    X = torch.randn(4, 3, 16, 16, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (4,), generator=g)
    rec = itorch.Recorder(model, X)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(3):
        opt.zero_grad()
        rec.begin(i)
        loss = nn.functional.cross_entropy(model(X), y)
        loss.backward()
        rec.end(loss, 1e-3)
        opt.step()
    d = rec.record()
    assert d["blocks"] == ["layer1.0", "layer2.0", "layer3.0"]
    fig = plot_stream(d, title="resnet")
    left, right = fig.axes[:2]
    for r, line in enumerate(left.get_lines()):
        np.testing.assert_array_equal(line.get_ydata(), [b[r] for b in d["block_rms"]])
    shown = np.ma.filled(right.get_images()[0].get_array().astype(float), np.nan)
    np.testing.assert_array_equal(shown, np.array(d["parameters"]["update_ratio"], dtype=float))
    assert np.isnan(shown[:, -1]).all() and (shown[:, :2] > 0).all()  # the last step: unread
    assert plot_stream({"iterations": [0], "units": [1]}) is None  # initlab's own records


def test_results_of_a_torch_model_are_read_back_and_a_damaged_spec_still_refused(tmp_path):
    """``initlab.torch.results`` writes ``spec: null`` (no initlab spec trained the model) and
    a run without diagnostics has no activation: ``initlab report`` must read both; a spec
    that is there but is not a table is still named as damaged."""
    import json

    from initlab.results.records import read_results, write_results

    run = itorch.run_record("mlp", "default", [0.7, 0.6], learning_rate=0.1, seed=0)
    data = {"name": "toy", "n_features": 3, "n_examples": 8}
    write_results(tmp_path, itorch.results([run], setup=["an MLP"], train=data))
    back = read_results(tmp_path)
    assert back["spec"] is None and back["runs"][0]["final_cost"] == 0.6
    damaged = json.loads((tmp_path / "results.json").read_text())
    damaged["spec"] = "abc"
    (tmp_path / "results.json").write_text(json.dumps(damaged))
    with pytest.raises(InitlabError, match="spec must be a table or null"):
        read_results(tmp_path)
