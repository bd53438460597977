"""Initializers against independent truths: scipy.stats distributions built from the
frameworks' documented definitions, sampling-distribution bounds at alpha = 1e-6, exact
algebra (orthogonality, identity), and, when PyTorch is installed, torch.nn.init itself.

Every statistical bound comes from the sampling distribution of the statistic:
- variance of a normal sample: (n - 1) s^2 / v ~ chi2(n - 1);
- variance of any other sample: CLT, Var(s^2) ~ (mu_4 - v^2) / n with the exact mu_4;
- mean: CLT, |mean - mu| <= z sigma / sqrt(n);
- whole distribution: Kolmogorov-Smirnov against the exact CDF.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from initlab._rng import make_rng
from initlab._validation import InitlabError
from initlab.cli import inits as inits_cli
from initlab.init import catalogue as initializers
from initlab.init import truncnorm as _truncnorm
from initlab.init.build import init_network
from initlab.init.gains import calculate_gain, nonlinearities

ALPHA = 1e-6
Z = stats.norm.isf(ALPHA / 2)  # two-sided z bound, about 4.89
SHAPE = (200, 300)  # (fan_out, fan_in): n = 60000 entries
FAN_OUT, FAN_IN = SHAPE
FAN_AVG = (FAN_IN + FAN_OUT) / 2
T2 = stats.truncnorm(-2, 2).std()  # scipy's, independent of initlab.init.truncnorm


def tn2(var):
    """Keras/JAX variance-scaling truncated normal: cut at +-2 sigma, rescaled to `var`."""
    return stats.truncnorm(-2, 2, scale=math.sqrt(var) / T2)


def sym_uniform(bound):
    return stats.uniform(-bound, 2 * bound)


def normal(mean, std):
    return stats.norm(mean, std)


def torch_fn(name, *args, **kwargs):
    """A deferred call of torch.nn.init.<name>(tensor, *args, **kwargs)."""
    return (name, args, kwargs)


# (initlab name, params, reference distribution from the framework's definition, torch call)
CASES = [
    ("he_normal", {}, tn2(2 / FAN_IN), None),
    ("glorot_normal", {}, tn2(1 / FAN_AVG), None),
    ("lecun_normal", {}, tn2(1 / FAN_IN), None),
    ("variance_scaling", {}, tn2(1 / FAN_IN), None),
    ("he_uniform", {}, sym_uniform(math.sqrt(6 / FAN_IN)), None),
    ("glorot_uniform", {}, sym_uniform(math.sqrt(6 / (FAN_IN + FAN_OUT))), None),
    ("lecun_uniform", {}, sym_uniform(math.sqrt(3 / FAN_IN)), None),
    (
        "variance_scaling",
        {"scale": 3.0, "mode": "fan_avg", "distribution": "normal"},
        normal(0, math.sqrt(3 / FAN_AVG)),
        None,
    ),
    (
        "variance_scaling",
        {"scale": 0.5, "mode": "fan_out", "distribution": "uniform"},
        sym_uniform(math.sqrt(1.5 / FAN_OUT)),
        None,
    ),
    ("kaiming_normal", {}, normal(0, math.sqrt(2 / FAN_IN)), torch_fn("kaiming_normal_")),
    (
        "kaiming_normal",
        {"a": 0.2, "mode": "fan_out"},
        normal(0, math.sqrt(2 / 1.04 / FAN_OUT)),
        torch_fn("kaiming_normal_", a=0.2, mode="fan_out"),
    ),
    (
        "kaiming_normal",
        {"nonlinearity": "tanh"},
        normal(0, 5 / 3 / math.sqrt(FAN_IN)),
        torch_fn("kaiming_normal_", nonlinearity="tanh"),
    ),
    (  # nn.Linear's default: bound 1/sqrt(fan_in)
        "kaiming_uniform",
        {"a": math.sqrt(5)},
        sym_uniform(1 / math.sqrt(FAN_IN)),
        torch_fn("kaiming_uniform_", a=math.sqrt(5)),
    ),
    (
        "kaiming_uniform",
        {"mode": "fan_out", "nonlinearity": "relu"},
        sym_uniform(math.sqrt(2) * math.sqrt(3 / FAN_OUT)),
        torch_fn("kaiming_uniform_", mode="fan_out", nonlinearity="relu"),
    ),
    (
        "xavier_normal",
        {"gain": 2.0},
        normal(0, 2 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        torch_fn("xavier_normal_", gain=2.0),
    ),
    (
        "xavier_uniform",
        {"gain": 5 / 3},
        sym_uniform(5 / 3 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
        torch_fn("xavier_uniform_", gain=5 / 3),
    ),
    ("he", {}, normal(0, math.sqrt(2 / FAN_IN)), None),
    ("xavier", {}, normal(0, math.sqrt(1 / FAN_IN)), None),
    ("random", {}, normal(0, 10), None),
    ("random", {"scale": 0.01}, normal(0, 0.01), None),
    ("normal", {}, normal(0, 1), torch_fn("normal_")),
    ("normal", {"mean": 3.0, "std": 0.5}, normal(3, 0.5), torch_fn("normal_", 3.0, 0.5)),
    ("uniform", {}, stats.uniform(0, 1), torch_fn("uniform_")),
    ("uniform", {"a": -3.0, "b": 5.0}, stats.uniform(-3, 8), torch_fn("uniform_", -3.0, 5.0)),
    ("trunc_normal", {}, stats.truncnorm(-2, 2), torch_fn("trunc_normal_")),
    (  # mass 0.37: the inversion path
        "trunc_normal",
        {"mean": 1.0, "std": 2.0, "a": -0.5, "b": 1.5},
        stats.truncnorm(-0.75, 0.25, loc=1, scale=2),
        torch_fn("trunc_normal_", 1.0, 2.0, -0.5, 1.5),
    ),
    (  # mass 0.99, asymmetric: the rejection path with two comparisons
        "trunc_normal",
        {"std": 0.1, "a": -0.3, "b": 0.25},
        stats.truncnorm(-3, 2.5, scale=0.1),
        torch_fn("trunc_normal_", 0.0, 0.1, -0.3, 0.25),
    ),
    (  # an interval that excludes the mean (mass 0.157): torch samples it, so does initlab
        "trunc_normal",
        {"a": 1.0, "b": 3.0},
        stats.truncnorm(1, 3),
        torch_fn("trunc_normal_", 0.0, 1.0, 1.0, 3.0),
    ),
    (  # wholly below the mean, in the lower tail
        "trunc_normal",
        {"mean": 2.0, "std": 0.5, "a": -1.0, "b": 0.5},
        stats.truncnorm(-6, -3, loc=2, scale=0.5),
        torch_fn("trunc_normal_", 2.0, 0.5, -1.0, 0.5),
    ),
    ("random_normal", {}, normal(0, 0.05), None),
    ("random_uniform", {}, stats.uniform(-0.05, 0.1), None),
    ("truncated_normal", {}, stats.truncnorm(-2, 2, scale=0.05), None),
    ("truncated_normal", {"mean": 1.0, "stddev": 0.3}, stats.truncnorm(-2, 2, 1, 0.3), None),
    (  # JAX's truncated_normal(0.01, lower=-1, upper=3): bounds in units of stddev
        "truncated_normal",
        {"stddev": 0.01, "lower": -1.0, "upper": 3.0},
        stats.truncnorm(-1, 3, scale=0.01),
        None,
    ),
    (  # JAX's fan_geo_avg: n = sqrt(fan_in * fan_out)
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_geo_avg", "distribution": "uniform"},
        sym_uniform(math.sqrt(3 * 2 / math.sqrt(FAN_IN * FAN_OUT))),
        None,
    ),
    (
        "variance_scaling",
        {"mode": "fan_geo_avg", "distribution": "normal"},
        normal(0, (FAN_IN * FAN_OUT) ** -0.25),
        None,
    ),
]
CASE_IDS = [
    f"{n}-{'-'.join(f'{k}={v:.3g}' if isinstance(v, float) else f'{k}={v}' for k, v in p.items())}"
    for n, p, _, _ in CASES
]


def variance_bounds(ref, n):
    """Bounds on the sample variance s^2 of n draws from `ref`, at level ALPHA."""
    v = ref.var()
    if ref.dist.name == "norm":
        lo, hi = stats.chi2.ppf([ALPHA / 2, 1 - ALPHA / 2], n - 1)
        return v * lo / (n - 1), v * hi / (n - 1)
    mu4 = (ref.stats(moments="k") + 3) * v * v  # exact fourth central moment
    half = Z * math.sqrt((mu4 - v * v) / n)
    return v - half, v + half


def check_sample(W, ref):
    x = W.ravel()
    n = x.size
    low, high = ref.support()
    assert low <= x.min() and x.max() <= high
    assert abs(x.mean() - ref.mean()) <= Z * ref.std() / math.sqrt(n)
    lo, hi = variance_bounds(ref, n)
    assert lo <= x.var(ddof=1) <= hi
    assert stats.kstest(x, ref.cdf).pvalue > ALPHA


@pytest.mark.parametrize(("name", "params", "ref", "torch_call"), CASES, ids=CASE_IDS)
def test_moments_are_the_reference_distribution(name, params, ref, torch_call):
    m = initializers.get(name, **params).moments(SHAPE)
    assert m.mean == pytest.approx(ref.mean(), rel=1e-12, abs=1e-15)
    assert m.std == pytest.approx(ref.std(), rel=1e-12)
    assert (m.low, m.high) == pytest.approx(ref.support(), rel=1e-12)


@pytest.mark.parametrize("stream", ["default", "legacy"])
@pytest.mark.parametrize(("name", "params", "ref", "torch_call"), CASES, ids=CASE_IDS)
def test_samples_follow_the_reference_distribution(name, params, ref, torch_call, stream):
    W = initializers.get(name, **params)(SHAPE, make_rng(11, stream))
    assert W.shape == SHAPE and W.dtype == np.float64
    check_sample(W, ref)


def test_truncated_normal_constant():
    # the literal JAX and Keras divide by, and scipy's value
    assert _truncnorm.STD_2SIGMA == pytest.approx(0.87962566103423978, rel=1e-15)
    assert _truncnorm.STD_2SIGMA == pytest.approx(T2, rel=1e-14)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(-2, 2), (-3, 2.5), (-0.5, 0.25), (1.0, 3.0), (-6.0, -4.5), (5.0, math.inf), (-math.inf, 0.5)],
)
def test_truncnorm_sampler_and_moments(lo, hi):
    ref = stats.truncnorm(lo, hi)
    mean, std = _truncnorm.moments(lo, hi)
    assert (mean, std) == pytest.approx((ref.mean(), ref.std()), rel=1e-9)
    x = _truncnorm.sample(np.random.default_rng(5), (40000,), lo, hi)
    assert lo <= x.min() and x.max() <= hi
    assert stats.kstest(x, ref.cdf).pvalue > ALPHA


def test_uniform_bounds_are_exact():
    init = initializers.get("he_uniform")
    m = init.moments((2000, 24))
    assert -m.low == m.high == pytest.approx(math.sqrt(6 / 24), rel=1e-15)  # 0.5
    W = init((2000, 24), np.random.default_rng(0))
    assert m.low <= W.min() and W.max() < m.high
    # and reaches them: P(no draw within 1e-3 of a bound) = (1 - 1e-3)^48000 < 1e-20
    assert W.min() < m.low * (1 - 2e-3) and W.max() > m.high * (1 - 2e-3)


# --- structured matrices ------------------------------------------------------------------


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("shape", [(64, 64), (30, 50), (50, 30), (4, 3, 2, 2), (1, 7), (7, 1)])
def test_orthogonal_is_orthogonal(shape, gain):
    W = initializers.get("orthogonal", gain=gain)(shape, np.random.default_rng(2))
    M = W.reshape(shape[0], -1)
    rows, cols = M.shape
    G = M @ M.T if rows <= cols else M.T @ M
    np.testing.assert_allclose(G, gain**2 * np.eye(min(rows, cols)), rtol=0, atol=1e-10)
    # the mean square of a semi-orthogonal matrix is exactly gain^2 / max(rows, cols)
    m = initializers.get("orthogonal", gain=gain).moments(shape)
    assert (M**2).mean() == pytest.approx(m.std**2 + m.mean**2, rel=1e-12)


def test_orthogonal_is_haar():
    # each entry of a Haar-distributed 3x3 orthogonal matrix is uniform on [-1, 1] (a
    # coordinate of a uniform point on the sphere S^2); without the sign correction
    # Q diag(sign R_ii), LAPACK's QR makes some entries one-signed
    init, rng = initializers.get("orthogonal"), np.random.default_rng(3)
    W = np.stack([init((3, 3), rng) for _ in range(3000)])
    for i, j in [(0, 0), (1, 1), (2, 2), (2, 0)]:
        assert stats.kstest(W[:, i, j], stats.uniform(-1, 2).cdf).pvalue > ALPHA


@pytest.mark.parametrize("name", ["identity", "eye"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
def test_identity(name, shape):
    init = initializers.get(name, gain=2.0)
    W = init(shape, np.random.default_rng(0))
    np.testing.assert_array_equal(W, 2.0 * np.eye(*shape))
    m = init.moments(shape)
    assert (m.mean, m.std, m.low, m.high) == pytest.approx((W.mean(), W.std(), 0.0, 2.0))


def test_sparse_zeros_per_column_and_values():
    rows, cols, sparsity, std = 10, 20000, 0.25, 0.5
    init = initializers.get("sparse", sparsity=sparsity, std=std)
    W = init((rows, cols), np.random.default_rng(4))
    z = math.ceil(sparsity * rows)  # 3
    assert ((W == 0).sum(axis=0) == z).all()
    # zero positions uniform over rows: each row's count ~ Binomial(cols, z / rows)
    p = z / rows
    counts = (W == 0).sum(axis=1)
    assert (np.abs(counts - cols * p) <= Z * math.sqrt(cols * p * (1 - p))).all()
    check_sample(W[W != 0], normal(0, std))
    assert init.moments((rows, cols)).std == pytest.approx(std * math.sqrt(1 - p))


def test_constants():
    rng = np.random.default_rng(0)
    assert (initializers.get("zeros")((3, 4), rng) == 0).all()
    assert (initializers.get("ones")((3, 4), rng) == 1).all()
    assert (initializers.get("constant", value=-0.5)((3, 4), rng) == -0.5).all()


# --- fans and gains -----------------------------------------------------------------------


def test_fans():
    assert initializers.compute_fans((200, 300)) == (300, 200)  # (out, in)
    assert initializers.compute_fans((16, 8, 3, 5)) == (8 * 15, 16 * 15)
    assert initializers.compute_fans((16, 8, 3)) == (24, 48)
    for shape in [(5,), ()]:
        with pytest.raises(InitlabError, match=r"at least 2 dimensions; got shape"):
            initializers.compute_fans(shape)
    with pytest.raises(InitlabError, match="at least 2 dimensions"):
        initializers.get("he_normal")((5,), np.random.default_rng(0))


def test_gain_table():
    expected = {
        "linear": 1,
        "identity": 1,
        "conv1d": 1,
        "conv2d": 1,
        "conv3d": 1,
        "conv_transpose1d": 1,
        "conv_transpose2d": 1,
        "conv_transpose3d": 1,
        "sigmoid": 1,
        "tanh": 5 / 3,
        "relu": math.sqrt(2),
        "leaky_relu": math.sqrt(2 / (1 + 0.01**2)),
        "selu": 3 / 4,
        "erf": math.sqrt(math.pi) / 2,  # 1 / erf'(0): chi_1 = 1 at zero bias
    }
    assert set(nonlinearities()) == set(expected)
    for name, gain in expected.items():
        assert calculate_gain(name) == pytest.approx(gain, rel=1e-15)
    assert calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-15)
    assert calculate_gain("relu", 0.2) == pytest.approx(math.sqrt(2))  # param ignored
    with pytest.raises(InitlabError, match=r"unknown nonlinearity 'gelu'; valid .*tanh"):
        calculate_gain("gelu")
    with pytest.raises(InitlabError, match="negative_slope"):
        calculate_gain("leaky_relu", True)


# --- streams, determinism -----------------------------------------------------------------

REQUIRED = {"sparse": {"sparsity": 0.5}, "constant": {"value": 0.5}}
SHAPES = {"dirac": (6, 3, 3), "delta_orthogonal": (6, 3, 3), "stft": (5, 1, 8)}  # else (7, 5)
CONSTANT = {"zeros", "ones", "constant", "identity", "eye", "dirac", "stft"}


@pytest.mark.parametrize("name", initializers.available())
def test_every_scheme_is_deterministic_on_both_streams(name):
    init, shape = initializers.get(name, **REQUIRED.get(name, {})), SHAPES.get(name, (7, 5))
    for stream in ("default", "legacy"):
        a = init(shape, make_rng(3, stream))
        b = init(shape, make_rng(3, stream))
        c = init(shape, make_rng(4, stream))
        assert a.tobytes() == b.tobytes() and np.isfinite(a).all()
        assert init(shape, make_rng(3, stream), np.float32).dtype == np.float32
        assert (name in CONSTANT) == np.array_equal(a, c)


def test_legacy_stream_reproduces_the_post():
    init = initializers.get({"name": "random", "scale": 10})
    W = init((5, 3), np.random.RandomState(1))
    np.testing.assert_array_equal(W, np.random.RandomState(1).randn(5, 3) * 10)
    net = init_network([3, 5, 1], "random", seed=1, stream="legacy")
    rs = np.random.RandomState(1)
    np.testing.assert_array_equal(net.weights[0][0], rs.randn(5, 3) * 10)
    np.testing.assert_array_equal(net.weights[1][0], rs.randn(1, 5) * 10)


# --- the registry and its errors ----------------------------------------------------------

INVALID = [
    ("normal", {"std": -1.0}, "std must be >= 0"),
    ("normal", {"std": "big"}, "std must be a number"),
    ("random_normal", {"stddev": -0.1}, "stddev"),
    ("trunc_normal", {"std": 0.0}, "std must be > 0"),
    ("trunc_normal", {"a": 2.0}, r"b must be > a \(2.0\) for trunc_normal; got b=2"),
    ("trunc_normal", {"b": -2.5}, r"b must be > a \(-2.0\)"),
    ("trunc_normal", {"a": 40.0, "b": 41.0}, r"lies 40 std from the mean.*probability 0"),
    ("truncated_normal", {"stddev": 0}, "stddev must be > 0"),
    ("truncated_normal", {"lower": 1.0, "upper": 1.0}, r"upper must be > lower \(1.0\)"),
    ("truncated_normal", {"lower": -45.0, "upper": -40.0}, "probability 0"),
    ("sparse", {"sparsity": 1.0}, "sparsity must be < 1"),
    ("sparse", {"sparsity": -0.1}, "sparsity must be >= 0"),
    ("sparse", {"sparsity": 0.1, "std": -1}, "std must be >= 0"),
    ("orthogonal", {"gain": 0}, "gain must be > 0"),
    ("xavier_normal", {"gain": -1}, "gain must be > 0"),
    ("xavier_uniform", {"gain": 0.0}, "gain must be > 0"),
    ("identity", {"gain": 0}, "gain must be > 0"),
    ("eye", {"gain": -2}, "gain must be > 0"),
    ("uniform", {"a": 1, "b": 1}, r"b must be > a \(1\)"),
    ("random_uniform", {"minval": 0.1}, "maxval must be > minval"),
    ("random", {"scale": 0}, "scale must be > 0"),
    ("constant", {"value": float("nan")}, "value must be finite"),
    ("variance_scaling", {"scale": 0}, "scale must be > 0"),
    (
        "variance_scaling",
        {"mode": "fan_sum"},
        "mode must be one of fan_in, fan_out, fan_avg, fan_geo_avg",
    ),
    ("variance_scaling", {"in_axis": 1.5}, "in_axis must be an integer axis or a list"),
    ("he_normal", {"batch_axis": [0, True]}, "batch_axis must be an integer axis or a list"),
    ("variance_scaling", {"distribution": "untruncated_normal"}, "distribution must be one of"),
    ("kaiming_uniform", {"mode": "fan_avg"}, "mode must be one of fan_in, fan_out; got"),
    ("kaiming_normal", {"nonlinearity": "gelu"}, "unknown nonlinearity 'gelu'"),
    ("kaiming_normal", {"a": "x"}, "a must be a number"),
    (
        "he_normal",
        {"scale": 2},
        "unknown parameter 'scale' for initializer 'he_normal'; it accepts: in_axis, out_",
    ),
    (
        "kaiming_normal",
        {"slope": 0.1, "gain": 1},
        "unknown parameters 'slope', 'gain' .* it accepts: a, mode, nonlinearity",
    ),
    ("sparse", {}, "needs parameter 'sparsity'; it accepts: sparsity, std"),
    ("constant", {}, "needs parameter 'value'"),
    ("he", {"scale": 2}, "unknown parameter 'scale' for initializer 'he'; it takes no"),
]


@pytest.mark.parametrize(("name", "params", "message"), INVALID)
def test_invalid_parameters_are_named(name, params, message):
    with pytest.raises(InitlabError, match=message):
        initializers.get(name, **params)
    with pytest.raises(InitlabError, match=message):  # the same through a table
        initializers.get({"name": name, **params})


def test_get_errors():
    with pytest.raises(InitlabError, match=r"unknown initializer 'nope'; valid .*he_normal"):
        initializers.get("nope")
    with pytest.raises(InitlabError, match="needs a 'name' key"):
        initializers.get({"scale": 1})
    with pytest.raises(InitlabError, match="a name or a table"):
        initializers.get(3)
    with pytest.raises(InitlabError, match=r"data-dependent.*lsuv_network"):
        initializers.get("lsuv")
    with pytest.raises(InitlabError, match="data-dependent"):
        initializers.get({"name": "lsuv", "tol": 0.1})
    assert "lsuv" not in initializers.available()


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [("sparse", (4, 3, 2), "2-D"), ("identity", (4, 3, 2), "2-D"), ("orthogonal", (4,), "2 dim")],
)
def test_shape_errors(name, shape, message):
    init = initializers.get(name, **REQUIRED.get(name, {}))
    with pytest.raises(InitlabError, match=message):
        init(shape, np.random.default_rng(0))


def test_get_passes_initializers_through_and_records_params():
    init = initializers.get("kaiming_normal", mode="fan_out")
    assert initializers.get(init) is init
    assert init.params == {"a": 0.0, "mode": "fan_out", "nonlinearity": "leaky_relu"}


def test_catalogue_and_docs_cover_every_scheme():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "initializers.md").read_text()
    lines = initializers.catalogue()
    assert [s.name for s in lines] == initializers.available()
    for s in lines:
        assert s.distribution and s.formula and s.equivalent, s.name
        assert f"| `{s.name}` |" in docs or f"| `{s.name}(" in docs, s.name  # a table row
    assert "| `lsuv` |" in docs


# --- CLI ----------------------------------------------------------------------------------


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="initlab")
    inits_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["inits", *argv])
    return args.func(args)


def test_cli_lists_the_catalogue(capsys):
    assert run_cli([]) == 0
    out = capsys.readouterr().out
    for name in initializers.available():
        assert f"\n{name} " in out
    assert "Keras HeNormal" in out and "torch kaiming_normal_" in out and "lsuv" in out


def test_cli_samples_a_scheme(capsys):
    argv = ["kaiming_uniform", "--shape", "64", "32", "--seed", "1", "--param", "mode=fan_out"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    bound = math.sqrt(2) * math.sqrt(3 / 64)
    assert "'mode': 'fan_out'" in out and f"{bound:.6g}" in out
    for label in ("mean", "std", "min", "max"):
        assert f"\n{label} " in out


def test_cli_prints_the_fans_the_scheme_reads(capsys):
    argv = ["he_normal", "--shape", "5", "5", "32", "64", "--param", "in_axis=-2", "out_axis=-1"]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "fan_in 800  fan_out 1600" in out and f"{math.sqrt(2 / 800):.6g}" in out


def test_cli_parses_params():
    assert inits_cli.parse_params(["gain=2", "a=0.5", "mode=fan_in", "x=true"]) == {
        "gain": 2,
        "a": 0.5,
        "mode": "fan_in",
        "x": True,
    }
    with pytest.raises(InitlabError, match="KEY=VALUE"):
        inits_cli.parse_params(["gain"])


# --- PyTorch as a second engine (optional) ------------------------------------------------

TORCH_CASES = [c for c in CASES if c[3] is not None]


def torch_sample(torch, call, shape, seed=0):
    name, args, kwargs = call
    t = torch.empty(shape, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    getattr(torch.nn.init, name)(t, *args, generator=g, **kwargs)
    return t.numpy()


@pytest.mark.parametrize(
    ("name", "params", "ref", "torch_call"),
    TORCH_CASES,
    ids=[i for i, c in zip(CASE_IDS, CASES, strict=True) if c[3] is not None],
)
@pytest.mark.filterwarnings("ignore:mean is more than 2 std:UserWarning")  # torch's, on [-6, -3]
def test_matches_torch(name, params, ref, torch_call):
    torch = pytest.importorskip("torch")
    ours = initializers.get(name, **params)
    m = ours.moments(SHAPE)
    lo, hi = variance_bounds(ref, math.prod(SHAPE))
    for W in (ours(SHAPE, np.random.default_rng(0)), torch_sample(torch, torch_call, SHAPE)):
        assert lo <= W.var(ddof=1) <= hi  # both within bounds of the same variance
        assert m.low <= W.min() and W.max() <= m.high
    assert m.std**2 == pytest.approx(ref.var(), rel=1e-12)


def test_matches_torch_structured():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    for shape in [(30, 50), (50, 30), (4, 3, 2, 2)]:
        t = torch.nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), 2.0, generator=g)
        M = t.numpy().reshape(shape[0], -1)
        G = M @ M.T if M.shape[0] <= M.shape[1] else M.T @ M
        np.testing.assert_allclose(G, 4 * np.eye(min(M.shape)), atol=1e-10)
    t = torch.nn.init.eye_(torch.empty(3, 5, dtype=torch.float64))
    np.testing.assert_array_equal(t.numpy(), initializers.get("eye")((3, 5), 0))
    t = torch.nn.init.sparse_(torch.empty(10, 400, dtype=torch.float64), 0.25, 0.5, generator=g)
    W = initializers.get("sparse", sparsity=0.25, std=0.5)((10, 400), np.random.default_rng(0))
    np.testing.assert_array_equal((t.numpy() == 0).sum(axis=0), (W == 0).sum(axis=0))
    for shape in [(200, 300), (16, 8, 3, 5), (16, 8, 3)]:
        fans = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert initializers.compute_fans(shape) == fans
    for name in nonlinearities():
        # PyTorch's table says "Linear / Identity" but only knows "linear"; it has no erf
        if name not in ("identity", "erf"):
            assert calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
