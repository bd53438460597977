"""Optimizers against independent references over 200 steps, mini-batches included.

1. A plain NumPy loop written here from the textbook formulas (own forward and backward
   pass, 2-D arrays, one network, Kingma & Ba's bias-corrected Adam), replaying the batch
   order the docs of :mod:`initlab.nn.batches` state.
2. PyTorch float64 (``torch.optim``), same initial weights, same batch order.

Costs must agree to 1e-10 relative at every step, on both engines where the sample engine
applies. Then: a member's bits never depend on its population, whatever the optimizer.
"""

import numpy as np
import pytest

from initlab import InitlabError, init_network, init_population
from initlab.nn.losses import HEADS
from initlab.nn.optimizers import get_optimizer
from initlab.nn.training import train

SIZES = [30, 8, 6, 3]
M, BATCH, STEPS = 50, 16, 200

CONFIGS = {
    "gd": ({"name": "gd"}, None, 0.2),
    "sgd": ({"name": "sgd"}, BATCH, 0.2),
    "momentum_l2": ({"name": "momentum", "momentum": 0.9, "weight_decay": 1e-3}, BATCH, 0.05),
    "nesterov": ({"name": "momentum", "momentum": 0.8, "nesterov": True}, BATCH, 0.05),
    "dampening": ({"name": "momentum", "momentum": 0.7, "dampening": 0.3}, BATCH, 0.05),
    "adam_l2": ({"name": "adam", "betas": (0.8, 0.99), "weight_decay": 1e-3}, BATCH, 0.005),
    "adamw": ({"name": "adamw", "eps": 1e-6, "weight_decay": 0.05}, BATCH, 0.005),
    "layer_scale": ({"name": "sgd", "layer_lr_scale": [0.5, 2.0, 1.0]}, BATCH, 0.1),
    "bias_scale": (
        {"name": "gd", "layer_lr_scale": [0.5, 2.0, 1.0], "bias_lr_scale": [3.0, 0.25, 1.5]},
        None, 0.1,
    ),
    "adam_bias_scale": (
        {"name": "adam", "layer_lr_scale": [1.0, 0.5, 0.25], "bias_lr_scale": [2.0, 1.0, 0.5]},
        BATCH, 0.005,
    ),
}  # fmt: skip


def data(head, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((SIZES[0], M))
    n_out = SIZES[-1]
    if head == "softmax":
        Y = np.eye(n_out)[:, rng.integers(0, n_out, M)]
    elif head == "sigmoid":
        Y = (rng.random((n_out, M)) < 0.5).astype(float)
    else:
        Y = rng.standard_normal((n_out, M))
    return X, Y


def columns(step, batch, seed=0):
    """The documented order: epoch e permutes by default_rng([seed, e]), batches in order."""
    if batch is None:
        return np.arange(M)
    per_epoch = -(-M // batch)
    epoch, j = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(M)
    return order[j * batch : (j + 1) * batch]


def reference(net, X, Y, config, batch, lr, head):
    """One network, plain NumPy, every formula written out."""
    cfg = {**get_optimizer(config).__dict__}
    Ws = [W[0].copy() for W in net.weights]
    bs = [b[0].copy() for b in net.biases]
    params = [p for pair in zip(Ws, bs, strict=True) for p in pair]
    scale = cfg["layer_lr_scale"] or (1.0,) * len(Ws)
    bias_scale = cfg["bias_lr_scale"] or scale  # b_l at its own factor, W_l's by default
    state = [{"buf": None, "m": 0.0 * p, "v": 0.0 * p} for p in params]
    costs = []
    for t in range(STEPS):
        cols = columns(t, batch)
        A, acts = X[:, cols], []
        for l, (W, b) in enumerate(zip(Ws, bs, strict=True)):
            acts.append(A)
            Z = W @ A + b
            A = np.tanh(Z) if l < len(Ws) - 1 else Z
        costs.append(HEADS[head].loss(Z[None], Y[:, cols])[0])
        dZ = HEADS[head].dZ(Z[None], Y[:, cols])[0]
        grads = []
        for l in range(len(Ws) - 1, -1, -1):
            grads = [dZ @ acts[l].T / len(cols), dZ.sum(axis=1, keepdims=True) / len(cols), *grads]
            dZ = (Ws[l].T @ dZ) * (1 - acts[l] ** 2)
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            step_lr = lr * (bias_scale if i % 2 else scale)[i // 2]
            if cfg["name"] in ("adam", "adamw"):
                _adam(p, g, state[i], cfg, step_lr, t + 1)
            else:
                _sgd(p, g, state[i], cfg, step_lr)
    return np.array(costs)


def _sgd(p, g, s, cfg, lr):
    g = g + cfg["weight_decay"] * p
    mu = cfg["momentum"]
    if mu:
        s["buf"] = g.copy() if s["buf"] is None else mu * s["buf"] + (1 - cfg["dampening"]) * g
        g = g + mu * s["buf"] if cfg["nesterov"] else s["buf"]
    p -= lr * g


def _adam(p, g, s, cfg, lr, t):
    if cfg["decoupled"]:
        p *= 1 - lr * cfg["weight_decay"]
    else:
        g = g + cfg["weight_decay"] * p
    s["m"] = cfg["beta1"] * s["m"] + (1 - cfg["beta1"]) * g
    s["v"] = cfg["beta2"] * s["v"] + (1 - cfg["beta2"]) * g * g
    m_hat = s["m"] / (1 - cfg["beta1"] ** t)
    v_hat = s["v"] / (1 - cfg["beta2"] ** t)
    p -= lr * m_hat / (np.sqrt(v_hat) + cfg["eps"])


def torch_costs(net, X, Y, config, batch, lr, head):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # tiny products; threads only contend on a shared machine
    cfg = get_optimizer(config)
    layers = []
    for l, (W, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        lin = torch.nn.Linear(W.shape[2], W.shape[1], dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W[0]))
            lin.bias.copy_(torch.tensor(b[0, :, 0]))
        layers += [lin] + ([torch.nn.Tanh()] if l < len(net.weights) - 1 else [])
    model = torch.nn.Sequential(*layers)
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    scale = cfg.layer_lr_scale or (1.0,) * len(lins)
    bias_scale = cfg.bias_lr_scale or scale
    groups = [
        g
        for m, s, sb in zip(lins, scale, bias_scale, strict=True)
        for g in ({"params": [m.weight], "lr": lr * s}, {"params": [m.bias], "lr": lr * sb})
    ]
    if cfg.name in ("adam", "adamw"):
        cls = torch.optim.AdamW if cfg.decoupled else torch.optim.Adam
        opt = cls(groups, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(
            groups, momentum=cfg.momentum, dampening=cfg.dampening, nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )  # fmt: skip
    X_t, Y_t = torch.tensor(X.T), torch.tensor(Y.T)
    n_out = Y.shape[0]
    costs = []
    for t in range(STEPS):
        cols = torch.tensor(columns(t, batch))
        Z, T = model(X_t[cols]), Y_t[cols]
        if head == "softmax":
            loss = torch.nn.functional.cross_entropy(Z, T.argmax(dim=1))
        elif head == "sigmoid":
            loss = n_out * torch.nn.functional.binary_cross_entropy_with_logits(Z, T)
        else:
            loss = 0.5 * n_out * torch.nn.functional.mse_loss(Z, T)
        costs.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return np.array(costs)


def engines_for(config):
    return ["direct", "sample"] if get_optimizer(config).linear else ["direct"]


def initlab_costs(config, batch, lr, head, engine):
    X, Y = data(head)
    net = init_network(SIZES, "xavier", activation="tanh", seed=4, head=head)
    rng = np.random.default_rng(5)
    for b in net.biases:
        b += 0.1 * rng.standard_normal(b.shape)
    _, hist = train(
        net, X, Y, learning_rate=lr, iterations=STEPS, optimizer=config, batch_size=batch,
        engine=engine,
    )  # fmt: skip
    assert hist.engine == engine and not hist.diverged.any()
    return net, X, Y, hist.costs[0]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_costs_equal_a_numpy_loop_written_from_the_formulas(name):
    config, batch, lr = CONFIGS[name]
    for engine in engines_for(config):
        net, X, Y, costs = initlab_costs(config, batch, lr, "softmax", engine)
        ref = reference(net, X, Y, config, batch, lr, "softmax")
        assert ref[-1] < 0.8 * ref[0]  # it learns: the comparison is not of flat curves
        np.testing.assert_allclose(costs, ref, rtol=1e-10, err_msg=f"{name} on {engine}")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_costs_equal_pytorch_float64(name):
    config, batch, lr = CONFIGS[name]
    for engine in engines_for(config):
        net, X, Y, costs = initlab_costs(config, batch, lr, "softmax", engine)
        ref = torch_costs(net, X, Y, config, batch, lr, "softmax")
        np.testing.assert_allclose(costs, ref, rtol=1e-10, err_msg=f"{name} on {engine}")


@pytest.mark.parametrize("head", ["sigmoid", "linear"])
@pytest.mark.parametrize("name", ["momentum_l2", "adamw"])
def test_other_heads_equal_pytorch_float64(head, name):
    config, batch, lr = CONFIGS[name]
    net, X, Y, costs = initlab_costs(config, batch, lr, head, "direct")
    np.testing.assert_allclose(costs, torch_costs(net, X, Y, config, batch, lr, head), rtol=1e-10)


POPULATION = {
    "gd": {"name": "gd"},
    "momentum": {"name": "momentum", "momentum": [0.0, 0.9, 0.5], "weight_decay": [0, 1e-3, 0]},
    "nesterov": {"name": "momentum", "momentum": [0.9, 0.5, 0.7], "nesterov": True},
    "adam": {"name": "adam", "betas": ([0.9, 0.8, 0.95], 0.999), "weight_decay": [0, 1e-3, 0]},
    "adamw": {"name": "adamw", "eps": [1e-8, 1e-6, 1e-8]},
}


@pytest.mark.parametrize("name", list(POPULATION))
def test_each_member_gets_exactly_what_it_gets_alone(name):
    config = POPULATION[name]
    X, Y = data("sigmoid")
    Y = Y[:1]
    members = [("he", 1), ("xavier", 2), ({"name": "random", "scale": 0.5}, 3)]
    lrs = [0.05, 0.02, 0.01]
    sizes = [SIZES[0], 6, 4, 1]
    pop = init_population(sizes, members, activation="relu")
    for engine in engines_for(config):
        trained, hist = train(
            pop, X, Y, learning_rate=lrs, iterations=40, optimizer=config, batch_size=BATCH,
            engine=engine,
        )  # fmt: skip
        for k, (init, seed) in enumerate(members):
            solo_cfg = {key: (v[k] if isinstance(v, list) else v) for key, v in config.items()}
            if "betas" in config:
                solo_cfg["betas"] = (config["betas"][0][k], config["betas"][1])
            alone = init_network(sizes, init, seed=seed, activation="relu")
            t1, h1 = train(
                alone, X, Y, learning_rate=lrs[k], iterations=40, optimizer=solo_cfg,
                batch_size=BATCH, engine=engine,
            )  # fmt: skip
            np.testing.assert_array_equal(h1.costs[0], hist.costs[k])
            for W1, W in zip(t1.weights, trained.weights, strict=True):
                np.testing.assert_array_equal(W1[0], W[k])


def test_sample_engine_equals_direct_with_momentum_decay_and_mini_batches():
    X, Y = data("sigmoid")
    pop = init_population([SIZES[0], 8, 1], [("he", 1), ("xavier", 2)], activation="tanh")
    config = {"name": "momentum", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}
    kw = dict(learning_rate=0.05, epochs=40, optimizer=config, batch_size=BATCH)
    direct, hd = train(pop, X, Y[:1], engine="direct", **kw)
    sample, hs = train(pop, X, Y[:1], engine="sample", **kw)
    np.testing.assert_allclose(hs.costs, hd.costs, rtol=1e-9)
    np.testing.assert_allclose(sample.weights[0], direct.weights[0], rtol=1e-9, atol=1e-12)


def test_adam_rules_out_the_sample_engine_and_auto_says_why():
    X, Y = data("sigmoid")
    net = init_network([SIZES[0], 4, 1], "he", seed=0)
    with pytest.raises(InitlabError, match="engine 'sample' cannot train with adam"):
        train(net, X, Y[:1], learning_rate=0.01, iterations=2, optimizer="adam", engine="sample")
    _, hist = train(net, X, Y[:1], learning_rate=0.01, iterations=2, optimizer="adamw")
    assert hist.engine == "direct" and "not a linear combination" in hist.engine_reason


def test_bad_optimizer_arguments_are_explained():
    with pytest.raises(InitlabError, match="valid optimizers are: adam, adamw, gd, momentum, sgd"):
        get_optimizer("rmsprop")
    with pytest.raises(InitlabError, match="optimizer 'adam' has no parameter 'momentum'"):
        get_optimizer({"name": "adam", "momentum": 0.9})
    with pytest.raises(InitlabError, match=r"beta2 must be < 1"):
        get_optimizer({"name": "adam", "betas": (0.9, 1.0)})
    with pytest.raises(InitlabError, match="nesterov needs momentum > 0"):
        get_optimizer({"name": "sgd", "nesterov": True})
    X, Y = data("sigmoid")
    net = init_network([SIZES[0], 4, 1], "he")
    with pytest.raises(InitlabError, match="layer_lr_scale has 3 entries; the network has 2"):
        train(net, X, Y[:1], learning_rate=0.1, iterations=1,
              optimizer={"name": "gd", "layer_lr_scale": [1, 1, 1]})  # fmt: skip
