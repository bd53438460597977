"""One training loop for every network: ``nn.training.train`` on a ResMLP (the Model protocol),
per-parameter learning-rate factors, the scaling studies' batch order, divergence of a Model."""

import numpy as np
import pytest

from initlab import InitlabError, init_population
from initlab.data import load, sample
from initlab.init import parametrization as par
from initlab.nn.batches import Schedule
from initlab.nn.model import Model
from initlab.nn.network import Network
from initlab.nn.optimizers import get_optimizer
from initlab.nn.residual import ResMLP
from initlab.nn.training import train


def _digits(n, seed=0):
    ds = sample(load("digits10"), n, seed)
    return ds.X, ds.one_hot()


def _plain_as_resmlp(net: Network) -> ResMLP:
    """The plain MLP `net` as a ResMLP without skips (x_l = Z_{l+1}): the same function."""
    params = []
    for W, b in zip(net.weights, net.biases, strict=True):
        params += [W.copy(), b.copy()]
    return ResMLP(params, len(net.weights) - 2, 1, net.activation, skip=False)


def test_both_networks_are_models_of_the_loop():
    net = init_population([64, 8, 8, 10], [("he", 0)], activation="relu", head="softmax")
    assert isinstance(_plain_as_resmlp(net), Model) and not isinstance(net, Model)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_a_resmlp_trains_as_the_plain_network_with_the_same_factors(optimizer):
    """A plain MLP given as a ResMLP (skip=False) follows the Network's trajectory on the
    direct engine: the same mini-batches, per-parameter factors ``lr_scale`` (the Network's
    as its optimizer's layer/bias factors), costs and final weights within rounding (the
    Network's first layer descends as (eta/|B| dZ) X^T, the ResMLP's as eta (dZ X^T / |B|))."""
    X, Y = _digits(150)
    net = init_population([64, 12, 9, 10], [("he", 1), ("xavier", 2)], activation="tanh",
                          head="softmax")  # fmt: skip
    scale = [1.0, 0.5, 2.0, 1.0, 0.25, 3.0]
    kw = dict(learning_rate=[0.05, 0.01 if optimizer == "adam" else 0.2], iterations=12,
              batch_size=40, optimizer=optimizer, lr_scale=scale)  # fmt: skip
    a, ha = train(net, X, Y, engine="direct", **kw)
    b, hb = train(_plain_as_resmlp(net), X, Y, head="softmax", **kw)
    assert hb.engine == "direct" and (hb.diverged_at == -1).all()
    np.testing.assert_allclose(hb.costs, ha.costs, rtol=1e-11)
    np.testing.assert_allclose(hb.final_cost, ha.final_cost, rtol=1e-11)
    for W, P in zip(a.weights, b.params[0::2], strict=True):
        np.testing.assert_allclose(P, W, rtol=1e-9, atol=1e-12)
    # the factors matter: without them the trajectory is another one
    _, hc = train(_plain_as_resmlp(net), X, Y, head="softmax", **{**kw, "lr_scale": None})
    assert not np.allclose(hc.costs[:, -1], hb.costs[:, -1], rtol=1e-6)


def test_lr_scale_of_a_network_is_its_optimizers_layer_factors_bit_for_bit():
    X, Y = _digits(100)
    net = init_population([64, 7, 10], [("he", 3)], activation="relu", head="softmax")
    opt = {"name": "adam", "layer_lr_scale": [2.0, 0.5], "bias_lr_scale": [1.5, 0.25]}
    _, a = train(net, X, Y, learning_rate=0.01, iterations=6, optimizer=opt)
    _, b = train(net, X, Y, learning_rate=0.01, iterations=6, optimizer="adam",
                 lr_scale=[2.0, 1.5, 0.5, 0.25])  # fmt: skip
    np.testing.assert_array_equal(a.costs, b.costs)


def test_stream_order_is_consecutive_slices_of_one_permutation_stream():
    """``order="stream"``: epoch e takes default_rng(seed)'s (e+1)-th permutation, cut into
    floor(m/B) slices (the incomplete one dropped); asked out of order it replays the stream."""
    m, B, seed = 23, 5, 7
    sched = Schedule(m, iterations=14, batch_size=B, seed=seed, order="stream")
    assert sched.per_epoch == 4 and Schedule(m, epochs=2, batch_size=B, order="stream").steps == 8
    rng = np.random.default_rng(seed)
    expected = []
    for _ in range(4):
        order = rng.permutation(m)
        expected += [order[j * B : (j + 1) * B] for j in range(4)]
    got = [sched.cols(i) for i in range(14)]
    for g, e in zip(got, expected, strict=False):
        np.testing.assert_array_equal(g, e)
    np.testing.assert_array_equal(sched.cols(2), expected[2])  # back to epoch 0
    np.testing.assert_array_equal(sched.cols(13), expected[13])
    assert Schedule(m, iterations=3, batch_size=30, order="stream").cols(1) is None  # full
    # "epochs": SeedSequence([seed, 0]) is SeedSequence(seed), so epoch 0 is the same
    # permutation (its last, short batch kept); from epoch 1 on the orders differ
    epochs = Schedule(m, iterations=14, batch_size=B, seed=seed)
    assert epochs.per_epoch == 5 and len(epochs.cols(4)) == 3
    np.testing.assert_array_equal(epochs.cols(0), expected[0])
    assert not np.array_equal(epochs.cols(5), expected[4])


def test_a_diverging_resmlp_member_is_frozen_and_disturbs_no_other():
    """Member 2 (rate 2^6) diverges and is frozen: NaN costs from then on, returned as it was
    at divergence; members 0 and 1 have the bits of a population without it."""
    X, Y = _digits(64)
    model, scale = par.init_model((64, 16, 10), [0, 1, 2], depth=2, skip=True, branch_layers=2,
                                  branch_scaling="learnable")  # fmt: skip
    seen, size = [], []  # alive, and member 2's largest |parameter| while training

    def hook(st):
        seen.append(st.alive.copy())
        size.append(max(np.abs(P[2]).max() for P in st.params))

    kw = dict(head="softmax", lr_scale=scale, iterations=10, batch_size=32, optimizer="sgd",
              divergence_factor=None)  # fmt: skip
    out, h = train(model, X, Y, learning_rate=[0.05, 0.1, 64.0], record_at=range(10),
                   hooks=[hook], **kw)  # fmt: skip
    t = h.diverged_at[2]
    assert t > 0 and (h.diverged_at[:2] == -1).all()
    assert not np.isfinite(h.costs[2, t:]).any() and np.isfinite(h.costs[2, :t]).all()
    assert np.isnan(h.final_cost[2]) and not seen[t][2] and seen[t - 1][2]
    two = ResMLP([p[:2].copy() for p in model.params], 2, 2, "relu", True, "learnable")
    out2, h2 = train(two, X, Y, learning_rate=[0.05, 0.1], **kw)
    np.testing.assert_array_equal(h.costs[:2], h2.costs)
    for P, Q in zip(out.params, out2.params, strict=True):
        np.testing.assert_array_equal(P[:2], Q)
    assert size[t + 1 :] == [0.0] * (9 - t)  # frozen at zero, as its optimizer buffers
    # returned as set aside at step t: its parameters after t updates, which gave the
    # non-finite cost (as a run of t steps leaves them)
    alone, _ = train(model, X, Y, learning_rate=[0.05, 0.1, 64.0], **{**kw, "iterations": t})
    for P, Q in zip(out.params, alone.params, strict=True):
        np.testing.assert_array_equal(P[2], Q[2])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"engine": "sample"}, r"sample engine \(and a start\) trains the plain Network only"),
        ({"head": None}, "has no head of its own"),
        ({"lr_scale": [1.0, 2.0]}, "lr_scale must be 6 factors"),
        ({"lr_scale": [1.0] * 5 + [0.0]}, r"lr_scale\[5\] must be > 0"),
        ({"optimizer": {"name": "sgd", "layer_lr_scale": [1, 1, 1]}}, "give a ResMLP's factors"),
        ({"batch_order": "random"}, "batch order must be one of epochs, stream"),
    ],
)
def test_a_resmlp_is_refused_in_one_line(kw, message):
    X, Y = _digits(20)
    model, _ = par.init_model((64, 8, 10), [0], depth=1)
    with pytest.raises(InitlabError, match=message):
        train(model, X, Y, **{"learning_rate": 0.1, "iterations": 2, "head": "softmax", **kw})


def test_train_refuses_what_is_not_a_network():
    X, Y = _digits(20)
    with pytest.raises(InitlabError, match=r"train takes a Network or a Model .*; got dict"):
        train({"W": np.zeros((1, 3, 64))}, X, Y, learning_rate=0.1, iterations=1)


def test_network_lr_scale_refusals():
    X, Y = _digits(20)
    net = init_population([64, 5, 10], [("he", 0)], head="softmax")
    with pytest.raises(InitlabError, match="not both"):
        train(net, X, Y, learning_rate=0.1, iterations=1, lr_scale=[1] * 4,
              optimizer=get_optimizer({"name": "sgd", "layer_lr_scale": [1, 1]}))  # fmt: skip
    with pytest.raises(InitlabError, match="lr_scale must be 4 factors"):
        train(net, X, Y, learning_rate=0.1, iterations=1, lr_scale=[1, 1])


def test_lr_transfer_is_the_few_step_loop_it_replaced_bit_for_bit():
    """The scaling studies' numbers against the loop of the deleted ``studies/steps.py``,
    written out here: one stream of permutations from default_rng(0), floor(m/B) batches per
    epoch (m = 100, B = 32: 4 examples dropped each epoch, 8 steps cross two epochs), every
    parameter at eta * lr_scale[i], the batch loss before each update, the final loss on all
    of X. Machine-independent: both sides do the same operations."""
    from initlab.nn.losses import get_head
    from initlab.studies import scaling

    X, Y = _digits(100, seed=5)
    log2_lrs, steps, B = (-8.0, -5.0), 8, 32
    result = scaling.lr_transfer((16, 32), log2_lrs, ("mup",), steps=steps, batch_size=B,
                                 base_width=16, data=(X, Y))  # fmt: skip
    head, lrs = get_head("softmax"), 2.0 ** np.array(log2_lrs)
    for w, n in enumerate((16, 32)):
        model, scale = scaling.Architecture().build(64, n, 10, [0, 0], "mup", 16, "adam")
        opt = get_optimizer("adam")
        state, rates = opt.init_state(model.params, np.float64), [(lrs * s)[:, None, None]
                                                                  for s in scale]  # fmt: skip
        rng, curve = np.random.default_rng(0), []
        while len(curve) < steps:
            order = rng.permutation(100)
            for j in range(100 // B):
                if len(curve) < steps:
                    cols = order[j * B : (j + 1) * B]
                    Z, cache = model.forward(X[:, cols])
                    curve.append(head.loss(Z, Y[:, cols]))
                    grads = model.backward(head.dZ(Z, Y[:, cols]), cache)
                    opt.step(model.params, grads, rates, state)
        np.testing.assert_array_equal(result.curves[0, w, :, 0], np.array(curve).T)
        np.testing.assert_array_equal(result.loss[0, w, :, 0], head.loss(model.forward(X)[0], Y))


@pytest.mark.parametrize("kind", ["model", "network"])
def test_final_false_skips_the_final_pass_and_changes_nothing_else(kind):
    """``final=False`` (the coordinate check measures the trained population itself): the
    same costs and parameters, bit for bit; no final pass (NaN final cost and accuracy)."""
    X, Y = _digits(48)
    if kind == "model":
        net, scale = par.init_model((64, 16, 10), [0, 1], depth=2, skip=True)
        kw = dict(lr_scale=scale)
    else:
        net = init_population([64, 16, 10], [("he", 0), ("he", 1)], activation="relu",
                              head="softmax")  # fmt: skip
        kw = {}
    runs = [train(net, X, Y, learning_rate=0.1, iterations=5, head="softmax", optimizer="sgd",
                  final=f, **kw) for f in (True, False)]  # fmt: skip
    (a, ha), (b, hb) = runs
    assert ha.costs.tobytes() == hb.costs.tobytes()
    pa = a.params if kind == "model" else [*a.weights, *a.biases]
    pb = b.params if kind == "model" else [*b.weights, *b.biases]
    assert all(x.tobytes() == y.tobytes() for x, y in zip(pa, pb, strict=True))
    assert np.isfinite(ha.final_cost).all() and np.isnan(hb.final_cost).all()
    assert np.isnan(hb.final_accuracy).all()
