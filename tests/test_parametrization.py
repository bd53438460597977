"""Width parametrizations: the table against the papers, against an explicit abc network, and
against the mup package; muP at its base width is SP bit for bit."""

import numpy as np
import pytest

from initlab import init_network
from initlab.data import load, sample
from initlab.init import parametrization as par
from initlab.nn.losses import get_head
from initlab.nn.training import train


def digits(n: int, seed: int = 0):
    ds = sample(load("digits10"), n, seed)
    return ds.X, ds.one_hot()


def train_steps(model, X, Y, *, steps, hooks=(), **kw):
    """`model` trained for `steps` updates (softmax head, no divergence bound)."""
    trained, _ = train(model, X, Y, iterations=steps, head="softmax", divergence_factor=None,
                       record_at=range(steps), hooks=hooks, **kw)  # fmt: skip
    return trained


def test_table_is_yang_and_hu_and_tensor_programs_v():
    """TP IV Def. 5.1 (muP, SGD) and TP V Table 3 (init variance and SGD/Adam lr), written
    out here in terms of fan-in and fan-out ratios to the base shapes."""
    mup = par.get("mup").rules
    assert [(mup[k].a, mup[k].b, mup[k].c_sgd) for k in ("input", "hidden", "output")] == [
        (-0.5, 0.5, 0), (0, 0.5, 0), (0.5, 0.5, 0)
    ]  # fmt: skip
    d, d_out, n0 = 7, 3, 32
    for n in (32, 64, 512):
        r = n / n0
        sizes = [d, n, n, d_out]
        # Table 3, relative to SP (SP: var 1/fan_in, lr eta everywhere):
        # init var: input 1/fan_in (= SP), hidden 1/fan_in (= SP), output 1/fan_in^2 (SP / r)
        # SGD lr: input eta*fan_out (r), hidden eta (1), output eta/fan_in (1/r)
        # Adam lr: input eta (1), hidden eta/fan_in (1/r), output eta/fan_in (1/r)
        # biases: like input weights (SGD r, Adam 1); the readout's bias has no width (1)
        sgd = par.layer_scales("mup", sizes, n0, "sgd")
        adam = par.layer_scales("mup", sizes, n0, "adam")
        np.testing.assert_allclose(np.square(sgd.init), [1, 1, 1 / r], rtol=1e-15)
        np.testing.assert_allclose(sgd.lr, [r, 1, 1 / r], rtol=1e-15)
        np.testing.assert_allclose(adam.lr, [1, 1 / r, 1 / r], rtol=1e-15)
        np.testing.assert_allclose(sgd.bias_lr, [r, r, 1], rtol=1e-15)
        np.testing.assert_allclose(adam.bias_lr, [1, 1, 1], rtol=1e-15)
        # NTK (Jacot et al.): W = w / sqrt(fan_in), w ~ N(0, 1), lr eta on w: the effective
        # weights have SP's variance and lr eta / fan_in beyond the input layer
        ntk = par.layer_scales("ntk", sizes, n0, "sgd")
        np.testing.assert_allclose(ntk.init, [1, 1, 1], rtol=1e-15)
        np.testing.assert_allclose(ntk.lr, [1, 1 / r, 1 / r], rtol=1e-15)
        sp = par.layer_scales("sp", sizes, n0, "adam")
        assert sp.init == sp.lr == sp.bias_lr == (1.0, 1.0, 1.0)


def test_docs_table_is_the_module_table():
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "scaling.md").read_text()
    assert par.markdown_table() in doc


def test_mup_at_base_width_is_sp_bit_for_bit():
    X, Y = digits(40)
    kw = dict(depth=2, init="he", activation="relu")
    for optimizer in ("sgd", "adam"):
        sp, lr_sp = par.init_model(
            (64, 48, 10), [3, 4], parametrization="sp", optimizer=optimizer, **kw
        )
        mup, lr_mup = par.init_model(
            (64, 48, 10), [3, 4], parametrization="mup", base_width=48, optimizer=optimizer, **kw
        )
        assert lr_mup == lr_sp == [1.0] * len(lr_sp)
        # the plain MLP draws exactly initlab.init_network's weights
        ref = init_network([64, 48, 48, 48, 10], "he", activation="relu", seed=4)
        for p, W in zip(sp.params[0::2], ref.weights, strict=True):
            np.testing.assert_array_equal(p[1], W[0])
        sp, mup = (train_steps(model, X, Y, learning_rate=[0.05, 0.01], lr_scale=lr, steps=4,
                               optimizer=optimizer, batch_size=16)
                   for model, lr in ((sp, lr_sp), (mup, lr_mup)))  # fmt: skip
        for a, b in zip(sp.params, mup.params, strict=True):
            np.testing.assert_array_equal(a, b)


def _abc_train(Ws, rules, n, X, Y, eta, steps, optimizer, eps=1e-8):
    """An explicit abc-parametrized MLP (Yang & Hu 2021, Sec. 3): forward with multipliers
    n^-a on w, w trained at eta * n^-c by SGD or Adam. Returns the effective weights n^-a w."""
    head = get_head("softmax")
    mult = [n**-r.a for r in rules]
    ws = [W / m for W, m in zip(Ws, mult, strict=True)]
    bs = [np.zeros((W.shape[0], 1)) for W in Ws]
    bmult = [n ** -par.get("mup").rules["bias"].a] * (len(Ws) - 1) + [1.0]
    key = "c_sgd" if optimizer == "sgd" else "c_adam"
    brule = par.get("mup").rules
    lr_w = [eta * n ** -getattr(r, key) for r in rules]
    lr_b = [eta * n ** -getattr(brule["bias"], key)] * (len(Ws) - 1) + [eta]
    state = [np.zeros_like(p) for p in ws + bs], [np.zeros_like(p) for p in ws + bs]
    for t in range(1, steps + 1):
        A, cache = X, []
        for l, (w, b) in enumerate(zip(ws, bs, strict=True)):
            Z = mult[l] * (w @ A) + bmult[l] * b
            cache.append((A, Z))
            A = np.maximum(Z, 0) if l < len(ws) - 1 else Z
        dZ = head.dZ(Z, Y) / X.shape[1]
        gw, gb = [None] * len(ws), [None] * len(ws)
        for l in range(len(ws) - 1, -1, -1):
            A_prev, Z = cache[l]
            if l < len(ws) - 1:
                dZ = dZ * (Z > 0)
            gw[l] = mult[l] * dZ @ A_prev.T
            gb[l] = bmult[l] * dZ.sum(axis=1, keepdims=True)
            dZ = mult[l] * ws[l].T @ dZ
        params, grads, lrs = ws + bs, gw + gb, lr_w + lr_b
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if optimizer == "sgd":
                p -= lrs[i] * g
            else:
                m, v = state[0][i], state[1][i]
                m += (1 - 0.9) * (g - m)
                v *= 0.999
                v += (1 - 0.999) * g * g
                p -= lrs[i] / (1 - 0.9**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**t) + eps)
    return [m * w for m, w in zip(mult, ws, strict=True)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_effective_training_equals_explicit_abc_multipliers(optimizer):
    """Trained as effective weights with per-layer learning rates, muP follows the explicit
    multiplier form's trajectory (SGD: exactly by the symmetry; Adam: up to eps, so eps
    is taken negligible here)."""
    X, Y = digits(32, seed=1)
    n, steps, eta = 256, 3, 0.05 if optimizer == "sgd" else 0.002
    model, lr = par.init_model((64, n, 10), [5], depth=1, parametrization="mup", base_width=1,
                               optimizer=optimizer)  # fmt: skip
    Ws0 = [p[0].copy() for p in model.params[0::2]]
    opt = "sgd" if optimizer == "sgd" else {"name": "adam", "eps": 1e-300}
    model = train_steps(model, X, Y, learning_rate=eta, lr_scale=lr, steps=steps, optimizer=opt)
    rules = [par.get("mup").rules[k] for k in par.layer_kinds(3)]
    ref = _abc_train(Ws0, rules, n, X, Y, eta, steps, optimizer, eps=1e-300)
    for p, W in zip(model.params[0::2], ref, strict=True):
        np.testing.assert_allclose(p[0], W, rtol=1e-9, atol=1e-12)


def _mup_torch_model(d, n, n0, d_out, depth):
    """An MLP with mup's MuReadout, its base shapes set from a width-n0 copy."""
    mup = pytest.importorskip("mup", reason="the mup package is not installed")
    import torch

    def build(width):
        layers = [torch.nn.Linear(d, width, dtype=torch.float64)]
        for _ in range(depth):
            layers += [torch.nn.ReLU(), torch.nn.Linear(width, width, dtype=torch.float64)]
        layers += [torch.nn.ReLU(), mup.MuReadout(width, d_out, dtype=torch.float64)]
        return torch.nn.Sequential(*layers)

    model = build(n)
    mup.set_base_shapes(model, build(n0), rescale_params=False)
    return mup, torch, model


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_equals_the_mup_package(optimizer):
    """Same effective initial weights, same steps: initlab's muP and mup's MuReadout with
    MuSGD / MuAdam (eps negligible: see the module docstring) give the same weights, and
    the same coordinate-check sizes."""
    n0, n, depth, steps = 32, 128, 1, 3
    mup, torch, tmodel = _mup_torch_model(64, n, n0, 10, depth)
    X, Y = digits(48, seed=2)
    eta = 0.1 if optimizer == "sgd" else 0.003
    model, lr = par.init_model((64, n, 10), [7], depth=depth, parametrization="mup",
                               base_width=n0, optimizer=optimizer)  # fmt: skip
    linears = [m for m in tmodel if isinstance(m, torch.nn.Linear)]
    r = n / n0
    with torch.no_grad():
        for lin, W, b in zip(linears, model.params[0::2], model.params[1::2], strict=True):
            scale = r if isinstance(lin, mup.MuReadout) else 1.0  # readout: W = w / width_mult
            lin.weight.copy_(torch.from_numpy(W[0] * scale))
            lin.bias.copy_(torch.from_numpy(b[0, :, 0]))
    if optimizer == "sgd":
        topt = mup.MuSGD(tmodel.parameters(), lr=eta)
        opt = "sgd"
    else:
        topt = mup.MuAdam(tmodel.parameters(), lr=eta, eps=1e-300)
        opt = {"name": "adam", "eps": 1e-300}
    Xt, yt = torch.from_numpy(X.T.copy()), torch.from_numpy(Y.argmax(axis=0))
    sizes_torch = []
    for _ in range(steps):
        out = [Xt]
        for mod in tmodel:
            out.append(mod(out[-1]))
        sizes_torch.append([o.abs().mean().item() for o, mod in zip(out[1:], tmodel, strict=True)
                            if isinstance(mod, torch.nn.Linear)])  # fmt: skip
        topt.zero_grad()
        torch.nn.functional.cross_entropy(out[-1], yt).backward()
        topt.step()
    sizes = []
    model = train_steps(model, X, Y, learning_rate=eta, lr_scale=lr, steps=steps, optimizer=opt,
                        hooks=[lambda st: sizes.append([float(np.abs(x).mean()) for x in st.Zs])])  # fmt: skip
    np.testing.assert_allclose(sizes, sizes_torch, rtol=1e-10)
    with torch.no_grad():
        for lin, W in zip(linears, model.params[0::2], strict=True):
            scale = r if isinstance(lin, mup.MuReadout) else 1.0
            np.testing.assert_allclose(lin.weight.numpy() / scale, W[0], rtol=1e-9, atol=1e-12)


def _spec(**model):
    from initlab.specs import spec

    return spec.parse(
        {
            "data": {"train": "digits"},
            "model": {"hidden": [16, 16], "activation": "relu", **model},
            "training": {"learning_rate": 0.3, "iterations": 15, "seed": 1, "diagnostics": False},
            "runs": [{"name": "he", "init": "he", "seeds": 2}],
        }
    )


def test_spec_keys_parametrization_and_base_width():
    """[model] parametrization/base_width: at the base width the runs are SP's bit for bit;
    above it, each member is the He network rescaled by layer_scales and trained by GD with
    the layer factors, weights and biases each at their own (the core's train, checked
    member by member)."""
    from dataclasses import replace

    from initlab.execution import runner
    from initlab.nn.training import train
    from initlab.specs import named
    from initlab.specs import spec as spec_mod

    sp = _spec()
    data = runner.load_data(sp)
    costs = [np.asarray(r["cost_history"]) for r in runner.run(sp, data=data)["runs"]]
    same = runner.run(_spec(parametrization="mup", base_width=16), data=data)["runs"]
    for r, c in zip(same, costs, strict=True):
        np.testing.assert_array_equal(r["cost_history"], c)
    mup = runner.run(_spec(parametrization="mup", base_width=4), data=data)["runs"]
    sizes = [64, 16, 16, 1]
    scales = par.layer_scales("mup", sizes, 4, "sgd")
    assert scales.lr == (4.0, 1.0, 0.25) and scales.init == (1.0, 1.0, 0.5)
    assert scales.bias_lr == (4.0, 4.0, 1.0)  # hidden biases as input weights (TP V Table 3)
    for rec in mup:
        net = init_network(sizes, "he", activation="relu", seed=rec["seed"])
        net.weights = par.rescale_weights(net.weights, scales)
        _, hist = train(net, data.train.X, data.train.Y, learning_rate=0.3, iterations=15,
                        optimizer={"name": "gd", "layer_lr_scale": scales.lr,
                                   "bias_lr_scale": scales.bias_lr})  # fmt: skip
        np.testing.assert_array_equal(rec["cost_history"], hist.costs[0])
    assert mup[0]["theory"]["available"] is False  # the readout is not the init's
    adam = _spec(parametrization="mup", base_width=4)  # Adam takes the table's Adam column
    adam.training = replace(adam.training, optimizer=named.optimizer_spec("adam"))
    a = par.layer_scales("mup", sizes, 4, "adam")
    assert a.lr == (1.0, 0.25, 0.25) and a.bias_lr == (1.0, 1.0, 1.0)
    rec = runner.run(adam, data=data)["runs"][1]
    net = init_network(sizes, "he", activation="relu", seed=rec["seed"])
    net.weights = par.rescale_weights(net.weights, a)
    _, hist = train(net, data.train.X, data.train.Y, learning_rate=0.3, iterations=15,
                    optimizer={"name": "adam", "layer_lr_scale": a.lr,
                               "bias_lr_scale": a.bias_lr})  # fmt: skip
    np.testing.assert_array_equal(rec["cost_history"], hist.costs[0])
    assert not np.array_equal(mup[0]["cost_history"], costs[0])
    with pytest.raises(spec_mod.SpecError, match="hidden layers of one width"):
        _spec(hidden=[16, 8], parametrization="mup")
    with pytest.raises(spec_mod.SpecError, match="unknown parametrization"):
        _spec(parametrization="mu")


def test_sweep_run_ids_unchanged_for_sp():
    from initlab.specs import sweep_spec

    raw = {"data": {"train": "digits"}, "model": {"hidden": [8, 8]},
           "axes": {"init": ["he"], "learning_rate": [0.1]}}  # fmt: skip
    sp = sweep_spec.expand(sweep_spec.parse(raw))
    assert "parametrization" not in sp[0].config
    sweep = sweep_spec.parse({**raw, "model": {"hidden": [8, 8], "parametrization": "mup",
                                               "base_width": 4}})  # fmt: skip
    mup = sweep_spec.expand(sweep)
    assert mup[0].config["parametrization"] == "mup" and mup[0].id != sp[0].id
    chunk = sweep_spec.chunks(mup, sweep)[0]
    assert chunk.model.parametrization == "mup" and chunk.model.base_width == 4


def test_sweep_over_parametrization_and_width_trains_each_run_as_alone(tmp_path):
    """axes parametrization x width x optimizer (GD and Adam: each its column of the table):
    every stored run has the numbers of an experiment spec of that one run; SP runs keep the
    ids of a sweep that never named a parametrization; the store's rows answer
    --where parametrization=mup / width=16, group by parametrization and draw by width."""
    from initlab.execution import runner, sweep
    from initlab.report import sweep as sweep_plots
    from initlab.results import table
    from initlab.results.sweep_store import open_store
    from initlab.specs import spec as experiment_spec
    from initlab.specs import sweep_spec

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6))
    np.savez(tmp_path / "toy.npz", X=X, y=(X[:, 0] + X[:, 1] > 0).astype(np.int64))
    model = {"hidden": [3, 3], "activation": "relu", "base_width": 4}
    training = {"iterations": 12, "learning_rate": 0.05}
    raw = {"data": {"train": "toy.npz"}, "model": model, "training": training,
           "axes": {"init": ["he"], "optimizer": ["gd", "adam"], "parametrization": ["sp", "mup"],
                    "width": [4, 16], "seeds": 2}}  # fmt: skip
    s = sweep_spec.parse(raw, base=tmp_path)
    assert len(s.runs) == 16 and len(sweep_spec.chunks(s.runs, s)) == 8
    with sweep.prepare(s, tmp_path / "out") as plan:
        sweep.execute(plan, jobs=1)
    with open_store(tmp_path / "out", readonly=True) as store:
        rows = store.rows(histories=["cost_history"])
    by_id = {r["id"]: r for r in rows}
    for r in s.runs:
        c = r.config
        p, w = c.get("parametrization", "sp"), c["hidden"][0]
        alone = experiment_spec.parse({
            "data": {"train": str(tmp_path / "toy.npz")},
            "model": {**model, "hidden": [w, w], "parametrization": p},
            "training": {**training, "optimizer": c.get("optimizer", "gd"), "seed": r.run.seed,
                         "diagnostics": False},
            "runs": [{"init": "he"}],
        })  # fmt: skip
        rec = runner.run(alone)["runs"][0]
        np.testing.assert_array_equal(by_id[r.id]["cost_history"], rec["cost_history"])
        assert (by_id[r.id]["parametrization"], by_id[r.id]["width"]) == (p, w)
    # muP moved away from SP above the base width only (both optimizers)
    cost = {(r["parametrization"], r["width"], r["config"].get("optimizer", {}).get("name", "gd"),
             r["seed"]): r["final_cost"] for r in rows}  # fmt: skip
    for opt in ("gd", "adam"):
        assert cost["mup", 4, opt, 1] == cost["sp", 4, opt, 1]
        assert cost["mup", 16, opt, 1] != cost["sp", 16, opt, 1]
    # SP runs: the ids of the same sweep written with hidden lists and no parametrization
    plain = {**raw, "model": {"hidden": [3, 3], "activation": "relu"},
             "axes": {"init": ["he"], "optimizer": ["gd", "adam"], "hidden": [[4, 4], [16, 16]],
                      "seeds": 2}}  # fmt: skip
    sp_ids = {r.id for r in s.runs if "parametrization" not in r.config}
    assert sp_ids == {r.id for r in sweep_spec.parse(plain, base=tmp_path).runs}
    mup = table.where(rows, table.parse_where(["parametrization=mup", "width=16"]))
    assert len(mup) == 4 and all(r["config"]["base_width"] == 4 for r in mup)
    means = table.mean_over_seeds(rows)
    assert len(means) == 8 and {m["parametrization"] for m in means} == {"sp", "mup"}
    fig = sweep_plots.heatmap(rows, "width", "parametrization")
    grid = fig.axes[0].images[0].get_array()
    for i, p in enumerate(("sp", "mup")):
        for j, w in enumerate((4, 16)):
            cell = [r["final_cost"] for r in rows if (r["parametrization"], r["width"]) == (p, w)]
            assert grid[i, j] == pytest.approx(np.mean(cell), rel=1e-12)


def test_parametrization_axes_are_refused_with_the_key():
    from initlab._validation import SpecError
    from initlab.specs import sweep_spec

    raw = {"data": {"train": "digits"}, "model": {"hidden": [8, 8]},
           "axes": {"init": ["he"], "parametrization": ["sp", "mup"], "width": [8, 16]}}  # fmt: skip
    with pytest.raises(SpecError, match=r"needs model\.base_width"):
        sweep_spec.parse(raw)
    bad = {**raw, "axes": {**raw["axes"], "parametrization": ["mu"]}}
    with pytest.raises(SpecError, match=r"axes.parametrization\[0\]: unknown parametrization"):
        sweep_spec.parse(bad)
    twice = {**raw, "model": {"hidden": [8, 8], "base_width": 8},
             "axes": {**raw["axes"], "hidden": [[4, 4], [5, 5]]}}  # fmt: skip
    with pytest.raises(SpecError, match="distinct lengths"):
        sweep_spec.parse(twice)
    uneven = {**raw, "axes": {"init": ["he"], "parametrization": ["mup"],
                              "hidden": [[8, 8], [8, 4]]}}  # fmt: skip
    with pytest.raises(SpecError, match=r"axes.hidden\[1\] with parametrization 'mup'"):
        sweep_spec.parse(uneven)
