r"""The studies' numbers keep their bits: a refactor must not change one.

History. The pins were taken before the per-step temporaries were removed (issue 23, item 4):
kept scratch arrays in the optimizers, weight gradients written into the previous step's
arrays, and the fused plain step on mini-batches of the direct engine. The trainability
map's default arithmetic is ``"fast"`` since (:mod:`initlab.nn.lean`: the rate folded into
the top gradient, other roundings): its pins hold the ``"exact"`` arithmetic, which must
keep main's bits; ``"trainability sgd fast"`` pins the default's own numbers (computed with
this branch's code when the default changed; not main's). The momentum map never takes the
lean step (not plain SGD), so its default is exact. Every pinned value is the first 16 hex
digits of the SHA-256 of a study's numbers (:func:`_studies`), computed with main's code at
commit 15acaae (before the change) by running this file with ``PYTHONPATH`` pointing at that
commit's ``src``. A bit changed anywhere in any step changes the hash.

Where the pins hold (the policy). The bits are decided by the libraries and the CPU that
round, not by initlab alone (DESIGN.md, "Results that travel"): another BLAS kernel
(OpenBLAS picks one per CPU: SkylakeX here, Haswell or Zen elsewhere), another NumPy, or
NumPy's ufuncs dispatched to other SIMD code round the products differently, and every
hash differs although nothing is wrong. So the pins are keyed by a fingerprint of what
decides the bits (:func:`machine`): NumPy's version and the SIMD targets its ufuncs
dispatch to on this CPU, each BLAS library's implementation, version and kernel (as
threadpoolctl reports them, the fields :func:`initlab.results.provenance.provenance`
records), the C library, Python, the machine and its byte order.

- On a pinned machine (its fingerprint a key of :data:`PINS`), every hash must equal its
  pin: a change of one bit of one number fails.
- On any other machine the pins say nothing, and the test does not skip: it computes the
  same studies a second time in another composition (:func:`_studies` with ``alone=True``:
  every member trained alone, through the study's cells; the scaling studies on the
  executor in populations of one member, stored and read back) and every hash must equal
  the first computation's, bit for bit (a member's numbers do not depend on its population:
  the training loop's contract, :mod:`initlab.nn.training`).
- On every machine, :func:`test_training_matches_an_independent_reference` holds the three
  training runs (Nesterov momentum with L2 decay, Adam with L2 decay, AdamW) to a plain
  NumPy loop written here from the optimizers' documented formulas, to a relative 1e-9:
  the two differ by their roundings only (at most 3e-11 here, AdamW's final cost; Adam's
  division by :math:`\sqrt{v}` amplifies them), a wrong formula by far more.

What an unpinned machine cannot see is a change that only moves roundings, the same way in
every composition and within the reference's tolerance; only a pin can. To pin a machine,
run ``python tests/test_study_bits.py`` there with ``PYTHONPATH`` at the ``src`` of a commit
whose numbers are to be kept (one that passes on a pinned machine): it prints the
fingerprint's key and the hashes to add to :data:`PINS`, and the fingerprint itself.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile

import numpy as np
import pytest

from initlab.data import load, sample
from initlab.init.build import init_population
from initlab.nn import fused, optimizers
from initlab.nn.training import train
from initlab.results import provenance as _provenance
from initlab.results.records import jsonable
from initlab.studies import scaling
from initlab.studies import trainability as tr

PINS = {
    # x86-64, CPython 3.11.7, glibc 2.36, NumPy 2.4.6 (SIMD: X86_V2 + X86_V3, X86_V4,
    # AVX512_ICL, AVX512_SPR), OpenBLAS 0.3.31.188.0 (NumPy's) and 0.3.30 (SciPy's), both
    # SkylakeX: the development machine
    "77b13fc3875c43b3": {
        "trainability sgd": "301a84e5ba3d9233",
        "trainability sgd fast": "36a2d3b70fbf8b5e",
        "trainability momentum sigmoid relu": "257d4068359bdb87",
        "lr transfer adam": "9284f3e18628829e",
        "lr transfer sgd residual": "ef5e3c434f53f987",
        "coord check sgd": "22a5d134e513068d",
        "coord check adam": "387778ca68238edd",
        "train nesterov decay": "cf91ccb34b45e2a0",
        "train adam decay": "b2c9eb1803f816a2",
        "train adamw": "70474e6838623bc0",
    },
}
"""The hashes of :func:`_studies` by the key (:func:`machine_key`) of the machine they hold on."""


def machine() -> dict:
    """What decides the studies' bits on this machine (the module docstring's fingerprint)."""
    import scipy.linalg  # noqa: F401  (its BLAS loaded, so it is reported whatever ran before)

    try:  # NumPy 2; NumPy 1.26's is numpy.core
        from numpy._core import _multiarray_umath as umath
    except ImportError:
        from numpy.core import _multiarray_umath as umath
    features = umath.__cpu_features__
    prov = _provenance.provenance()
    blas = [{k: lib[k] for k in ("internal_api", "version", "architecture")}
            for lib in _provenance.blas_libraries()]  # fmt: skip
    return {
        "numpy": prov["numpy"],
        "simd": [*umath.__cpu_baseline__, *(f for f in umath.__cpu_dispatch__ if features.get(f))],
        "blas": blas,
        "libc": list(platform.libc_ver()),
        "python": prov["python"],
        "machine": prov["machine"],
        "byteorder": prov["byteorder"],
    }


def machine_key() -> str:
    """The key of :data:`PINS` for this machine: the fingerprint's hash (16 hex digits)."""
    return _provenance.provenance_id(machine())


def _hash(*arrays) -> str:
    d = hashlib.sha256()
    for a in arrays:
        d.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return d.hexdigest()[:16]


_NUMBERS = ("train_accuracy", "test_accuracy", "final_cost", "initial_cost", "diverged_at")


def _trainability(alone: bool = False, **kw) -> str:
    """Two depths of a small map (a diverging sigma_w^2 included), its records' JSON; `alone`:
    each member's numbers from its cell computed alone (:func:`initlab.studies.trainability.
    compute`, the executor's path), the members in reverse order."""
    cfg = tr.TrainabilityConfig(
        depths=(2, 6), sigma_w2=(0.5, 1.5, 6.0), width=16, steps=40, seeds=2, batch_size=64, **kw
    )
    task = tr.load_task(cfg.task, cfg.test_fraction, cfg.seed)
    records = [tr.train_depth(cfg, d, task) for d in cfg.depths]
    for r in records:  # the record's numbers (dtype, arithmetic: keys added since)
        r.pop("seconds"), r.pop("dtype", None), r.pop("arithmetic", None)
        if alone:
            members = [c for c in tr.cells(cfg) if c.config.get("depth") == r["depth"]]
            found = {c.id: tr.compute([c.config])[0] for c in reversed(members)}
            for key in _NUMBERS:
                values = np.array([found[c.id][key] for c in members])
                r[key] = jsonable(values.reshape(len(cfg.sigma_w2), cfg.seeds))
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:16]


def _scaling(alone: bool, study, **kw):
    """A scaling study computed here in populations of (parametrization, width), or, `alone`,
    on the executor in populations of one member (stored in a temporary store, read back)."""
    if not alone:
        return study(**kw)
    with tempfile.TemporaryDirectory() as out:
        return study(**kw, out=out, max_population=1)


OPTIMIZERS = {
    "nesterov decay": {"name": "momentum", "nesterov": True, "weight_decay": 1e-3},
    "adam decay": {"name": "adam", "weight_decay": 1e-3},
    "adamw": "adamw",
}
"""The optimizers of the training runs :func:`_studies` pins."""
RATES = [0.01, 0.1, 1.0]


def _train_run(opt, alone: bool = False):
    """Three He members ([64, 24, 24, 10], tanh, softmax) trained 12 steps on 200 digits in
    batches of 50, at rates 0.01, 0.1, 1; `alone`: one population per member. The initial
    parameters (None if `alone`), every step's costs ``(K, 12)`` and the final costs."""
    ds = sample(load("digits10"), 200)
    X, Y = ds.X, ds.one_hot()
    members = [("he", s) for s in range(3)]
    kw = dict(iterations=12, optimizer=opt, batch_size=50)
    if not alone:
        net = init_population([64, 24, 24, 10], members, activation="tanh", head="softmax")
        start = [p.copy() for p in [*net.weights, *net.biases]]
        hist = train(net, X, Y, learning_rate=RATES, **kw)[1]
        return start, hist.costs, hist.final_cost
    hists = [
        train(init_population([64, 24, 24, 10], [m], activation="tanh", head="softmax"), X, Y,
              learning_rate=[lr], **kw)[1]
        for m, lr in zip(members, RATES, strict=True)
    ]  # fmt: skip
    return None, *(np.concatenate([getattr(h, k) for h in hists]) for k in ("costs", "final_cost"))


def _studies(alone: bool = False) -> dict[str, str]:
    """Every pinned study's hash; `alone`: each computed in another composition (module
    docstring): the same bits."""
    out = {
        "trainability sgd": _trainability(alone, arithmetic="exact"),
        "trainability sgd fast": _trainability(alone),
        "trainability momentum sigmoid relu": _trainability(
            alone, optimizer="momentum", task="digits", activation="relu", learning_rate=0.2
        ),
    }
    lt = _scaling(
        alone, scaling.lr_transfer, widths=(16, 32), log2_lrs=(-9, -5, -1), steps=8,
        seeds=(0, 1), n_examples=128, base_width=16,
    )  # fmt: skip
    out["lr transfer adam"] = _hash(lt.loss, lt.curves)
    residual = scaling.Architecture(depth=2, skip=True, branch_layers=2, branch_scaling="learnable")
    lt = _scaling(
        alone, scaling.lr_transfer, widths=(16, 32), log2_lrs=(-4, 0, 4), steps=8, seeds=(0,),
        n_examples=128, optimizer="sgd", architecture=residual, base_width=16,
    )  # fmt: skip
    out["lr transfer sgd residual"] = _hash(lt.loss, lt.curves)
    cc = _scaling(alone, scaling.coord_check, widths=(16, 32), seeds=(0, 1), steps=2,
                  n_examples=64, base_width=16)  # fmt: skip
    out["coord check sgd"] = _hash(cc.size, cc.change)
    cc = _scaling(
        alone, scaling.coord_check, widths=(16, 32), seeds=(0,), steps=2, n_examples=64,
        optimizer="adam", learning_rate=0.01, parametrizations=("mup",), base_width=16,
    )  # fmt: skip
    out["coord check adam"] = _hash(cc.size, cc.change)
    for name, opt in OPTIMIZERS.items():
        out["train " + name] = _hash(*_train_run(opt, alone)[1:])
    return out


def _hold(found: dict[str, str]) -> str:
    """Hold `found` (:func:`_studies`) to this machine's pins, or, on a machine without
    pins, to the same studies computed in another composition; which one held."""
    pins = PINS.get(machine_key())
    if pins is not None:
        assert found == pins
        return "pins"
    assert found == _studies(alone=True)
    return "compositions"


@pytest.mark.parametrize("block", [None, 100])
def test_the_studies_numbers_keep_their_bits(block, monkeypatch):
    """Also with Adam's parameters updated by blocks of about 100 numbers (one member's rows,
    the last block of a member shorter): the blocks must not change a bit."""
    if block is not None:
        monkeypatch.setattr(optimizers, "BLOCK", block)
        sizes = []  # blocks per call: Adam's views are made once per parameter and run
        blocks = optimizers._blocks
        monkeypatch.setattr(optimizers, "_blocks",
                            lambda *a: sizes.append(len(b := list(blocks(*a)))) or iter(b))  # fmt: skip
    _hold(_studies())
    if block is not None:
        assert sum(n > 1 for n in sizes) > 20, sizes  # parameters updated by many blocks of ~100


def test_a_machine_without_pins_holds_the_studies_to_their_compositions(monkeypatch):
    """Another CPU, simulated: OpenBLAS reports a Zen kernel, so the fingerprint has no pins;
    the studies are then held to their other composition (they run and pass, not skip)."""
    libs = _provenance.blas_libraries
    other = [{**lib, "architecture": "Zen (simulated)"} for lib in libs()]
    monkeypatch.setattr(_provenance, "blas_libraries", lambda: other)
    assert machine_key() not in PINS
    assert _hold(_studies()) == "compositions"


def _reference_costs(start, X, Y, opt, rates) -> tuple[np.ndarray, np.ndarray]:
    """The costs of :func:`_train_run` by a plain loop over members, from the documented
    batch order (:mod:`initlab.nn.batches`) and update rules (:mod:`initlab.nn.optimizers`):
    ``(K, 12)`` costs of each step's batch before its update, and ``(K,)`` final costs."""
    name = opt if isinstance(opt, str) else opt["name"]
    decay = {"adamw": 0.01}.get(name, 0.0) if isinstance(opt, str) else opt["weight_decay"]
    L = len(start) // 2
    m = X.shape[1]
    batches = [
        c for e in range(3) for c in np.split(np.random.default_rng([0, e]).permutation(m), 4)
    ]

    def forward(P, cols):
        A = X[:, cols]
        for l in range(L):
            Z = P[l] @ A + P[L + l]
            A = np.tanh(Z) if l < L - 1 else Z
        z = A - A.max(axis=0)
        logp = z - np.log(np.exp(z).sum(axis=0))
        return -(Y[:, cols] * logp).sum() / len(cols)

    costs, finals = [], []
    for k, eta in enumerate(rates):
        P = [p[k].astype(float) for p in start]
        buf = [np.zeros_like(p) for p in P]
        v = [np.zeros_like(p) for p in P]
        row = []
        for t, cols in enumerate(batches):
            row.append(forward(P, cols))
            grads = _gradients(P, X[:, cols], Y[:, cols], L)
            for i, g in enumerate(grads):
                if name == "adamw":
                    P[i] = P[i] * (1 - eta * decay)
                else:
                    g = g + decay * P[i]
                if name == "momentum":
                    buf[i] = g if t == 0 else 0.9 * buf[i] + g
                    P[i] = P[i] - eta * (g + 0.9 * buf[i])
                else:  # Adam, PyTorch's form
                    buf[i] = 0.9 * buf[i] + 0.1 * g
                    v[i] = 0.999 * v[i] + 0.001 * g * g
                    denom = np.sqrt(v[i]) / np.sqrt(1 - 0.999 ** (t + 1)) + 1e-8
                    P[i] = P[i] - eta / (1 - 0.9 ** (t + 1)) * buf[i] / denom
        costs.append(row)
        finals.append(forward(P, np.arange(m)))
    return np.array(costs), np.array(finals)


def _gradients(P, X, Y, L):
    """Back-propagation of the mean cross-entropy of a tanh MLP with a softmax head."""
    As, A = [X], X
    for l in range(L):
        Z = P[l] @ A + P[L + l]
        A = np.tanh(Z) if l < L - 1 else Z
        As.append(A)
    z = As[-1] - As[-1].max(axis=0)
    dZ = (np.exp(z) / np.exp(z).sum(axis=0) - Y) / X.shape[1]
    dW, db = [None] * L, [None] * L
    for l in reversed(range(L)):
        dW[l], db[l] = dZ @ As[l].T, dZ.sum(axis=1, keepdims=True)
        if l:
            dZ = (P[l].T @ dZ) * (1 - As[l] ** 2)
    return [*dW, *db]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_training_matches_an_independent_reference(name):
    """The pinned training runs, held on any machine to a plain NumPy loop (module
    docstring): every step's cost and the final cost to a relative 1e-9."""
    start, found, found_final = _train_run(OPTIMIZERS[name])
    ds = sample(load("digits10"), 200)
    costs, finals = _reference_costs(start, ds.X, ds.one_hot(), OPTIMIZERS[name], RATES)
    np.testing.assert_allclose(found, costs, rtol=1e-9, atol=0)
    np.testing.assert_allclose(found_final, finals, rtol=1e-9, atol=0)
    assert (costs[:, -1] < 0.9 * costs[:, 0]).any()  # a member learned: not a vacuous check


@pytest.mark.parametrize(("activation", "head"), [("tanh", "sigmoid"), ("relu", "softmax")])
def test_mini_batches_take_the_fused_step_with_the_general_steps_bits(
    activation, head, monkeypatch
):
    """Mini-batch plain SGD on the direct engine takes nn.fused.PlainStep (batches of two
    widths: 50 columns and the epoch's last 30), and a hook at every step forces the general
    step: every cost, divergence, test cost and parameter must be equal, with a member that
    diverges (rate 40, factor 3) and is frozen while the others train on."""
    X = sample(load("digits10"), 130).X
    rng = np.random.default_rng(3)
    Y = np.eye(4)[rng.integers(0, 4, 130)].T if head == "softmax" else (X[36:37] > 0.5) * 1.0
    pop = init_population([64, 12, 9, Y.shape[0]], [("he", 1), ("xavier", 2), ("he", 3)],
                          activation=activation, head=head)  # fmt: skip
    calls = []
    update = fused.PlainStep.backward_update
    monkeypatch.setattr(fused.PlainStep, "backward_update",
                        lambda self, alive: calls.append(self.m) or update(self, alive))  # fmt: skip
    kw = dict(learning_rate=[0.05, 0.5, 40.0], iterations=25, batch_size=50, engine="direct",
              divergence_factor=3, X_test=X[:, :20], Y_test=Y[:, :20], eval_every=4)  # fmt: skip
    a, ha = train(pop, X, Y, **kw)
    assert sorted(set(calls)) == [30, 50] and len(calls) == 25
    b, hb = train(pop, X, Y, record_at=range(25), hooks=[lambda st: None], **kw)
    assert ha.diverged_at[2] > 0 and (ha.diverged_at[:2] == -1).all()  # the case is exercised
    for key in ("costs", "diverged_at", "final_cost", "test_costs"):
        np.testing.assert_array_equal(getattr(ha, key), getattr(hb, key), err_msg=key)
    for P, Q in zip([*a.weights, *a.biases], [*b.weights, *b.biases], strict=True):
        np.testing.assert_array_equal(P, Q)


def test_a_float32_map_trains_in_float32_and_says_so(tmp_path):
    """``dtype="float32"``: every number of the map is a float32 (not float64's bits), within
    float32's rounding of the float64 map on well-conditioned cells; the configuration and
    every depth's record say float32; the float64 map is another study (other cells)."""
    kw = dict(depths=(3,), sigma_w2=(1.0, 2.0), width=16, steps=40, seeds=1)
    task = tr.load_task("digits10", 0.2, 0)
    r64 = tr.train_depth(tr.TrainabilityConfig(**kw), 3, task)
    r32 = tr.train_depth(tr.TrainabilityConfig(**kw, dtype="float32"), 3, task)
    assert (r64["dtype"], r32["dtype"]) == ("float64", "float32")
    c64, c32 = np.array(r64["final_cost"]), np.array(r32["final_cost"])
    assert (c32.astype(np.float32) == c32).all() and not (c64.astype(np.float32) == c64).all()
    np.testing.assert_allclose(c32, c64, rtol=1e-5)
    tr.run(tr.TrainabilityConfig(**kw, dtype="float32"), tmp_path / "a")
    assert tr.read(tmp_path / "a")["config"]["dtype"] == "float32"
    # the dtype is part of every member cell's id: a float64 store is another study's
    with pytest.raises(tr.InitlabError, match="holds another study"):
        tr.run(tr.TrainabilityConfig(**kw), tmp_path / "a")


@pytest.mark.parametrize("stream", ["default", "legacy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_drawing_into_a_stacked_array_gives_the_initializers_numbers(stream, dtype):
    """``Initializer.draw_into`` (how populations are drawn): the numbers of a call, and the
    generator left in the same state, for a scaled normal (its ``fill``), a uniform and a
    truncated normal (no fill), an orthogonal matrix; Generator and legacy RandomState."""
    from initlab._rng import make_rng
    from initlab.init import catalogue

    for name in ("he", "lecun_uniform", "truncated_normal", "orthogonal", "random"):
        init = catalogue.get(name)
        a, b = make_rng(5, stream), make_rng(5, stream)
        out = np.full((3, 7, 5), np.nan, dtype=dtype)
        init.draw_into(out[1], a)
        expected = init((7, 5), b, dtype)
        assert out[1].tobytes() == expected.tobytes(), name
        assert np.isnan(out[[0, 2]]).all()  # only the member's slice is written
        assert a.standard_normal(3).tobytes() == b.standard_normal(3).tobytes(), name


if __name__ == "__main__":  # pin this machine (module docstring): its key and hashes
    print(json.dumps({machine_key(): _studies()}, indent=4))
    print(json.dumps(machine()))
