"""Diagnostics of a Model (a ResMLP) trained by ``nn.training.train``: the plain ResMLP against
the plain Network, a residual one against a forward pass written here and central
differences of the loss, diverged members, no cost without a reader, the figures' numbers."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from scipy.special import expit

from initlab import init_population
from initlab._validation import InitlabError
from initlab.analysis.diagnostics import QUANTITIES, Diagnostics, Recorder
from initlab.nn.residual import ResMLP
from initlab.nn.training import train

matplotlib.use("Agg")

from initlab.report.diagnostics import LABELS, plot_diagnostics, plot_histograms

pytestmark = pytest.mark.filterwarnings("error")

PHI = {"tanh": np.tanh, "relu": lambda Z: np.maximum(Z, 0.0)}


def _problem(d=10, m=40, out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((d, m)), np.eye(out)[:, rng.integers(0, out, m)]


def _resmlp(rng, K, d, n, out, D, J, act, skip, scaling, alpha=0.7):
    ps = [rng.standard_normal((K, n, d)) / np.sqrt(d), 0.1 * rng.standard_normal((K, n, 1))]
    for _ in range(D * J):
        ps += [rng.standard_normal((K, n, n)) / np.sqrt(n), 0.1 * rng.standard_normal((K, n, 1))]
    ps += [rng.standard_normal((K, out, n)) / np.sqrt(n), 0.1 * rng.standard_normal((K, out, 1))]
    if scaling == "learnable":
        ps.append(rng.uniform(0.3, 0.9, (K, D, 1)))
    return ResMLP(ps, D, J, act, skip, scaling, alpha)


# --- (1) the plain ResMLP is the plain Network, diagnostics included ----------------------


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_plain_resmlp_records_the_networks_diagnostics(act):
    """skip=False, one layer per branch, alpha = 1, with the very same weights, factors and
    mini-batches: every array of Diagnostics equal. Bit for bit at iteration 0 (the same
    arithmetic), but layer 1's gradient norm and update ratio: the Network's engine forms
    ||dZ_1 X^T|| / m, the ResMLP ||dZ_1 X^T / m|| (1 ulp apart). Later iterations within
    1e-12 relative: the two first layers descend with different roundings
    (test_training_model), and the first histograms' counts and edges bit for bit."""
    X, Y = _problem()
    net = init_population([10, 8, 8, 8, 3], [("he", 1), ("xavier", 2)], activation=act,
                          head="softmax")  # fmt: skip
    res = ResMLP([p.copy() for W, b in zip(net.weights, net.biases, strict=True)
                  for p in (W, b)], 2, 1, act, skip=False)  # fmt: skip
    scale = [1.0, 0.5, 2.0, 1.0, 0.25, 3.0, 1.0, 1.0]
    kw = dict(learning_rate=[0.05, 0.1], iterations=6, batch_size=20, lr_scale=scale,
              record_at=[0, 1, 5])  # fmt: skip
    ra, rb = Recorder(4, 2, activation=act), Recorder(4, 2, activation=act)
    train(net, X, Y, engine="direct", hooks=[ra], **kw)
    train(res, X, Y, head="softmax", hooks=[rb], **kw)
    a, b = ra.result(), rb.result()
    assert (b.units, b.unit_columns, b.activation) == (a.units, a.unit_columns, a.activation)
    assert b.layers == ("W_in", "V1.1", "V2.1", "W_out") and a.layers is None
    np.testing.assert_array_equal(b.iterations, a.iterations)
    np.testing.assert_array_equal(b.diverged, a.diverged)
    np.testing.assert_array_equal(b.cost[0], a.cost[0])
    for q in QUANTITIES:
        A, B = getattr(a, q), getattr(b, q)
        assert np.isfinite(A).all()
        rest = slice(1, None) if q in ("grad_norm", "update_ratio") else slice(None)
        np.testing.assert_array_equal(B[0, rest], A[0, rest], err_msg=q)
        np.testing.assert_allclose(B, A, rtol=1e-12, atol=0, err_msg=q)
    for q in ("saturated", "distinct_units"):
        np.testing.assert_array_equal(getattr(b, q), getattr(a, q))
    for kind in ("A", "dZ"):
        np.testing.assert_array_equal(b.histogram_counts[kind][0], a.histogram_counts[kind][0])
        np.testing.assert_array_equal(b.histogram_edges[kind][0], a.histogram_edges[kind][0])
        np.testing.assert_allclose(b.histogram_edges[kind], a.histogram_edges[kind], rtol=1e-12)
        diff = np.abs(b.histogram_counts[kind] - a.histogram_counts[kind]).sum(axis=-1)
        assert diff.max() <= 2  # a value within rounding of an edge may change bins
    # the learning-rate factors are in the update ratio: eta_k s_l ||dW_l|| / ||W_l||
    lr = np.array([0.05, 0.1])
    ratio = b.update_ratio / (lr * b.grad_norm / b.weight_norm)
    factors = np.broadcast_to(np.array(scale[0::2])[None, :, None], ratio.shape)
    np.testing.assert_allclose(ratio, factors, rtol=1e-14)


# --- (2) a residual ResMLP against a forward pass written here and central differences ------


def _softmax_ce(Z, Y):
    Z = Z - Z.max(axis=-2, keepdims=True)
    return -(Y * (Z - np.log(np.exp(Z).sum(axis=-2, keepdims=True)))).sum(axis=-2).mean(-1)


def _nodes(ps, X, D, J, phi, skip, alpha, poke=None):
    """The pre-activation each weight layer writes (W_in: x_0; V_{l,j<J}: h_{l,j}; V_{l,J}:
    the stream x_l; W_out: the logits), from the formulas; `poke` = (node, E) adds E to one."""
    Zs = []

    def node(V):
        if poke is not None and poke[0] == len(Zs):
            V = V + poke[1]
        Zs.append(V)
        return V

    x, i = node(ps[0] @ X + ps[1]), 2
    for l in range(D):
        h = x
        for j in range(J):
            h, i = ps[i] @ phi(h) + ps[i + 1], i + 2
            if j < J - 1:
                h = node(h)
        x = node((x if skip else 0.0) + alpha[:, l, None, None] * h)
    node(ps[i] @ phi(x) + ps[i + 1])
    return Zs


def _by_hand(model, X, Y, eps=1e-6):
    """Z_l, A_l (hidden), dZ_l = m dJ/dZ_l by central differences, and dW_l = c dZ_l A_{l-1}^T
    / m (c = alpha_l for a branch's last layer, else 1) of every weight layer."""
    D, J, phi, m = model.depth, model.branch_layers, PHI[model.activation.name], X.shape[1]
    ps, alpha = model.params, model.alphas()
    Zs = _nodes(ps, X, D, J, phi, model.skip, alpha)
    dZs = []
    for n, Z in enumerate(Zs):
        dZ = np.empty_like(Z)
        for r in range(Z.shape[1]):
            for c in range(m):
                E = np.zeros_like(Z)
                E[:, r, c] = eps  # every member at once: they are independent
                plus = _softmax_ce(_nodes(ps, X, D, J, phi, model.skip, alpha, (n, E))[-1], Y)
                minus = _softmax_ce(_nodes(ps, X, D, J, phi, model.skip, alpha, (n, -E))[-1], Y)
                dZ[:, r, c] = m * (plus - minus) / (2 * eps)
        dZs.append(dZ)
    As = [phi(Z) for Z in Zs[:-1]]
    inputs = [np.broadcast_to(X, (model.K, *X.shape)), *As]
    last = [False] + [j == J - 1 for _ in range(D) for j in range(J)] + [False]
    dWs = []
    for l, dZ in enumerate(dZs):
        c = alpha[:, (l - 1) // J, None, None] if last[l] else 1.0
        dWs.append(c * dZ @ inputs[l].swapaxes(-1, -2) / m)
    return Zs, As, dZs, dWs


def _statistics(Z, A, act, dW, W, rate):
    """The Recorder's statistics of one layer from its arrays (A None: the output layer,
    read through the sigmoid), as its docstring defines them."""
    out = A is None
    A = expit(Z) if out else A
    sat = np.abs(A - 0.5) > 0.495 if out else (A == 0 if act == "relu" else np.abs(A) > 0.99)
    g, w = np.linalg.norm(dW, axis=(1, 2)), np.linalg.norm(W, axis=(1, 2))
    mean, std = lambda V: V.mean(axis=(1, 2)), lambda V: V.std(axis=(1, 2))
    return {"z_mean": mean(Z), "z_std": std(Z), "a_mean": mean(A), "a_std": std(A),
            "saturated": mean(sat), "grad_norm": g, "weight_norm": w,
            "update_ratio": rate * g / w}  # fmt: skip


@pytest.mark.parametrize(
    ("act", "J", "scaling"), [("relu", 1, "constant"), ("tanh", 2, "learnable"),
                              ("relu", 2, "depth")],
)  # fmt: skip
def test_residual_layers_against_a_hand_forward_pass_and_central_differences(act, J, scaling):
    """At iteration 0 and 3: Step.layers (Z, A, dZ, dW of every weight layer) and the
    Recorder's statistics, against the network recomputed here from its formulas (dZ by
    central differences of the loss, to 1e-6 relative; the rest to 1e-12)."""
    rng = np.random.default_rng(5)
    K, d, n, out, D, m = 2, 5, 4, 3, 2, 6
    model = _resmlp(rng, K, d, n, out, D, J, act, True, scaling)
    X, Y = _problem(d, m, out, seed=2)
    n_params = len(model.params)
    scale = list(np.linspace(0.5, 2.0, n_params))
    lr = np.array([0.05, 0.02])
    kept = {}

    def keep(st):
        lay = st.layers
        kept[st.iteration] = [[A.copy() for A in arrays]
                              for arrays in (lay.Zs, lay.As, lay.dZs, lay.dWs)]  # fmt: skip

    L = len(model.layer_names())
    rec = Recorder(L, K, activation=act)
    kw = dict(learning_rate=lr, head="softmax", lr_scale=scale)
    train(model, X, Y, iterations=4, record_at=[0, 3], hooks=[keep, rec], **kw)
    dg = rec.result()
    at_3, _ = train(model, X, Y, iterations=3, **kw)
    weight_at = [i for i, name in enumerate(model.names()) if name[0] in "WV"]
    for r, (it, state) in enumerate([(0, model), (3, at_3)]):
        Zs, As, dZs, dWs = _by_hand(state, X, Y)
        got = kept[it]
        for l in range(L):
            np.testing.assert_allclose(got[0][l], Zs[l], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(got[2][l], dZs[l], rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(got[3][l], dWs[l], rtol=1e-6, atol=1e-9)
            if l < L - 1:
                np.testing.assert_allclose(got[1][l], As[l], rtol=1e-12, atol=1e-14)
            want = _statistics(Zs[l], As[l] if l < L - 1 else None, act, dWs[l],
                               state.params[weight_at[l]], lr * scale[weight_at[l]])  # fmt: skip
            for q, v in want.items():
                tol = 1e-6 if q in ("grad_norm", "update_ratio") else 1e-12  # dW: differences
                np.testing.assert_allclose(getattr(dg, q)[r, l], v, rtol=tol, atol=1e-14,
                                           err_msg=f"{q} at {it}, layer {l + 1}")  # fmt: skip
            edges = dg.histogram_edges["dZ"][r, l]  # [0] at iteration 0, [1] at 3
            np.testing.assert_allclose(edges[:, [0, -1]],
                                       np.stack([dZs[l].min(axis=(1, 2)),
                                                 dZs[l].max(axis=(1, 2))], axis=1),
                                       rtol=1e-6, atol=1e-9)  # fmt: skip
    units = np.array([n] * (L - 1) + [out])[None, :, None]  # Gaussian rows: all distinct
    np.testing.assert_array_equal(dg.distinct_units, np.broadcast_to(units, (2, L, K)))


# --- (3) diverged members --------------------------------------------------------------


def test_a_diverged_member_of_a_resmlp_gets_nan_and_no_histogram():
    rng = np.random.default_rng(1)
    model = _resmlp(rng, 3, 10, 8, 3, 3, 1, "relu", True, "constant", 1.0)
    X, Y = _problem()
    rec = Recorder(5, 3, activation="relu")
    _, hist = train(model, X, Y, learning_rate=[0.01, 40.0, 0.02], iterations=8,
                    head="softmax", record_at=range(8), hooks=[rec])  # fmt: skip
    d = rec.result()
    k = 1
    at = int(hist.diverged_at[k])
    assert hist.diverged.tolist() == [False, True, False] and 0 < at < 8
    np.testing.assert_array_equal(d.diverged[:, k], np.arange(8) >= at)
    for q in (*QUANTITIES, "cost"):
        v = getattr(d, q)
        assert np.isnan(v[at:, ..., k]).all() and np.isfinite(v[:at, ..., k]).all(), q
        assert np.isfinite(v[..., [0, 2]]).all(), q
    member = d.member(k)
    assert all(h is None for h in member["histograms"]["last"]["dZ"])
    assert all(h is not None for h in member["histograms"]["first"]["A"])
    assert np.isnan(d.histogram_edges["A"][1, :, k]).all()


# --- (4) no reader, no cost ---------------------------------------------------------------


def test_layers_are_made_only_for_a_hook_that_reads_them(monkeypatch):
    """Without hooks, or with a hook that reads only Step.Zs (the coordinate check's), the
    Model's layers are never computed; a Recorder makes them once per recorded step. The
    training itself is the same bits, and a kept step cannot read them later."""
    calls = []
    layers = ResMLP.layers

    def counted(self, *args, **kwargs):
        calls.append(1)
        return layers(self, *args, **kwargs)

    monkeypatch.setattr(ResMLP, "layers", counted)
    model = _resmlp(np.random.default_rng(2), 2, 10, 6, 3, 2, 2, "tanh", True, "depth")
    X, Y = _problem()
    kw = dict(learning_rate=0.05, iterations=5, head="softmax", record_at=[0, 2, 4])
    steps = []
    _, plain = train(model, X, Y, **{**kw, "record_at": ()})
    _, none = train(model, X, Y, **kw)
    _, zs = train(model, X, Y, hooks=[lambda st: steps.append((st, st.Zs[-1].sum()))], **kw)
    assert calls == []
    _, rec = train(model, X, Y, hooks=[Recorder(6, 2, activation="tanh")], **kw)
    assert len(calls) == 3
    for h in (none, zs, rec):
        np.testing.assert_array_equal(h.costs, plain.costs)
        assert h.warnings == plain.warnings
    with pytest.raises(InitlabError, match="read during the hook's call"):
        steps[0][0].layers  # noqa: B018


def test_a_recorder_of_the_wrong_depth_says_what_to_build_in_one_line():
    model = _resmlp(np.random.default_rng(3), 2, 10, 4, 3, 2, 2, "tanh", True, "constant")
    X, Y = _problem()
    with pytest.raises(InitlabError) as err:
        train(model, X, Y, learning_rate=0.1, iterations=2, head="softmax", record_at=[0],
              hooks=[Recorder(4, 2, activation="tanh")])  # fmt: skip
    msg = str(err.value)
    assert "\n" not in msg and "Recorder(n_layers=4, K=2)" in msg
    assert "6 weight layers (W_in, V1.1, V1.2, V2.1, V2.2, W_out)" in msg
    assert "Recorder(6, 2, activation=...)" in msg


# --- the report draws a ResMLP's diagnostics -------------------------------------------


def _recorded(D, J, iterations=4):
    model = _resmlp(np.random.default_rng(4), 1, 10, 6, 3, D, J, "tanh", True, "depth")
    X, Y = _problem()
    rec = Recorder(len(model.layer_names()), 1, activation="tanh")
    train(model, X, Y, learning_rate=0.05, iterations=iterations, head="softmax",
          record_at=range(iterations), hooks=[rec])  # fmt: skip
    return rec.result()


def test_the_figures_of_a_resmlp_show_its_numbers_and_layer_names():
    d = _recorded(2, 2)
    member = Diagnostics.from_member_dicts([d.member(0)]).member(0)  # as stored, read back
    assert member["layers"] == ["W_in", "V1.1", "V1.2", "V2.1", "V2.2", "W_out"]
    fig = plot_diagnostics(member)
    panels = {ax.get_title(): ax for ax in fig.axes}
    for q in QUANTITIES:
        lines = panels[LABELS[q]].get_lines()
        assert len(lines) == 6
        for l, line in enumerate(lines):
            np.testing.assert_array_equal(line.get_ydata(), np.array(member[q][l], dtype=float))
    labels = fig.legends[0].get_texts()
    assert [t.get_text() for t in labels][1] == "layer 2 (V1.1)"
    hist = plot_histograms(member)
    axes = np.array(hist.axes).reshape(6, 4)
    for l in range(6):
        assert member["layers"][l] in axes[l, 0].get_ylabel()
        for j, (kind, when) in enumerate([(k, w) for k in ("A", "dZ") for w in ("first", "last")]):
            values, edges, _ = axes[l, j].patches[0].get_data()
            h = member["histograms"][when][kind][l]
            np.testing.assert_array_equal(values, h["counts"])
            np.testing.assert_array_equal(edges, h["edges"])
    deep = _recorded(9, 1, iterations=2).member(0)  # 11 layers: heatmaps
    image = next(ax for ax in plot_diagnostics(deep).axes if ax.get_title() == LABELS["z_std"])
    shown = np.ma.filled(image.get_images()[0].get_array().astype(float), np.nan)
    np.testing.assert_array_equal(shown, np.array(deep["z_std"], dtype=float))
    fig.savefig(io.BytesIO(), format="png", dpi=30)


def test_wide_inputs_count_the_first_layers_units_on_the_networks_columns():
    """Beyond 1024 features layer 1's distinct units are read on the fixed sample of columns
    (nn.engines.diagnostic_columns), for a ResMLP as for the Network: two rows of W_in that
    differ only outside it count as one for both."""
    from initlab.nn.engines import diagnostic_columns

    X, Y = _problem(d=1030, m=12)
    net = init_population([1030, 6, 6, 3], [("he", 1)], activation="tanh", head="softmax")
    outside = np.setdiff1d(np.arange(1030), diagnostic_columns(1030))
    net.weights[0][0, 1] = net.weights[0][0, 0]
    net.weights[0][0, 1, outside[0]] += 1.0
    net.biases[0][0, 1] = net.biases[0][0, 0]
    res = ResMLP([p.copy() for W, b in zip(net.weights, net.biases, strict=True)
                  for p in (W, b)], 1, 1, "tanh", skip=False)  # fmt: skip
    kw = dict(learning_rate=0.1, iterations=1, record_at=[0])
    ra, rb = Recorder(3, 1, activation="tanh"), Recorder(3, 1, activation="tanh")
    train(net, X, Y, engine="direct", hooks=[ra], **kw)
    train(res, X, Y, head="softmax", hooks=[rb], **kw)
    a, b = ra.result(), rb.result()
    assert a.unit_columns == b.unit_columns == 1024
    np.testing.assert_array_equal(b.distinct_units, a.distinct_units)
    assert b.distinct_units[0, 0, 0] == 5


def test_members_with_and_without_layer_names_are_refused_in_one_line():
    """A ResMLP's member dict (with ``layers``) beside a plain Network's (without) is refused
    naming the key and both values (it raised a KeyError on the missing key)."""
    member = _recorded(1, 1, iterations=1).member(0)
    plain = {k: v for k, v in member.items() if k != "layers"}
    with pytest.raises(InitlabError, match=r"^member 1 has other layers than member 0: None, "
                       r"not \['W_in', 'V1.1', 'W_out'\]$"):  # fmt: skip
        Diagnostics.from_member_dicts([member, plain])


def test_the_update_ratio_panel_names_the_layers_lr_factor():
    """The update ratio recorded is eta s_l ||dW_l|| / ||W_l|| (s_l the layer's learning-rate
    factor, since the diagnostics read Step.layers); the panel's title says so (it said
    eta ||dW_l|| / ||W_l||, which is not what a ResMLP under muP plots)."""
    d = _recorded(1, 1, iterations=2)
    fig = plot_diagnostics(d.member(0), ["update_ratio"])
    assert fig.axes[0].get_title() == r"$\eta\, s_l \|dW_l\| / \|W_l\|$"
