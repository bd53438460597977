"""initlab.torch against independent truths: torch's own fans and initializers, initlab's own
networks (forward, gradients, training, diagnostics and LSUV on the same weights, float64),
chi-square bounds, and closed-form coordinate-check slopes.

Under CI (``CI=true``) torch must be installed: these tests never skip there.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

if os.environ.get("CI") == "true":
    import torch  # CI installs the CPU build: a missing torch is a failure, not a skip
else:
    torch = pytest.importorskip("torch")

from torch import nn

from initlab import init_network
from initlab import torch as itorch
from initlab._validation import InitlabError
from initlab.analysis.diagnostics import QUANTITIES, Recorder, record_iterations
from initlab.init import catalogue as initializers
from initlab.init.lsuv import lsuv as np_lsuv
from initlab.init.lsuv import lsuv_network
from initlab.nn.training import train

ALPHA = 1e-6  # two-sided level of every distribution test here, as in test_initializers.py
PARITY = 1e-12  # float64 parity with initlab's own network, relative to the values' scale

LAYERS = [
    nn.Linear(30, 20),
    nn.Conv1d(6, 8, 5),
    nn.Conv2d(6, 8, (3, 5), groups=2),
    nn.Conv3d(4, 6, 3),
    nn.ConvTranspose1d(6, 8, 5),
    nn.ConvTranspose2d(6, 8, (3, 5), groups=2),
    nn.ConvTranspose3d(4, 6, 3),
    nn.Embedding(50, 12),
]


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="checks CI's torch install")
def test_ci_has_the_cpu_build_of_torch():
    # .ci/run installs torch==2.13.* and sets CI=true; a CUDA build (GBs) would be a mistake
    assert torch.__version__.startswith("2.13.") and torch.version.cuda is None


def test_import_initlab_never_imports_torch():
    code = (  # every module of initlab but the bridge itself (found by file, not imported)
        "import importlib, pathlib, sys, initlab\n"
        "root = pathlib.Path(initlab.__file__).parent\n"
        "for p in sorted(root.rglob('*.py')):\n"
        "    parts = p.relative_to(root.parent).with_suffix('').parts\n"
        "    if 'torch' not in parts and parts[-1] != '__main__':\n"
        "        importlib.import_module('.'.join(p for p in parts if p != '__init__'))\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("layer", LAYERS, ids=lambda m: type(m).__name__)
def test_fans_are_torchs(layer):
    expected = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    assert itorch.fans(layer) == expected
    row = itorch.apply(nn.Sequential(layer), "he", seed=0)[0]
    assert (row.fan_in, row.fan_out) == expected
    assert row.shape == tuple(layer.weight.shape)


def chi2_pvalue(x, var):
    """Two-sided p-value of sum(x^2)/var ~ chi2(n) for zero-mean normal entries of `var`."""
    t = float((x.double() ** 2).sum() / var)
    cdf = stats.chi2.cdf(t, x.numel())
    return 2 * min(cdf, 1 - cdf)


@pytest.mark.parametrize(
    "layer",
    [nn.Linear(400, 300), nn.Conv2d(16, 64, 5), nn.ConvTranspose2d(32, 24, 4)],
    ids=lambda m: type(m).__name__,
)
def test_kaiming_normal_has_torchs_variance(layer):
    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    var = nn.init.calculate_gain("leaky_relu", 0) ** 2 / fan_in  # torch's definition
    ours = itorch.apply(nn.Sequential(layer), "kaiming_normal", seed=1)
    assert ours[0].scheme.startswith("kaiming_normal")
    p_ours = chi2_pvalue(layer.weight.detach(), var)
    theirs = nn.init.kaiming_normal_(
        torch.empty_like(layer.weight), generator=torch.Generator().manual_seed(1)
    )
    assert p_ours > ALPHA and chi2_pvalue(theirs, var) > ALPHA


def test_a_seed_gives_initlabs_own_weights():
    sizes = [12, 9, 7, 1]
    net = init_network(sizes, "glorot_uniform", seed=5)
    model = nn.Sequential(nn.Linear(12, 9), nn.Tanh(), nn.Linear(9, 7), nn.Tanh(), nn.Linear(7, 1))
    itorch.apply(model, "glorot_uniform", seed=5)
    for W, lin in zip(net.weights, model[::2], strict=True):
        np.testing.assert_array_equal(lin.weight.detach().double().numpy(), W[0].astype(np.float32))
        assert not lin.bias.detach().any()


def test_rules_first_match_wins_and_norms_are_left_alone():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8, 4), nn.LayerNorm(4), nn.Embedding(10, 4, padding_idx=2))  # fmt: skip
    bn_weight, ln_weight = model[1].weight.detach().clone(), model[5].weight.detach().clone()
    table = itorch.apply(
        model, "he", rules=[("4.bias", "ones"), ("*.bias", "zeros"), (nn.Conv2d, "xavier")]
    )
    by_name = {r.name: r for r in table}
    assert by_name["0.weight"].scheme == "xavier" and by_name["4.weight"].scheme == "he"
    assert by_name["4.bias"].scheme == "ones" and (model[4].bias == 1).all()
    assert by_name["6.weight"].scheme == "he"  # an Embedding gets the default scheme
    for norm in ("1.weight", "5.weight"):  # norm weights untouched, and the table says why
        assert by_name[norm].status == "kept" and "normalization" in by_name[norm].note
    assert torch.equal(model[1].weight, bn_weight) and torch.equal(model[5].weight, ln_weight)
    assert by_name["5.bias"].scheme == "zeros"  # '*.bias' names the LayerNorm's bias too
    assert not model[6].weight[2].any() and model[6].weight[3].all()  # padding row kept 0
    itorch.apply(model, None, rules=[(nn.LayerNorm, {"name": "constant", "value": 2.0})])
    assert (model[5].weight == 2).all() and (model[4].bias == 1).all()  # nothing else touched
    lin = nn.Linear(3, 4)
    torch_bias = lin.bias.detach().clone()
    itorch.apply(lin, "he", bias=None)
    assert torch.equal(lin.bias, torch_bias)
    table = itorch.apply(lin, None, rules=[(nn.Linear, "ones")])  # a type names weights only
    assert [r.name for r in table.drawn] == ["weight"] and torch.equal(lin.bias, torch_bias)


def test_tied_weights_are_drawn_once():
    emb, head = nn.Embedding(20, 6), nn.Linear(6, 20, bias=False)
    head.weight = emb.weight
    table = itorch.apply(nn.ModuleDict({"emb": emb, "head": head}), "xavier", seed=0)
    assert [(r.name, r.aliases) for r in table] == [("emb.weight", ("head.weight",))]
    expected = initializers.get("xavier")((20, 6), np.random.default_rng(0))  # one draw
    np.testing.assert_array_equal(head.weight.detach().numpy(), expected.astype(np.float32))


def test_rule_errors_name_the_problem():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    with pytest.raises(InitlabError, match=r"rule 'head\.\*' matches no parameter; .*0\.weight"):
        itorch.apply(model, "he", rules=[("head.*", "zeros")])
    with pytest.raises(InitlabError, match="weight of any Conv2d"):
        itorch.apply(model, "he", rules=[(nn.Conv2d, "zeros")])
    with pytest.raises(InitlabError, match=r"0\.bias \(shape \(4,\)\): fans need"):
        itorch.apply(model, "he", rules=[("*", "he")])
    with pytest.raises(InitlabError, match="unknown initializer 'hee'"):
        itorch.apply(model, "hee")


# --- parity with initlab's own network -----------------------------------------------------


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 50))
    Y = (X[0:1] - X[4:5] > 0).astype(float)
    net = init_network([12, 9, 7, 1], "xavier", activation="tanh", seed=2)
    net.biases = [b + 0.1 * rng.standard_normal(b.shape) for b in net.biases]  # not all zero
    return net, X, Y


def close(a, b, tol=PARITY):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(np.nanmax(np.abs(b)), 1e-300) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale, equal_nan=True)


def test_forward_and_backward_equal_initlabs(problem):
    net, X, Y = problem
    model = itorch.from_network(net)
    Xt, Yt = torch.from_numpy(X.T), torch.from_numpy(Y.T)
    out = model(Xt)
    loss = nn.functional.binary_cross_entropy_with_logits(out, Yt)
    loss.backward()
    close(out.detach().numpy().T, net.logits(X)[0])
    close(loss.item(), net.cost(X, Y)[0])
    dWs, dbs = net.gradients(X, Y)
    for lin, dW, db in zip(model[::2], dWs, dbs, strict=True):
        close(lin.weight.grad.numpy(), dW[0])
        close(lin.bias.grad.numpy(), db[0, :, 0])


def torch_sgd(model, X, Y, lr, T, rec=None):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    Xt, Yt = torch.from_numpy(X.T), torch.from_numpy(Y.T)
    costs = []
    for i in range(T):
        opt.zero_grad()
        if rec is not None:
            rec.begin(i)
        loss = nn.functional.binary_cross_entropy_with_logits(model(Xt), Yt)
        loss.backward()
        if rec is not None:
            rec.end(loss, lr)
        costs.append(loss.item())
        opt.step()
    return np.array(costs)


def test_diagnostics_equal_initlabs_recorder(problem):
    net, X, Y = problem
    T, lr = 30, 0.5
    at = record_iterations(T)
    ours = Recorder(len(net.weights), 1, activation=net.activation)
    _, hist = train(net, X, Y, learning_rate=lr, iterations=T, engine="direct", record_at=at,
                    hooks=[ours])  # fmt: skip
    model = itorch.from_network(net)
    rec = itorch.Recorder(model, torch.from_numpy(X.T), record_at=at)
    costs = torch_sgd(model, X, Y, lr, T, rec)
    close(costs, hist.costs[0])
    mine, theirs = rec.record(), ours.result().member(0)
    assert mine["layers"] == ["0", "2", "4"] and mine["activation"] == "tanh"
    for key in ("iterations", "units", "diverged", "schema"):
        assert mine[key] == theirs[key], key
    close(mine["cost"], theirs["cost"])
    for q in QUANTITIES:
        for l in range(3):
            close(mine[q][l], theirs[q][l])
    for when in ("first", "last"):
        for kind in ("A", "dZ"):
            for h, g in zip(mine["histograms"][when][kind], theirs["histograms"][when][kind],
                            strict=True):  # fmt: skip
                assert h["counts"] == g["counts"]
                close(h["edges"], g["edges"])


def test_lsuv_equals_initlabs(problem):
    net, X, _ = problem
    Xt = torch.from_numpy(X.T)
    for kwargs in ({}, {"tol": 0.01, "measure": "activation"}):
        expected, report = np_lsuv(net, X, **kwargs)
        model = itorch.from_network(net)
        got = itorch.lsuv(model, Xt, orthonormal=None, **kwargs)
        np.testing.assert_array_equal(got.iterations, report.iterations)
        close(got.variances, report.variances)
        for lin, W in zip(model[::2], expected.weights, strict=True):
            close(lin.weight.detach().numpy(), W[0])
    expected, report = lsuv_network([12, 9, 7, 1], X, activation="relu", seed=4)
    model = itorch.from_network(expected)  # the architecture; lsuv redraws every weight
    got = itorch.lsuv(model, Xt, orthonormal=4, activation="relu")
    np.testing.assert_array_equal(got.iterations, report.iterations)
    for lin, W in zip(model[::2], expected.weights, strict=True):
        close(lin.weight.detach().numpy(), W[0])
        assert not lin.bias.any()


def test_lsuv_on_a_cnn_gives_unit_variance():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.ConvTranspose2d(6, 4, 2, stride=2),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 10)).double()  # fmt: skip
    X = torch.from_numpy(np.random.default_rng(0).standard_normal((40, 1, 8, 8)))
    report = itorch.lsuv(model, X, tol=0.01, orthonormal=1)
    assert report.layers == ("0", "2", "5") and report.all_converged
    outputs = []
    hooks = [model[i].register_forward_hook(lambda m, i, o: outputs.append(o)) for i in (0, 2, 5)]
    with torch.no_grad():
        model(X)
    for h in hooks:
        h.remove()
    for o in outputs:  # measured independently of lsuv's own bookkeeping
        assert abs(o.var(unbiased=False).item() - 1) < 0.01
    assert "converged" in str(report)
    with pytest.raises(InitlabError, match="at least 2 examples"):
        itorch.lsuv(model, X[:1])


def test_infer_activation():
    assert itorch.infer_activation(nn.Sequential(nn.Linear(2, 2), nn.ReLU())).name == "relu"
    leaky = itorch.infer_activation(nn.Sequential(nn.LeakyReLU(0.2)))
    assert leaky.params == {"slope": 0.2}
    with pytest.raises(InitlabError, match="found: relu, tanh"):
        itorch.infer_activation(nn.Sequential(nn.ReLU(), nn.Tanh()))


# --- coordinate check --------------------------------------------------------------------


class Scaled(nn.Module):
    """x -> W x with W's entries N(0, 1/n) (stable) or N(0, 1) (grows like sqrt(n))."""

    def __init__(self, width: int, scaled: bool) -> None:
        super().__init__()
        self.inp = nn.Linear(16, width, bias=False)
        self.hidden = nn.Linear(width, width, bias=False)
        nn.init.normal_(self.inp.weight, std=16**-0.5)
        nn.init.normal_(self.hidden.weight, std=width**-0.5 if scaled else 1.0)

    def forward(self, x):
        return self.hidden(torch.relu(self.inp(x)))


def test_coord_check_slopes_match_the_scaling():
    X = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    batch = (X, torch.zeros(64, 1))

    def loss(out, y):
        return out.mean() * 0  # no learning: step 0's sizes are the point

    widths = [64, 128, 256, 512, 1024]
    stable = itorch.coord_check(lambda n: Scaled(n, True), widths, batch, loss, steps=1, seeds=2)
    grows = itorch.coord_check(lambda n: Scaled(n, False), widths, batch, loss, steps=1, seeds=2)
    assert stable.layers == ("inp", "hidden")
    rows = {r.layer: r for r in stable.rows()}
    assert rows["inp"].verdict == rows["hidden"].verdict == "stable"
    hidden = {r.layer: r for r in grows.rows()}["hidden"]
    # mean |W a| with Var(W_ij) = 1: sqrt(n E[a^2]) * sqrt(2/pi), a slope of 1/2
    assert hidden.verdict == "grows" and abs(hidden.slope - 0.5) < 0.05
    assert "grows" in str(grows)
    state = torch.random.get_rng_state()
    itorch.coord_check(lambda n: Scaled(n, True), [8, 16], batch, loss, steps=1)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's stream is untouched


# --- the example ---------------------------------------------------------------------------


def test_digits_example_writes_a_report_of_the_torch_model(tmp_path, capsys):
    import runpy
    from pathlib import Path

    from initlab.report import figures as plots
    from initlab.results.records import read_results

    example = runpy.run_path(str(Path(__file__).parents[1] / "examples" / "torch_digits.py"))
    out = example["main"](["--out", str(tmp_path), "--steps", "3", "--inits", "lsuv"])
    page = (out / "report.html").read_text()
    for name in ("conv1", "conv2", "fc1", "fc2"):
        assert name in page
    results = read_results(out)
    ylabel = plots.cost_curves(results).axes[0].get_ylabel()
    assert ylabel == "cost (cross-entropy)"  # a 10-class loss, not initlab's binary one
    (run,) = results["runs"]
    dg = run["diagnostics"]
    assert dg["layers"] == ["conv1", "conv2", "fc1", "fc2"] and dg["units"] == [8, 16, 64, 10]
    assert dg["iterations"] == [0, 1, 2] and len(run["cost_history"]) == 3
    # LSUV brought every layer to unit variance on its batch; step 0's z_std is measured on
    # another minibatch, so only roughly 1
    assert run["lsuv"]["layers"] == dg["layers"] and all(run["lsuv"]["converged"])
    assert all(0.7 < s[0] < 1.4 for s in dg["z_std"])
    assert "LSUV" in capsys.readouterr().out


def test_recorder_marks_divergence_and_stays_diverged(problem):
    net, X, Y = problem
    model = itorch.from_network(net)
    rec = itorch.Recorder(model, torch.from_numpy(X.T))
    Xt, Yt = torch.from_numpy(X.T), torch.from_numpy(Y.T)
    for i, scale in enumerate((1.0, math.nan, 1.0)):
        model.zero_grad()
        rec.begin(i)
        loss = nn.functional.binary_cross_entropy_with_logits(model(Xt), Yt) * scale
        loss.backward()
        rec.end(loss, 0.1)
    d = rec.record()
    assert d["diverged"] == [False, True, True] and d["cost"][1:] == [None, None]
    assert all(v[1] is None and v[2] is None and v[0] is not None for v in d["z_std"])
    assert d["histograms"]["first"]["A"][0] is not None
    assert d["histograms"]["last"]["A"] == [None, None, None]
    fresh = itorch.Recorder(model, Xt)
    fresh.begin(0)  # no forward pass before end()
    with pytest.raises(InitlabError, match="no output or no gradient"):
        fresh.end(1.0, 0.1)


def test_units_of_a_conv_transpose_are_its_output_channels():
    from initlab.torch._diagnostics import _units

    layer = nn.ConvTranspose2d(6, 8, 3, groups=2).double()
    W = layer.weight.detach().numpy()  # (in 6, out/groups 4, 3, 3)
    units, b = _units(layer)
    assert units.shape == (8, 3 * 9) and b.shape == (8,)
    for o in range(8):  # output channel o = group g, local channel j, fed by inputs of group g
        g, j = divmod(o, 4)
        np.testing.assert_array_equal(units[o], W[3 * g : 3 * g + 3, j].ravel())
    with torch.no_grad():  # output channels 1 and 6 made one unit: one fewer distinct unit
        layer.weight[3:6, 2] = layer.weight[0:3, 1]
        layer.bias[6] = layer.bias[1]
    model = nn.Sequential(layer, nn.ReLU())
    rec = itorch.Recorder(model, torch.ones(2, 6, 4, 4, dtype=torch.float64))
    rec.begin(0)
    loss = model(torch.randn(2, 6, 4, 4, dtype=torch.float64)).sum()
    loss.backward()
    rec.end(loss, 0.1)
    assert rec.record()["distinct_units"] == [[7]] and rec.record()["units"] == [8]
