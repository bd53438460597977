"""initlab.torch.audit: verdicts against mean-field theory and against a few training steps,
fixes that correct them, no side effects, audit.json, the CLI and the report section.

The reference architectures are built by hand (initlab.torch.models; torchvision's CPU
wheels for torch 2.13 are not reachable here)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from initlab.torch import apply, audit, models  # noqa: E402


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


def test_mlp_measurements_agree_with_mean_field_theory(tanh_mlp):
    _, _, _, a = tanh_mlp
    for r in a.layers[:-1]:  # (the 2-unit head fluctuates too much for a 20% band)
        # finite width: one network's 64 units, about sqrt(2/64) = 18% a layer
        assert r["out_ms"] == pytest.approx(r["pred_out_ms"], rel=0.3), r["name"]
        assert r["jac"] == pytest.approx(r["pred_jac"], rel=0.35), r["name"]
        assert r["grad_n2"] == pytest.approx(r["pred_grad_n2"], rel=0.35), r["name"]
    # the theory's own numbers: sigma_w^2 = 1/3 shrinks the signal by ~1/3 a layer
    assert a.layers[1]["pred_growth"] == pytest.approx(1 / 3, rel=0.1)


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
    apply(model, "kaiming_normal", bias=None)  # He everywhere: each block doubles the stream
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
    first, last, _ = _train(model, X, loss_fn, steps=5, lr=0.02)
    first_fixed, last_fixed, _ = _train(fixed, X, loss_fn, steps=5, lr=0.02)
    assert first > 10 * first_fixed  # exploded logits: a huge initial loss
    assert not last < first_fixed  # and a few steps do not bring it down to the fixed start
    assert last_fixed < first_fixed


def test_deep_post_ln_transformer_lower_blocks_vanish_and_the_fix_corrects_it():
    model = models.TransformerClassifier(d_model=32, n_heads=4, n_layers=24, max_len=8)
    model = model.double()
    tokens = torch.randint(0, 100, (8, 8), generator=_gen(1))
    y = torch.randint(0, 2, (8,), generator=_gen(2))
    loss_fn = lambda o: F.cross_entropy(o, y)  # noqa: E731
    a = audit(model, tokens, loss_fn, probes=2, power_iters=3)
    v = a.verdicts()
    assert v["encoder.layers.0"] == "vanishing" and v["encoder.layers.23"] == "healthy"
    assert v["encoder.layers.0.linear1"] == "vanishing"
    # one SGD step: the flagged lowest block really moves much less than the top one
    _, _, change = _train(model, tokens, loss_fn, steps=1, lr=0.1)
    assert change["encoder.layers.0.linear1"] < change["encoder.layers.23.linear1"] / 10
    after = {r["name"]: r for r in a.fix["after"]["blocks"]}
    assert all(r["verdict"] == "healthy" for r in after.values())
    assert after["encoder.layers.23"]["jac"] > 0.8  # the input reaches the top again
    fixed = copy.deepcopy(model)
    apply(fixed, None, rules=a.rules, bias=None, seed=0)
    _, _, change = _train(fixed, tokens, loss_fn, steps=1, lr=0.1)
    ratio = change["encoder.layers.0.linear1"] / change["encoder.layers.23.linear1"]
    assert 0.1 < ratio < 10


def test_audit_leaves_no_side_effects():
    model = models.ResNet((1, 1), width=8, in_channels=1, seed=3)  # BatchNorm, eval mode
    model.eval()
    X = torch.randn(8, 1, 16, 16, generator=_gen(1))
    buffers = {n: b.clone() for n, b in model.state_dict().items()}
    rng = torch.get_rng_state()
    threads = torch.get_num_threads()
    audit(model, X, probes=1, power_iters=2)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.get_num_threads() == threads
    assert not any(m.training for m in model.modules())
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


FACTORY = """
import torch
from initlab.torch import models

def make():
    model = models.mlp([16] + [16] * 8 + [2], "tanh").double()
    return model, torch.randn(64, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
"""


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "initlab", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_cli_audit_writes_audit_json_and_report_draws_it(tmp_path):
    (tmp_path / "myfactory.py").write_text(FACTORY)
    out = tmp_path / "out"
    r = _cli("audit", "myfactory:make", "--out", str(out), "--probes", "1",
             "--power-iters", "2", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "vanishing" in r.stdout and (out / "audit.json").is_file()
    r = _cli("report", str(out), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    md = (out / "report.md").read_text()
    assert "## Initialization audit" in md and "vanishing" in md
    assert "Initialization audit" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nocolon", "module:factory"),
        ("no_such_module_xyz:make", "cannot import"),
        ("myfactory:missing", "has no"),
        ("myfactory:bad", "(model, batch)"),
    ],
)
def test_cli_bad_factory_is_one_line(tmp_path, spec, message):
    (tmp_path / "myfactory.py").write_text(FACTORY + "\ndef bad():\n    return 3\n")
    r = _cli("audit", spec, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
