"""A population trained as chunks on several threads (``--jobs``) gives the same records.

A member's numbers never depend on its population, so the records of a population split
into chunks trained at once must equal, number for number, the records of the population
trained whole (experiment.threads). Held here: every number of every record (costs, test
costs, diagnostics, LSUV reports, divergence, floating-point events) on both engines, the
engine resolved once for the whole population, one BLAS thread in every chunk however the
chunks interleave, progress, errors, and the CLI's option.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from initlab.cli import main
from initlab.data import Dataset
from initlab.execution import runner, threads
from initlab.nn import engines
from initlab.specs.spec import parse

RUNS = [
    {"name": "lsuv", "init": {"name": "lsuv", "tol": 0.05}},
    {"name": "he", "init": "he", "seeds": 8},
    {"name": "blows up", "init": {"name": "random", "scale": 1e60}, "learning_rate": 5.0},
    {"name": "xavier", "init": "xavier", "seeds": 8},
]  # 24 members: 3 chunks of 8 at jobs = 3


def dump(records: list[dict]) -> str:
    """Every number of `records` as text: floats by repr (NaN and inf kept), arrays as lists."""
    return json.dumps(records, default=lambda a: a.tolist())


def population(engine: str, iterations: int = 30, runs=RUNS) -> dict:
    return {
        "data": {"train": "digits", "test_fraction": 0.25, "split_seed": 3},
        "model": {"hidden": [6, 5], "activation": "relu"},
        "training": {"learning_rate": 0.5, "iterations": iterations, "seed": 2, "seeds": 4,
                     "engine": engine, "diagnostics": True},
        "runs": runs,
    }  # fmt: skip


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the theory's
@pytest.mark.parametrize("engine", ["direct", "sample"])
def test_every_number_of_every_record_is_the_same_at_1_2_and_3_threads(engine):
    s = parse(population(engine))
    data = runner.load_data(s)
    results = {jobs: runner.run(s, data=data, jobs=jobs) for jobs in (1, 2, 3)}
    one = results[1]["runs"]
    assert len(one) == 24 and {r["engine"] for r in one} == {engine}
    diverged = [r["name"] for r in one if r["diverged"]]  # the middle chunk's exploding members
    assert len(diverged) >= 2 and set(diverged) == {"blows up"}
    assert one[0]["lsuv"] is not None and one[0]["diagnostics"] is not None
    assert one[0]["fp_warnings"]  # the exploding members' overflow is counted
    for jobs in (2, 3):
        assert results[jobs]["machine"]["training_threads"] == jobs
        assert dump(results[jobs]["runs"]) == dump(one)  # every float, exactly
        assert dump(results[jobs]["summary"]) == dump(results[1]["summary"])


def test_the_cli_gives_the_same_results_json_at_jobs_1_and_2(tmp_path):
    spec = tmp_path / "spec.toml"
    runs = "".join(f'[[runs]]\nname = "{n}"\ninit = "{n}"\nseeds = 8\n' for n in ("he", "xavier"))
    spec.write_text(
        '[data]\ntrain = "digits"\ntest_fraction = 0.25\n[model]\nhidden = [5]\n'
        "[training]\niterations = 20\nlearning_rate = 0.5\ndiagnostics = true\n" + runs
    )
    out = {}
    for jobs in (1, 2):
        code = main(["run", str(spec), "--out", str(tmp_path / f"j{jobs}"), "--jobs", str(jobs),
                     "--no-figures", "--quiet"])  # fmt: skip
        assert code == 0
        results = json.loads((tmp_path / f"j{jobs}" / "results.json").read_text())
        assert results["machine"].pop("training_threads") == jobs
        out[jobs] = {k: v for k, v in results.items() if k not in ("created", "seconds")}
    assert len(out[1]["runs"]) == 16
    assert out[1] == out[2]


@pytest.mark.parametrize("command", ["run", "reproduce"])
@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_a_bad_jobs_value_is_one_line_before_anything_runs(command, value, tmp_path, capsys):
    args = [command, *(["spec.toml"] if command == "run" else [])]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--out", str(tmp_path / "out"), "--jobs", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [  # one line: argparse's usage is left to --help
        f"initlab {command}: error: argument --jobs: expected a positive integer, got {value!r}"
        f" (see: initlab {command} --help)"
    ]
    assert not (tmp_path / "out").exists()


def wide_data(n: int, m: int) -> runner.ExperimentData:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, m)) / np.sqrt(n)
    Y = (X[:1] > 0).astype(float)
    return runner.ExperimentData(Dataset(X, Y, "wide", tuple(map(str, range(m)))), None)


def test_the_engine_is_the_whole_populations_even_where_a_chunk_alone_would_take_another():
    """`auto` weighs the sample engine's setup (the Gram matrix) against K: here 8 members
    alone would train on direct and 16 on sample. Both chunks of 8 take sample, with
    the population's reason."""
    n, m, n1, T = 200, 60, 5, 2
    K8, K16 = (engines.choose("auto", n, m, K, n1, T)[0] for K in (8, 16))
    assert (K8, K16) == ("direct", "sample")
    data = wide_data(n, m)
    s = parse({"data": {"train": "digits"}, "model": {"hidden": [n1, 3]},
               "training": {"iterations": T, "seed": 1, "seeds": 16},
               "runs": [{"name": "he", "init": "he"}]})  # fmt: skip
    whole = runner.train_group(list(s.runs), data, s.model, s.training, jobs=1)
    split = runner.train_group(list(s.runs), data, s.model, s.training, jobs=2)
    assert {r["engine"] for r in split} == {"sample"}
    assert {r["engine_reason"] for r in split} == {engines.choose("auto", n, m, 16, n1, T)[1]}
    assert dump(split) == dump(whole)


def spy_on_train(monkeypatch, before=None, tick=None):
    """Replace runner.train by a wrapper that notes each call's thread and members and
    calls `before(K, lr0)` first and `tick(K, lr0, i)` after each step."""
    calls = []
    real = runner.train

    def wrapper(net, *a, progress=None, learning_rate, **kw):
        K, lr0 = net.K, learning_rate[0]
        calls.append((threading.current_thread().name, K))
        if before is not None:
            before(K, lr0)

        def step(i):
            if tick is not None:
                tick(K, lr0, i)
            if progress is not None:
                progress(i)

        return real(net, *a, progress=step, learning_rate=learning_rate, **kw)

    monkeypatch.setattr(runner, "train", wrapper)
    return calls


def small(K: int, T: int = 10, lrs=(0.1,)) -> tuple:
    runs = [{"name": f"he{j}", "init": "he", "learning_rate": lr, "seeds": K // len(lrs)}
            for j, lr in enumerate(lrs)]  # fmt: skip
    s = parse({"data": {"train": "digits"}, "model": {"hidden": [4]},
               "training": {"iterations": T, "twins": 0}, "runs": runs})  # fmt: skip
    return list(s.runs), wide_data(30, 40), s.model, s.training  # K members, no shadow twins


def test_chunks_are_contiguous_and_small_populations_stay_in_the_calling_thread(monkeypatch):
    for K in range(1, 60):
        for jobs in (1, 2, 3, 8):
            parts = threads.split(K, jobs)
            assert [k for p in parts for k in p] == list(range(K))
            assert len(parts) == (1 if K < 2 * threads.MIN_CHUNK else min(jobs, K // 8))
            assert len(parts) == 1 or min(map(len, parts)) >= threads.MIN_CHUNK
    calls = spy_on_train(monkeypatch)
    runner.train_group(*small(15), jobs=None)
    assert calls == [(threading.current_thread().name, 15)]


def test_progress_is_every_step_in_order_once_every_chunk_has_made_it(monkeypatch):
    T, reached, seen = 40, {0.1: -1, 0.2: -1, 0.3: -1}, []
    spy_on_train(monkeypatch, tick=lambda K, lr0, i: reached.__setitem__(lr0, i))
    report = lambda i: seen.append((i, min(reached.values())))  # noqa: E731
    runner.train_group(*small(24, T, lrs=(0.1, 0.2, 0.3)), progress=report, jobs=3)
    assert [i for i, _ in seen] == list(range(T))
    assert all(slowest >= i for i, slowest in seen)  # every chunk had finished step i
    calls = []
    runner.run(parse({"data": {"train": "digits"}, "model": {"hidden": [3]},
                      "training": {"iterations": T, "seeds": 16},
                      "runs": [{"name": "he", "init": "he"}]}),
               progress=lambda done, total: calls.append((done, total)), jobs=2)  # fmt: skip
    assert calls == [(i, T) for i in range(10, T + 1, 10)]


def test_a_failing_chunk_raises_and_stops_the_others_at_their_next_step(monkeypatch):
    T, reached = 4000, {}

    def before(K, lr0):
        if lr0 == 0.3:
            raise ZeroDivisionError("chunk 2 fails")

    calls = spy_on_train(monkeypatch, before, lambda K, lr0, i: reached.__setitem__(lr0, i))
    with pytest.raises(ZeroDivisionError, match="chunk 2 fails"):
        runner.train_group(*small(16, T, lrs=(0.1, 0.3)), jobs=2)
    assert len(calls) <= 2 and reached.get(0.1, -1) < T - 1  # stopped, not trained to the end


def test_every_chunk_runs_blas_on_one_thread_whatever_the_others_do(
    monkeypatch, default_blas_threads
):
    """The BLAS limit is process-global. Chunk 0 enters train (and its own limit), then
    chunk 1, then chunk 0 returns while chunk 1 is mid-run: chunk 1 must still be on one
    BLAS thread (without the caller's limit set before the threads start, chunk 0's exit
    would restore the process's default under it)."""
    if default_blas_threads == 1:
        pytest.skip("BLAS defaults to one thread here: a restored default is not visible")
    entered, returned, counts = threading.Event(), threading.Event(), []

    def before(K, lr0):
        if lr0 == 0.3:
            assert entered.wait(30)

    def tick(K, lr0, i):
        if lr0 == 0.1 and i == 0:
            entered.set()
        if lr0 == 0.3 and i == 0:
            assert returned.wait(30)
        if lr0 == 0.3 and i == 1:
            counts.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})

    spy_on_train(monkeypatch, before, tick)
    real = threads.map_chunks

    def chunk0_signals(train, parts, progress=None):
        def signalling(part, prog):
            out = train(part, prog)
            if part.start == 0:
                returned.set()
            return out

        return real(signalling, parts, progress)

    monkeypatch.setattr(threads, "map_chunks", chunk0_signals)
    runner.train_group(*small(16, 3, lrs=(0.1, 0.3)), jobs=2)
    assert counts == [{1}]


def test_sweep_workers_train_their_populations_in_their_own_thread(tmp_path, monkeypatch):
    from initlab.execution import sweep
    from initlab.specs import sweep_spec

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8))
    np.savez(tmp_path / "toy.npz", X=X, y=(X[:, 0] > 0).astype(np.int64))
    s = sweep_spec.parse({"data": {"train": "toy.npz"}, "model": {"hidden": [3]},
                          "training": {"iterations": 5}, "sweep": {"max_population": 32},
                          "axes": {"init": ["he"], "seeds": 16}}, base=tmp_path)  # fmt: skip
    calls = spy_on_train(monkeypatch)
    with sweep.prepare(s, tmp_path / "out") as plan:
        sweep.execute(plan, jobs=1)
    assert calls == [(threading.current_thread().name, 16)]


def test_chunks_share_the_diagnostics_column_sample_on_wide_data():
    """On more than 1024 features the sample engine reads W_1's rows on a cached column
    sample, known by identity; chunks that each drew their own on a cache miss at once
    could not record diagnostics (W_1(0) is not kept). The records equal one thread's."""
    rng = np.random.default_rng(1)
    n, m = 60000, 20
    X = rng.standard_normal((n, m)) / np.sqrt(n)
    data = runner.ExperimentData(Dataset(X, (X[:1] > 0) * 1.0, "w", tuple(map(str, range(m)))),
                                 None)  # fmt: skip
    s = parse({"data": {"train": "digits"}, "model": {"hidden": [3]},
               "training": {"iterations": 2, "seeds": 16, "engine": "sample",
                            "diagnostics": True},
               "runs": [{"name": "he", "init": "he"}]})  # fmt: skip
    out = []
    for jobs in (2, 1):
        engines.diagnostic_columns.cache_clear()
        out.append(dump(runner.train_group(list(s.runs), data, s.model, s.training, jobs=jobs)))
    assert out[0] == out[1]


def test_ctrl_c_stops_every_chunk_and_reaches_the_caller(monkeypatch):
    import signal

    T, reached, main_thread = 100000, {}, threading.main_thread().ident

    def tick(K, lr0, i):
        reached[lr0] = i
        if lr0 == 0.3 and i == 20:
            signal.pthread_kill(main_thread, signal.SIGINT)  # as Ctrl-C: to the main thread

    spy_on_train(monkeypatch, tick=tick)
    with pytest.raises(KeyboardInterrupt):
        runner.train_group(*small(16, T, lrs=(0.1, 0.3)), jobs=2)
    assert all(i < T - 1 for i in reached.values())  # both stopped at their next step
    assert not any(t.name.startswith("initlab-chunk") for t in threading.enumerate())


def test_the_memory_check_counts_one_gram_matrix_per_chunk_in_flight(monkeypatch):
    from initlab._validation import InitlabError
    from initlab.execution import budget

    _, data, _, training = small(16)
    training = training.with_engine("sample")
    sizes, m = [30, 4, 1], data.train.n_examples
    kw = dict(m=m, steps=10, engine="sample")
    one = budget.estimate_bytes(sizes, 16, **kw)
    assert budget.estimate_bytes(sizes, 16, populations=2, **kw) == one + 8 * m * m
    monkeypatch.setattr(budget, "available_bytes", lambda: one + 8 * m * m - 1)
    runner.check_memory(16, sizes, data, training)  # one population fits
    with pytest.raises(InitlabError, match="population of 16 networks"):
        runner.check_memory(16, sizes, data, training, chunks=2)  # two at once do not


def test_fewer_chunks_when_more_would_not_fit(monkeypatch):
    """A population that fits as one chunk is never refused for the threads' sake: the
    chunks fall back to as many as memory holds (one Gram matrix each in flight)."""
    from initlab._validation import InitlabError
    from initlab.execution import budget

    _, data, _, training = small(16)
    training = training.with_engine("sample")
    sizes, m = [30, 4, 1], data.train.n_examples
    one = budget.estimate_bytes(sizes, 16, m=m, steps=10, engine="sample")
    for avail, expect in ((one + 8 * m * m, 2), (one + 8 * m * m - 1, 1)):
        monkeypatch.setattr(budget, "available_bytes", lambda a=avail: a)
        parts = runner.fitting_parts(16, sizes, data, training, jobs=2)
        assert len(parts) == expect and [i for p in parts for i in p] == list(range(16))
    monkeypatch.setattr(budget, "available_bytes", lambda: one - 1)
    with pytest.raises(InitlabError, match="population of 16 networks"):
        runner.fitting_parts(16, sizes, data, training, jobs=2)


def test_divergence_bookkeeping_raises_no_floating_point_event():
    """bound * J0 overflows for a member whose first cost is above ~1.8e305; the fused path
    runs that comparison only when some member of the same chunk fails its limit, so if it
    counted as an overflow, warning_steps would depend on the split."""
    from initlab import init_population
    from initlab.nn.training import train

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10, 40)), rng.standard_normal((1, 40))
    lrs = np.array([1e-300] + [0.01] * 14 + [100.0])  # member 15 diverges at step 1

    def go(idx):
        pop = init_population([10, 4, 1], [("he", s) for s in idx], head="linear")
        if 0 in idx:
            pop.biases[-1][idx.index(0)] = 1.5e153  # cost ~1e306, finite
        return train(pop, X, Y, learning_rate=lrs[idx], iterations=12, head="linear",
                     engine="direct")[1]  # fmt: skip

    whole, a, b = go(list(range(16))), go(list(range(8))), go(list(range(8, 16)))
    assert whole.diverged_at[15] == 1 and np.isfinite(whole.costs[0]).all()
    merged = {k: sorted(set(a.warning_steps.get(k, [])) | set(b.warning_steps.get(k, [])))
              for k in {*a.warning_steps, *b.warning_steps}}  # fmt: skip
    assert {k: sorted(v) for k, v in whole.warning_steps.items()} == merged
