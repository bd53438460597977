"""A ResMLP's passes written into the last step's arrays (``forward(out=cache)``) and a Model
trained in place (``train(overwrite=True)``) keep every bit of the fresh computation."""

import numpy as np
import pytest

from initlab._validation import InitlabError
from initlab.init.build import init_population
from initlab.init.parametrization import init_model
from initlab.nn.residual import ResMLP
from initlab.nn.training import train


def _net(rng, skip, scaling, J, act, dtype):
    K, d, n, out, L = 2, 5, 7, 3, 3
    ps = [rng.standard_normal((K, n, d)), 0.1 * rng.standard_normal((K, n, 1))]
    for _ in range(L * J):
        ps += [rng.standard_normal((K, n, n)) / np.sqrt(n), 0.1 * rng.standard_normal((K, n, 1))]
    ps += [rng.standard_normal((K, out, n)) / np.sqrt(n), 0.1 * rng.standard_normal((K, out, 1))]
    if scaling == "learnable":
        ps.append(rng.uniform(0.2, 0.8, (K, L, 1)))
    return ResMLP([p.astype(dtype) for p in ps], L, J, act, skip, scaling, 0.7)


@pytest.mark.parametrize(
    ("skip", "scaling", "J", "act", "dtype"),
    [(True, "learnable", 2, "relu", "float64"), (False, "constant", 2, "relu", "float64"),
     (True, "depth", 1, "tanh", "float64"), (True, "completep", 3, "relu", "float32")],
)  # fmt: skip
def test_reused_cache_gives_the_fresh_passes_bits(skip, scaling, J, act, dtype):
    """Three passes on new inputs into one cache (and gradients into one list) equal passes
    with nothing reused, bit for bit; the arrays are the same ones from the second pass on
    (relu's activations too; another activation's are its function's new arrays)."""
    rng = np.random.default_rng(5)
    net = _net(rng, skip, scaling, J, act, dtype)
    cache, grads, ids = None, None, None
    for _ in range(3):
        X = rng.standard_normal((5, 11)).astype(dtype)
        dZ = rng.standard_normal((2, 3, 11)).astype(dtype)
        Z0, fresh = net.forward(X)
        g0 = net.backward(dZ, fresh)
        Z, cache = net.forward(X, out=cache)
        grads = net.backward(dZ, cache, out=grads)
        for a, b in zip([Z0, *fresh["x"], fresh["aL"]], [Z, *cache["x"], cache["aL"]], strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        for a, b in zip(g0, grads, strict=True):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
        now = [id(a) for a in (Z, *cache["x"], *[cache["aL"]] * (act == "relu"))]
        assert ids is None or now == ids
        ids = now


def test_records_handed_out_are_not_overwritten_and_a_new_shape_gets_new_arrays():
    rng = np.random.default_rng(6)
    net = _net(rng, True, "constant", 1, "relu", "float64")
    Z, cache = net.forward(rng.standard_normal((5, 11)))
    kept = net.records(cache, Z)
    before = [a.copy() for a in kept]
    Z2, cache2 = net.forward(rng.standard_normal((5, 11)), out=cache)
    assert cache2 is cache and all(np.array_equal(a, b) for a, b in zip(kept, before, strict=True))
    assert not any(np.shares_memory(a, b) for a in kept for b in net.records(cache2, Z2))
    X = rng.standard_normal((5, 4))  # another batch width: new arrays, the fresh bits
    Z3, _ = net.forward(X, out=cache2)
    assert Z3.shape == (2, 3, 4) and Z3.tobytes() == net.forward(X)[0].tobytes()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_overwrite_trains_the_models_own_arrays_to_the_same_bits(optimizer):
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((6, 40)), np.eye(4)[:, rng.integers(0, 4, 40)]
    model, s = init_model((6, 48, 4), [0, 1], depth=2, skip=True, optimizer=optimizer)
    kw = dict(learning_rate=[0.05, 2.0], lr_scale=s, iterations=5, optimizer=optimizer,
              head="softmax", batch_size=16, divergence_factor=10.0)  # fmt: skip
    trained, h = train(model, X, Y, **kw)
    arrays = [id(p) for p in model.params]
    _, h2 = train(model, X, Y, overwrite=True, return_network=False, **kw)
    assert [id(p) for p in model.params] == arrays
    assert h.costs.tobytes() == h2.costs.tobytes()
    for k in range(2):
        if h.diverged_at[k] < 0:  # a diverged member is zeroed in place, returned as it was
            for p, q in zip(trained.params, model.params, strict=True):
                assert p[k].tobytes() == q[k].tobytes()
    net = init_population([6, 8, 4], [("he", 0)], head="softmax")
    with pytest.raises(InitlabError, match="overwrite"):
        train(net, X, Y, learning_rate=0.1, iterations=1, overwrite=True)
