"""Training: cost recording, engines agree, populations equal solo runs, divergence."""

import numpy as np
import pytest

from initlab import InitlabError, init_network, init_population
from initlab.nn.engines import choose
from initlab.nn.training import train


def wide_problem(n=300, m=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)) / np.sqrt(n)
    Y = (rng.standard_normal((1, n)) @ X > 0).astype(float)
    return X, Y


def reference_gd(net, X, Y, lr, T):
    """Plain gradient descent with Network.gradients, one member, for comparison."""
    net = net.copy()
    costs = []
    for _ in range(T):
        costs.append(net.cost(X, Y)[0])
        dWs, dbs = net.gradients(X, Y)
        for W, dW in zip(net.weights, dWs, strict=True):
            W -= lr * dW
        for b, db in zip(net.biases, dbs, strict=True):
            b -= lr * db
    return np.array(costs), net


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_cost_history_is_before_each_update(engine):
    X, Y = wide_problem()
    net = init_network([300, 5, 5, 1], "xavier", seed=1)
    ref_costs, ref_net = reference_gd(net, X, Y, 0.5, 30)
    trained, hist = train(net, X, Y, learning_rate=0.5, iterations=30, engine=engine)
    assert hist.engine == engine
    np.testing.assert_allclose(hist.costs[0], ref_costs, rtol=1e-12)
    assert hist.costs[0, 0] == net.cost(X, Y)[0]  # iteration 0: the initial parameters
    np.testing.assert_allclose(hist.final_cost[0], ref_net.cost(X, Y)[0], rtol=1e-12)
    for W, W_ref in zip(trained.weights, ref_net.weights, strict=True):
        np.testing.assert_allclose(W, W_ref, rtol=1e-10, atol=1e-14)


def test_sample_engine_reproduces_direct_to_1e9_on_a_non_chaotic_run():
    X, Y = wide_problem(n=500, m=30)
    members = [("zeros", 1), ({"name": "random", "scale": 3}, 1), ("he", 1)]
    pop = init_population([500, 8, 4, 1], members, activation="tanh", stream="legacy")
    _, direct = train(pop, X, Y, learning_rate=0.05, iterations=300, engine="direct")
    _, sample = train(pop, X, Y, learning_rate=0.05, iterations=300, engine="sample")
    np.testing.assert_allclose(sample.costs, direct.costs, rtol=1e-9)


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_each_member_gets_exactly_what_it_gets_alone(engine):
    X, Y = wide_problem()
    members = [("he", 1), ("xavier", 2), ({"name": "random", "scale": 2}, 3), ("zeros", 4)]
    lrs = [0.1, 0.3, 0.05, 0.2]
    pop = init_population([300, 6, 3, 1], members, activation="relu")
    trained, hist = train(pop, X, Y, learning_rate=lrs, iterations=50, engine=engine)
    for k, (init, seed) in enumerate(members):
        alone = init_network([300, 6, 3, 1], init, seed=seed, activation="relu")
        t1, h1 = train(alone, X, Y, learning_rate=lrs[k], iterations=50, engine=engine)
        np.testing.assert_array_equal(h1.costs[0], hist.costs[k])
        for W1, W in zip(t1.weights, trained.weights, strict=True):
            np.testing.assert_array_equal(W1[0], W[k])


def test_a_diverging_member_is_frozen_without_disturbing_the_others():
    X, Y = wide_problem(n=20, m=30)
    members = [("he", 1), ({"name": "random", "scale": 1e200}, 2), ("xavier", 3)]
    pop = init_population([20, 4, 1], members, activation="relu")
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # none escape the loop
        trained, hist = train(pop, X, Y, learning_rate=[0.1, 0.1, 0.1], iterations=20)
    assert hist.diverged.tolist() == [False, True, False]
    assert hist.diverged_at[1] == 0
    assert np.isnan(hist.costs[1]).all() and np.isnan(hist.final_cost[1])
    # the diverged member's parameters are returned as they were when it diverged
    for l in range(2):
        np.testing.assert_array_equal(trained.weights[l][1], pop.weights[l][1])
        np.testing.assert_array_equal(trained.biases[l][1], pop.biases[l][1])
    # the others equal a population without the diverged member
    clean = init_population([20, 4, 1], [members[0], members[2]], activation="relu")
    _, h2 = train(clean, X, Y, learning_rate=0.1, iterations=20)
    np.testing.assert_array_equal(hist.costs[[0, 2]], h2.costs)


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_divergence_during_training_is_caught(engine):
    X, Y = wide_problem(n=20, m=30)
    # two hidden layers: after the blow-up a hidden activation is inf, and without being
    # set aside the member's zeroed gradients would still meet 0 * inf = NaN
    pop = init_population([20, 4, 4, 1], [("he", 1), ("he", 1)], activation="relu")
    _, hist = train(pop, X, Y, learning_rate=[0.1, 1e200], iterations=10, engine=engine)
    assert not hist.diverged[0] and hist.diverged[1]
    t = hist.diverged_at[1]
    assert 0 < t < 10
    assert np.isfinite(hist.costs[1, :t]).all()
    # it comes back exactly as it was at iteration t: the same member alone after t updates
    trained, _ = train(pop, X, Y, learning_rate=[0.1, 1e200], iterations=10, engine=engine)
    alone, _ = train(pop.member(1), X, Y, learning_rate=1e200, iterations=t, engine=engine)
    for l in range(3):
        np.testing.assert_array_equal(trained.weights[l][1], alone.weights[l][0])
        np.testing.assert_array_equal(trained.biases[l][1], alone.biases[l][0])


def test_held_out_data_is_measured():
    X, Y = wide_problem(n=50, m=60)
    net = init_network([50, 5, 1], "xavier", seed=0)
    trained, hist = train(
        net,
        X[:, :40],
        Y[:, :40],
        learning_rate=0.5,
        iterations=100,
        X_test=X[:, 40:],
        Y_test=Y[:, 40:],
        eval_every=10,
    )
    assert hist.eval_iterations == [*range(0, 100, 10), 100]
    assert hist.test_costs[0, 0] == pytest.approx(net.cost(X[:, 40:], Y[:, 40:])[0], rel=1e-12)
    assert hist.test_costs[0, -1] == pytest.approx(trained.cost(X[:, 40:], Y[:, 40:])[0], rel=1e-12)
    assert hist.test_accuracy_history[0, -1] == trained.accuracy(X[:, 40:], Y[:, 40:])[0]


def test_float32_keeps_one_dtype():
    X, Y = wide_problem()
    net = init_network([300, 5, 1], "he", seed=0, dtype=np.float32)
    for engine in ("direct", "sample"):
        trained, hist = train(net, X, Y, learning_rate=0.1, iterations=5, engine=engine)
        assert all(W.dtype == np.float32 for W in trained.weights)
        assert all(b.dtype == np.float32 for b in trained.biases)
    net64 = init_network([300, 5, 1], "he", seed=0)
    _, h64 = train(net64, X, Y, learning_rate=0.1, iterations=5)
    np.testing.assert_allclose(hist.costs, h64.costs, rtol=1e-5)
    for optimizer in ({"name": "momentum", "weight_decay": 1e-3}, "adamw"):
        trained, _ = train(net, X, Y, learning_rate=0.01, iterations=3, optimizer=optimizer)
        assert {A.dtype for A in (*trained.weights, *trained.biases)} == {np.dtype(np.float32)}


def test_auto_engine_follows_the_cost_model():
    assert choose("auto", n_features=67500, m=100, K=4, n1=5, steps=1000)[0] == "sample"
    assert choose("auto", n_features=784, m=60000, K=1, n1=128, steps=50)[0] == "direct"
    with pytest.raises(InitlabError, match="valid engines"):
        choose("fast", 10, 10, 1, 1, 1)


@pytest.mark.parametrize("bad,match", [(0.0, "learning_rate must be >"), (-1, "learning_rate")])
def test_bad_learning_rate(bad, match):
    X, Y = wide_problem(n=10, m=5)
    with pytest.raises(InitlabError, match=match):
        train(init_network([10, 2, 1], "he"), X, Y, learning_rate=bad, iterations=1)


def test_bad_labels_and_iterations():
    X, Y = wide_problem(n=10, m=5)
    net = init_network([10, 2, 1], "he")
    with pytest.raises(InitlabError, match="labels 0 and 1"):
        train(net, X, Y * 2, learning_rate=0.1, iterations=1)
    with pytest.raises(InitlabError, match="iterations must be >= 1"):
        train(net, X, Y, learning_rate=0.1, iterations=0)


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_history_alone_matches_the_returned_network(engine):
    X, Y = wide_problem()
    pop = init_population([300, 5, 1], [("he", 1), ("xavier", 2)], activation="tanh")
    trained, hist = train(pop, X, Y, learning_rate=0.3, iterations=20, engine=engine)
    none, lean = train(
        pop, X, Y, learning_rate=0.3, iterations=20, engine=engine, return_network=False
    )
    assert none is None
    np.testing.assert_array_equal(lean.costs, hist.costs)
    np.testing.assert_array_equal(lean.final_accuracy, hist.final_accuracy)
    np.testing.assert_allclose(hist.final_accuracy, trained.accuracy(X, Y), rtol=0)
    np.testing.assert_allclose(hist.final_cost, trained.cost(X, Y), rtol=1e-12)


def test_same_bits_whatever_the_blas_thread_count():
    """Products big enough that two OpenBLAS threads change the rounding of an unlimited
    run (seen: costs differ by 1 ulp); train's own one-thread limit makes them equal."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 200)) / 20.0
    Y = (rng.standard_normal((1, 400)) @ X > 0).astype(float)
    pop = init_population([400, 64, 64, 1], [("he", 1), ("xavier", 2)], activation="tanh")
    costs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            costs.append(
                train(pop, X, Y, learning_rate=0.5, iterations=5, engine="direct")[1].costs
            )
    np.testing.assert_array_equal(costs[0], costs[1])


def test_a_member_beyond_the_divergence_bound_is_diverged_before_overflow():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((10, 30))
    Y = rng.standard_normal((1, 30))
    # least squares (one linear layer): gradient descent beyond 2 / lambda_max grows the cost
    # geometrically, finite for hundreds of steps
    pop = init_population([10, 1], [("xavier", 1), ("xavier", 1)], head="linear")
    lrs = [0.01, 1.5]
    _, free = train(pop, X, Y, learning_rate=lrs, iterations=40, divergence_factor=None)
    c = free.costs[1]
    assert np.isfinite(c).all() and not free.diverged.any()
    first = int(np.argmax(c > 1e3 * c[0]))
    assert 0 < first < 40
    _, hist = train(pop, X, Y, learning_rate=lrs, iterations=40)  # default factor 1e3
    assert hist.diverged_at.tolist() == [-1, first]
    np.testing.assert_array_equal(hist.costs[1, :first], c[:first])
    assert np.isnan(hist.costs[1, first:]).all()
    np.testing.assert_array_equal(hist.costs[0], free.costs[0])
    _, loose = train(pop, X, Y, learning_rate=lrs, iterations=40, divergence_factor=1e6)
    assert loose.diverged_at[1] == int(np.argmax(c > 1e6 * c[0]))


def test_floating_point_events_are_counted_not_printed():
    import warnings

    X, Y = wide_problem(n=20, m=30)
    pop = init_population([20, 4, 4, 1], [("he", 1), ("he", 1)], activation="relu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning escaping the loop would raise
        _, hist = train(pop, X, Y, learning_rate=[0.1, 1e200], iterations=10)
        _, clean = train(pop.member(0), X, Y, learning_rate=0.1, iterations=10)
    assert hist.diverged.tolist() == [False, True]
    assert sum(hist.warnings.values()) > 0 and set(hist.warnings) <= {
        "overflow",
        "invalid",
        "divide by zero",
    }
    assert clean.warnings == {}


def test_epochs_count_steps_over_mini_batches():
    X, Y = wide_problem(n=30, m=50)
    net = init_network([30, 5, 1], "xavier", seed=0)
    _, by_epochs = train(net, X, Y, learning_rate=0.1, epochs=3, batch_size=16)
    _, by_steps = train(net, X, Y, learning_rate=0.1, iterations=12, batch_size=16)
    assert by_epochs.costs.shape == (1, 12) and by_epochs.steps_per_epoch == 4
    np.testing.assert_array_equal(by_epochs.costs, by_steps.costs)
    # a batch at least as large as the data is the post's full batch, in order
    _, full = train(net, X, Y, learning_rate=0.1, epochs=2, batch_size=500)
    _, post = train(net, X, Y, learning_rate=0.1, iterations=2)
    np.testing.assert_array_equal(full.costs, post.costs)
    with pytest.raises(InitlabError, match="exactly one of iterations and epochs"):
        train(net, X, Y, learning_rate=0.1, iterations=2, epochs=2)
    with pytest.raises(InitlabError, match="batch_size must be >= 1"):
        train(net, X, Y, learning_rate=0.1, iterations=2, batch_size=0)


def test_mini_batch_costs_are_the_costs_of_the_documented_batches():
    from initlab.nn.batches import batch_order

    X, Y = wide_problem(n=30, m=50)
    net = init_network([30, 5, 1], "xavier", seed=0)
    _, hist = train(net, X, Y, learning_rate=0.1, iterations=1, batch_size=16, shuffle_seed=7)
    cols = np.random.default_rng([7, 0]).permutation(50)[:16]  # the docs' formula
    np.testing.assert_array_equal(batch_order(50, 16, 0, 7)[0], cols)
    assert [len(b) for b in batch_order(50, 16, 0, 7)] == [16, 16, 16, 2]
    assert hist.costs[0, 0] == net.cost(X[:, cols], Y[:, cols])[0]


@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_a_hook_sees_every_gradient_of_its_batch(engine):
    X, Y = wide_problem(n=40, m=30)
    pop = init_population([40, 5, 3, 1], [("he", 1), ("xavier", 2)], activation="tanh")
    seen = []
    train(pop, X, Y, learning_rate=0.1, iterations=1, batch_size=8, engine=engine,
          record_at=[0], hooks=[seen.append])  # fmt: skip
    cols = np.random.default_rng([0, 0]).permutation(30)[:8]
    dWs, dbs = pop.gradients(X[:, cols], Y[:, cols])
    step = seen[0]
    for got, want in zip((*step.dWs, *step.dbs), (*dWs, *dbs), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    norms = np.sqrt(np.einsum("kij,kij->k", dWs[0], dWs[0]))
    np.testing.assert_allclose(step.grad_norm_1, norms, rtol=1e-10)
