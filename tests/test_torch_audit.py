"""initlab.torch.audit: verdicts against mean-field theory and against a few training steps,
fixes that correct them, no side effects, audit.json, the CLI and the report section.

The reference architectures are built by hand (initlab.torch.models; torchvision's CPU
wheels for torch 2.13 are not reachable here)."""

from __future__ import annotations

import copy
import json
import math
import sys

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from initlab.torch import apply, audit, models


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Training steps on one intra-op thread: tiny float64 matmuls on contended cores
    otherwise take 70x longer."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def tanh_mlp():
    """A 10-hidden-layer tanh MLP of width 64 with PyTorch's default init (sigma_w^2 =
    1/3)."""
    X = torch.randn(128, 64, dtype=torch.float64, generator=_gen(1))
    y = (X[:, :32].sum(1) > 0).long()
    model = models.mlp([64] + [64] * 10 + [2], "tanh").double()
    return model, X, y, audit(model, X, lambda o: F.cross_entropy(o, y), probes=4,
                              power_iters=5)  # fmt: skip


def _train(model, X, loss_fn, steps, lr):
    model = copy.deepcopy(model)
    w0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with torch.no_grad():
        first = float(loss_fn(model(X)))
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(X)).backward()
        opt.step()
    with torch.no_grad():
        last = float(loss_fn(model(X)))
    change = {n.removesuffix(".weight"): float((p.detach() - w0[n]).norm() / w0[n].norm())
              for n, p in model.named_parameters() if n.endswith("weight")}  # fmt: skip
    return first, last, change


def test_mlp_measurements_agree_with_mean_field_theory():
    """Measured / predicted, in logs, averaged over 6 networks: the predictions are for the
    expectation over the weights, and one network of width 64 deviates from it by about
    sqrt(2/64) = 18% a layer (more for gradients, propagated back through 10 layers)."""
    logs = []
    for s in range(6):
        X = torch.randn(128, 64, dtype=torch.float64, generator=_gen(10 + s))
        model = models.mlp([64] + [64] * 10 + [2], "tanh", seed=s).double()
        a = audit(model, X, probes=4, power_iters=2, fix=False, seed=s)
        rows = a.layers[:-1]  # (the 2-unit head alone fluctuates too much)
        logs.append([[math.log(r[k] / r["pred_" + k]) for k in ("out_ms", "jac", "grad_n2")]
                     for r in rows])  # fmt: skip
        assert rows[1]["pred_growth"] == pytest.approx(1 / 3, rel=0.1)  # sigma_w^2 = 1/3
    mean = torch.tensor(logs).mean(0)  # (layers, 3)
    assert mean[:, :2].abs().max() < 0.2, mean
    assert mean[:, 2].abs().max() < 0.3, mean


def test_mlp_vanishing_verdict_agrees_with_training_and_the_fix_corrects_it(tanh_mlp):
    model, X, y, a = tanh_mlp
    verdicts = a.verdicts()
    assert all(v == "vanishing" for v in verdicts.values())
    loss_fn = lambda o: F.cross_entropy(o, y)  # noqa: E731
    first, last, change = _train(model, X, loss_fn, steps=30, lr=0.1)
    assert first - last < 0.01  # the loss does not move
    hidden = [c for n, c in change.items() if n != "20"]
    assert max(hidden) < change["20"] / 3  # the flagged layers barely change
    after = a.fix["after"]
    assert all(r["verdict"] == "healthy" for r in after["layers"])
    fixed = copy.deepcopy(model)
    apply(fixed, None, rules=a.rules, bias=None, seed=0)
    first, last, _ = _train(fixed, X, loss_fn, steps=30, lr=0.1)
    assert last < 0.2 * first


def test_resnet_without_normalization_explodes_and_depth_scaled_branches_fix_it():
    model = models.ResNet((6,), width=8, norm=None, in_channels=1)
    apply(model, "kaiming_normal", bias=None)  # He everywhere: the stream grows block by block
    X = torch.randn(16, 1, 16, 16, generator=_gen(1))
    y = torch.randint(0, 10, (16,), generator=_gen(2))
    loss_fn = lambda o: F.cross_entropy(o, y)  # noqa: E731
    a = audit(model, X, loss_fn, probes=2, power_iters=3)
    blocks = a.blocks
    assert blocks[-1]["growth"] > 10 and blocks[-1]["verdict"] == "exploding"
    assert all(r[0].endswith(("conv2.weight", "conv2.bias")) for r in a.rules)
    assert all(b["verdict"] == "healthy" for b in a.fix["after"]["blocks"])
    assert a.fix["after"]["blocks"][-1]["growth"] < 3
    fixed = copy.deepcopy(model)
    apply(fixed, None, rules=a.rules, bias=None, seed=0)
    # training: the exploding model starts at a larger loss and diverges at a learning rate
    # that trains the fixed one
    first, last, _ = _train(model, X, loss_fn, steps=10, lr=0.1)
    first_fixed, last_fixed, _ = _train(fixed, X, loss_fn, steps=10, lr=0.1)
    assert first > 2 * first_fixed
    assert not math.isfinite(last) or last > first
    assert last_fixed < 0.5 * first_fixed


def test_deep_post_ln_transformer_lower_blocks_vanish_and_the_fix_corrects_it():
    L = 32
    model = models.TransformerClassifier(d_model=32, n_heads=4, n_layers=L, max_len=8)
    model = model.double()
    tokens = torch.randint(0, 100, (4, 8), generator=_gen(1))
    y = torch.randint(0, 2, (4,), generator=_gen(2))
    loss_fn = lambda o: F.cross_entropy(o, y)  # noqa: E731
    a = audit(model, tokens, loss_fn, probes=2, power_iters=3)
    v = a.verdicts()
    assert v["encoder.layers.0"] == "vanishing" and v[f"encoder.layers.{L - 1}"] == "healthy"
    flagged = [i for i in range(L) if v[f"encoder.layers.{i}.linear1"] == "vanishing"]
    assert len(flagged) > L // 2
    # one SGD step: the flagged layers really move less than the top block's (the verdict
    # is on squared norms: a decade there is a factor 3.2 in the gradient's norm)
    _, _, change = _train(model, tokens, loss_fn, steps=1, lr=0.1)
    top = change[f"encoder.layers.{L - 1}.linear1"]
    assert all(change[f"encoder.layers.{i}.linear1"] < top / 2.5 for i in flagged)
    after = {r["name"]: r for r in a.fix["after"]["blocks"]}
    assert all(r["verdict"] == "healthy" for r in after.values())
    assert after[f"encoder.layers.{L - 1}"]["jac"] > 0.8  # the input reaches the top again
    fixed = copy.deepcopy(model)
    apply(fixed, None, rules=a.rules, bias=None, seed=0)
    _, _, change = _train(fixed, tokens, loss_fn, steps=1, lr=0.1)
    ratio = change["encoder.layers.0.linear1"] / change[f"encoder.layers.{L - 1}.linear1"]
    assert 1 / 2.5 < ratio < 2.5


@pytest.mark.parametrize("training", [False, True])
def test_audit_leaves_no_side_effects(training):
    model = models.ResNet((1, 1), width=8, in_channels=1, seed=3)  # BatchNorm
    model.train(training)
    X = torch.randn(8, 1, 16, 16, generator=_gen(1))
    buffers = {n: b.clone() for n, b in model.state_dict().items()}
    rng = torch.get_rng_state()
    threads = torch.get_num_threads()
    audit(model, X, probes=1, power_iters=2)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.get_num_threads() == threads
    assert all(m.training == training for m in model.modules())
    for n, b in model.state_dict().items():
        assert torch.equal(b, buffers[n]), n
    assert all(p.grad is None for p in model.parameters())


def test_audit_json_is_plain_data_and_bad_input_is_one_line(tmp_path):
    model = models.mlp([8, 8, 8, 2], "relu").double()
    X = torch.randn(16, 8, dtype=torch.float64, generator=_gen(0))
    a = audit(model, X, probes=1, power_iters=2)
    path = a.write(tmp_path)
    data = json.loads(path.read_text())
    assert data["format"] == "initlab-audit" and len(data["layers"]) == 3
    assert "verdict" in str(a)
    from initlab._validation import InitlabError

    with pytest.raises(InitlabError, match="loss_fn must return a scalar"):
        audit(model, X, lambda o: o, probes=1, power_iters=1)
    with pytest.raises(InitlabError, match="no Linear, Conv"):
        audit(nn.Sequential(nn.Tanh()), X, probes=1, power_iters=1)


def test_an_overflowing_model_is_exploding_and_its_audit_is_strict_json(tmp_path):
    model = models.mlp([16] + [16] * 30 + [2], "relu")  # float32
    apply(model, {"name": "random", "scale": 10.0}, seed=0)  # N(0, 100): sigma_w^2 = 1600
    a = audit(model, torch.randn(8, 16, generator=_gen(0)), probes=1, power_iters=2)
    assert all(v in ("exploding", "dead") for v in a.verdicts().values())
    assert a.verdicts()["60"] == "exploding"
    data = json.loads(a.write(tmp_path).read_text(), parse_constant=pytest.fail)
    assert data["layers"][-1]["verdict"] == "exploding"


def test_report_refuses_a_damaged_audit_naming_the_file(tmp_path):
    from initlab._validation import InitlabError
    from initlab.report.html import write_report

    (tmp_path / "audit.json").write_text('{"format": "something else"}')
    with pytest.raises(InitlabError, match=r"audit\.json is not an initlab audit"):
        write_report(tmp_path)


def test_audit_runs_through_an_lstm_and_tied_weights():
    tokens = torch.randint(0, 65, (4, 8), generator=_gen(0))
    a = audit(models.LSTMTagger(vocab=65), tokens, probes=1, power_iters=2)
    assert a.data["input"]["jacobian_input"] == "output of embed"
    assert a.data["input"]["sv_max"] > 0 and a.layers[0]["jac"] > 0
    a = audit(models.GPT(n_layers=2, tied=True), tokens, probes=1, power_iters=2)
    assert [b["name"] for b in a.blocks] == ["blocks.0", "blocks.1"]


FACTORY = """
import torch
from initlab.torch import models

def make():
    model = models.mlp([16] + [16] * 8 + [2], "tanh").double()
    return model, torch.randn(64, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

def bad():
    return 3
"""


@pytest.fixture
def factory_dir(tmp_path, monkeypatch):
    (tmp_path / "auditfactory.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    sys.modules.pop("auditfactory", None)


def test_cli_audit_writes_audit_json_and_report_draws_it(factory_dir, capsys):
    from initlab.cli import main

    out = factory_dir / "out"
    code = main(["audit", "auditfactory:make", "--out", str(out), "--probes", "1",
                 "--power-iters", "2"])  # fmt: skip
    assert code == 0
    assert "vanishing" in capsys.readouterr().out and (out / "audit.json").is_file()
    assert main(["report", str(out), "-q"]) == 0
    md = (out / "report.md").read_text()
    assert "## Initialization audit" in md and "vanishing" in md
    page = (out / "report.html").read_text()
    assert "Initialization audit" in page and "data:image/png;base64," in page


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nocolon", "module:factory"),
        ("no_such_module_xyz:make", "cannot import"),
        ("auditfactory:missing", "has no"),
        ("auditfactory:bad", "(model, batch)"),
        ("auditfactory:make --out auditfactory.py", "is a file"),
    ],
)
def test_cli_bad_factory_is_one_line(factory_dir, capsys, spec, message):
    from initlab.cli import main

    assert main(["audit", *spec.split()]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
