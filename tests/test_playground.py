"""initlab playground: every endpoint, bad inputs included, the caps, the Host check, the
streamed training and its cancellation, and the command itself."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from starlette.testclient import TestClient

from initlab.data import load_npz
from initlab.playground import datasets, live, server, settings
from initlab.playground.server import create_app

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url=BASE) as c:
        yield c


def events(client, query: str) -> list[dict]:
    """Every server-sent event of one training, in order."""
    out = []
    with client.stream("GET", "/api/train?" + query) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                out.append(json.loads(line[6:]))
    return out


# ------------------------------------------------------------------ page, static, host


def test_page_and_assets_are_served_with_the_vendored_chart_library(client):
    page = client.get("/")
    assert page.status_code == 200 and "initlab playground" in page.text
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(src).status_code == 200, src
    # the vendored files are the ones VENDORED.md records
    notes = (server.STATIC / "vendor" / "VENDORED.md").read_text()
    for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", notes, re.M):
        body = client.get(f"/static/vendor/{name}").content
        assert hashlib.sha256(body).hexdigest() == digest, name
    assert "uPlot.iife.min.js" in page.text and "http" not in page.text.split("<body>")[1]


@pytest.mark.parametrize("host,ok", [
    ("127.0.0.1:8000", True), ("localhost:5000", True), ("[::1]:80", True), ("localhost", True),
    ("evil.example:8000", False), ("127.0.0.1.evil.example", False), ("", False),
    ("192.168.1.20:8000", False),
])  # fmt: skip
def test_requests_with_a_non_local_host_are_refused(client, host, ok):
    assert server.is_local(host) is ok
    r = client.get("/api/meta", headers={"host": host})
    assert r.status_code == (200 if ok else 403)
    if not ok:
        assert "127.0.0.1" in r.json()["error"]


def test_meta_lists_the_catalogue_activations_and_defaults(client):
    meta = client.get("/api/meta").json()
    names = {s["name"] for s in meta["inits"]}
    assert {"he", "xavier", "zeros", "random", "orthogonal"} <= names
    assert meta["activations"] == ["tanh", "sigmoid", "relu", "leaky_relu", "linear", "erf"]
    assert "gaussian" in meta["inputs"] and "moons" in meta["inputs"]
    assert meta["views"]["explorer"]["inits"] == "zeros;random(scale=10);he;xavier"


# ------------------------------------------------------------------ explorer


def test_explorer_measures_the_post_four_and_the_theory_beside_them(client):
    r = client.get("/api/explore")
    assert r.status_code == 200
    out = r.json()
    runs = {run["name"]: run for run in out["runs"]}
    assert list(runs) == ["zeros", "random(scale=10)", "he", "xavier"]
    assert out["layer_sizes"] == [100, 100, 100, 100, 100, 100, 1]
    L = 6
    for run in runs.values():
        assert len(run["var_z"]) == len(run["saturated"]) == L
        for kind in ("A", "dZ"):
            assert len(run["histograms"][kind]) == L
            h = run["histograms"][kind][0]
            assert sum(h["counts"]) == 100 * 256  # every unit x example of layer 1
    # zeros: every Z is 0, theory says so; random x 10 saturates tanh; He stays near its q
    assert runs["zeros"]["var_z"] == [0.0] * L
    assert min(runs["random(scale=10)"]["saturated"][:5]) > 0.9
    he = runs["he"]
    assert he["theory"]["available"]
    for measured, q in zip(he["var_z"][:5], he["theory"]["q"][:5], strict=True):
        assert abs(measured - q) < 0.15 * q  # 100 units x 256 examples: a few % apart
    assert max(he["saturated"][:5]) < 0.1


def test_changing_the_initialization_changes_the_histograms(client):
    a = client.get("/api/explore?inits=he").json()["runs"][0]["histograms"]["A"][2]
    b = client.get("/api/explore?inits=random(scale=10)").json()["runs"][0]["histograms"]["A"][2]
    assert a["counts"] != b["counts"] and a["edges"] != b["edges"]


@pytest.mark.parametrize("query,needle", [
    ("depth=abc", "depth must be a number"),
    ("width=0", "width must be >= 1"),
    ("width=5000", "width must be <= 1024"),
    ("inits=hee", "inits[0]: unknown initializer 'hee'"),
    ("inits=random(scale=-1)", "inits[0]: scale must be > 0"),
    ("inits=he(", "is not name or name(key=value"),
    ("inits=;;", "give at least one initialization"),
    ("activation=softplus", "activation must be one of"),
    ("input=mnist", "input must be one of"),
    ("frobnicate=1", "unknown parameter 'frobnicate'"),
    ("width=1000&depth=20&inits=he;xavier;zeros;ones", "multiply-adds"),
    ("examples=100000", "examples must be <= 2000"),
    ("inits=random(scale=10, scale=2)", "inits[0]: scale is given twice"),
])  # fmt: skip
def test_bad_parameters_get_one_message_and_the_server_keeps_serving(client, query, needle):
    r = client.get("/api/explore?" + query)
    assert r.status_code == 400
    message = r.json()["error"]
    assert needle in message and "\n" not in message
    assert client.get("/api/explore?inits=he&depth=2&width=10").status_code == 200


def test_the_caps_bound_width_depth_and_members():
    with pytest.raises(settings.InitlabError, match="hidden units"):
        settings.parse({"view": "training", "inits": ";".join(["he"] * 16), "seeds": "4",
                        "width": "1000", "depth": "20", "iterations": "1"})  # fmt: skip
    with pytest.raises(settings.InitlabError, match="at most 64"):
        settings.parse({"view": "training", "inits": "he;xavier", "seeds": "40"})


# ------------------------------------------------------------------ theory


def test_phase_diagram_and_point_hold_to_closed_forms(client):
    ph = client.get("/api/phase?activation=relu").json()
    w2 = np.array(ph["sigma_w2"])
    ln_chi = np.array(ph["ln_chi"], dtype=float)
    # ReLU: chi_1 = sigma_w^2 E[phi'(z)^2] = sigma_w^2 / 2 whatever sigma_b^2
    np.testing.assert_allclose(ln_chi, np.log(w2 / 2)[None, :].repeat(len(ph["sigma_b2"]), 0),
                               atol=1e-9)  # fmt: skip
    assert all(abs(w - 2.0) < 1e-9 for w, _ in ph["critical"])
    p = client.get("/api/point?activation=relu&sw2=3&sb2=0.1").json()
    assert p["chi_1"] == pytest.approx(1.5, abs=1e-9) and p["phase"] == "chaotic"
    assert p["distance"] == pytest.approx(1.0, abs=1e-9)
    tanh = client.get("/api/point?activation=tanh&sw2=1&sb2=0").json()
    assert tanh["critical_sigma_w2"] == pytest.approx(1.0, abs=1e-6)
    c_out = dict(zip(tanh["c"], tanh["c_out"], strict=True))
    assert c_out[1.0] == pytest.approx(1.0, abs=1e-9) and c_out[0.0] == pytest.approx(0, abs=1e-12)
    r = client.get("/api/point?activation=tanh&sw2=-1")
    assert r.status_code == 400 and "sw2 must be > 0" in r.json()["error"]


# ------------------------------------------------------------------ spec and data file


@pytest.mark.parametrize("view", ["explorer", "training", "theory"])
def test_spec_is_toml_the_cli_accepts(client, view):
    import tomllib

    from initlab.specs import spec as spec_mod

    text = client.get(f"/api/spec?view={view}").text
    raw = tomllib.loads(text)
    raw["data"]["train"] = "digits"  # generated data: the file is written beside the spec
    parsed = spec_mod.parse(raw)
    assert parsed.runs and text.startswith("# initlab playground")
    assert "view must be one of" in client.get("/api/spec?view=nope").json()["error"]
    bad = client.get(f"/api/spec?view={view}&activation=foo")
    assert bad.status_code == 400 and "activation" in bad.json()["error"]


def test_data_file_is_the_generated_set_and_named_sets_are_refused(client, tmp_path):
    r = client.get("/api/data.npz?view=training&input=spirals&examples=64&noise=0.1&data_seed=3")
    assert r.status_code == 200
    path = tmp_path / "s.npz"
    path.write_bytes(r.content)
    ds = load_npz(path)
    ref = datasets.generate("spirals", 64, 0.1, 3)
    np.testing.assert_array_equal(ds.X, ref.X)
    np.testing.assert_array_equal(ds.Y, ref.Y)
    assert ds.class_counts() == [32, 32]
    r = client.get("/api/data.npz?view=training&input=digits")
    assert r.status_code == 400 and "named data set" in r.json()["error"]


def test_toys_are_a_function_of_their_seed():
    a, b = datasets.generate("moons", 50, 0.2, 7), datasets.generate("moons", 50, 0.2, 7)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, datasets.generate("moons", 50, 0.2, 8).X)
    for kind in settings.TOYS:
        ds = datasets.generate(kind, 40, 0.0, 0)
        assert ds.X.shape == (2, 40) and set(np.unique(ds.Y)) == {0.0, 1.0}
    spiral = datasets.generate("spirals", 200, 0.0, 0)
    r = np.hypot(*spiral.X)
    assert r.max() <= 1.0 + 1e-12  # r = t in [0, 1) without noise


def test_toml_writer_round_trips():
    import tomllib

    s = settings.parse(
        {"view": "training", "inits": "he;variance_scaling(scale=0.1, mode=fan_out)"}
    )
    raw = settings.spec_dict(s, "x.npz")
    assert tomllib.loads(settings.to_toml(raw, "a\nb")) == {
        k: {kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v
        for k, v in raw.items()
    }
    assert s.query["inits"] == (
        'he;variance_scaling(scale=0.1, mode="fan_out", distribution="truncated_normal")'
    )  # defaults filled in
    assert settings.parse({"view": "training", "inits": s.query["inits"]}).values["inits"] == \
        s.values["inits"]  # fmt: skip


# ------------------------------------------------------------------ training


def test_training_streams_costs_then_results(client):
    evs = events(client, "iterations=300&seeds=2&inits=zeros;he&examples=100")
    kinds = [e["type"] for e in evs]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("costs") >= 1
    start, done = evs[0], evs[-1]
    assert [m["name"] for m in start["members"]] == ["zeros", "zeros", "he", "he"]
    assert [m["seed"] for m in start["members"]] == [1, 2, 1, 2]
    streamed = [it for e in evs if e["type"] == "costs" for it in e["iterations"]]
    assert streamed == list(range(0, 300, start["stride"]))
    # the streamed costs are the history's
    costs = {it: c for e in evs if e["type"] == "costs" for it, c in zip(e["iterations"], e["costs"],
                                                                          strict=True)}  # fmt: skip
    for k, m in enumerate(done["members"]):
        for it, c in zip(done["iterations"], m["cost"], strict=True):
            if it in costs:
                assert costs[it][k] == c
    zeros = done["summary"][0]
    assert zeros["name"] == "zeros" and zeros["train_accuracy"]["mean"] == 0.5
    assert done["summary"][1]["train_accuracy"]["mean"] > 0.8
    assert done["boundaries"]["n"] == live.GRID and len(done["boundaries"]["p"]) == 2


def test_bad_training_settings_are_refused_before_any_training(client):
    for query, needle in [
        ("input=gaussian", "training needs labelled data"),
        ("lr=0", "lr must be > 0"),
        ("iterations=1e9", "iterations must be <="),
    ]:
        r = client.get("/api/train?" + query)
        assert r.status_code == 400 and needle in r.json()["error"]


def test_several_tabs_train_at_once(client):
    """Two trainings stream side by side (each in its own worker thread) and both finish."""
    results: dict[str, list] = {}

    def tab(name: str, query: str) -> None:
        results[name] = events(client, query)

    tabs = [threading.Thread(target=tab, args=(n, q)) for n, q in
            [("a", "iterations=400&input=circles"), ("b", "iterations=300&inits=he")]]  # fmt: skip
    for t in tabs:
        t.start()
    for t in tabs:
        t.join(60)
    assert results["a"][-1]["type"] == results["b"][-1]["type"] == "done"
    assert len(results["a"][-1]["members"]) == 4 and len(results["b"][-1]["members"]) == 1


def test_a_busy_server_says_so(monkeypatch):
    monkeypatch.setattr(server, "TRAININGS", 0)
    with TestClient(create_app(), base_url=BASE) as c:
        r = c.get("/api/train?iterations=5")
        assert r.status_code == 503 and "already training" in r.json()["error"]


def test_cancel_stops_the_loop_and_sends_no_results():
    job = live.prepare(settings.parse({"view": "training", "iterations": "20000"}))
    got, calls = [], []

    def cancelled():
        calls.append(1)
        return len(calls) > 50

    t = time.perf_counter()
    live.train(job, got.append, cancelled)
    assert time.perf_counter() - t < 5
    kinds = [e["type"] for e in got]
    assert kinds[-1] == "cancelled" and "done" not in kinds and len(calls) == 51


def test_closing_the_stream_cancels_the_training(monkeypatch):
    monkeypatch.setattr(server, "TRAININGS", 1)
    names = lambda: {t.name for t in threading.enumerate()}  # noqa: E731
    with TestClient(create_app(), base_url=BASE) as c:
        with c.stream("GET", "/api/train?iterations=20000&width=32") as r:
            for line in r.iter_lines():
                if line.startswith("event: costs"):
                    break  # the page changed a setting: it drops the connection
        deadline = time.time() + 5  # the whole training would take minutes
        while "initlab-playground-train" in names() and time.time() < deadline:
            time.sleep(0.05)
        assert "initlab-playground-train" not in names()
        # its slot is free again: the one training allowed can start
        assert events(c, "iterations=20")[-1]["type"] == "done"


def test_replica_zero_is_the_seed_run_and_replicas_spread_by_rounding_only():
    base = {"view": "training", "inits": "he", "iterations": "200"}
    one = []
    live.train(live.prepare(settings.parse(base)), one.append, lambda: False)
    reps = []
    live.train(live.prepare(settings.parse({**base, "mode": "replicas", "seeds": "3"})),
               reps.append, lambda: False)  # fmt: skip
    m0, ms = one[-1]["members"][0], reps[-1]["members"]
    assert [m["replicate"] for m in ms] == [0, 1, 2] and {m["seed"] for m in ms} == {1}
    assert ms[0]["cost"] == m0["cost"]  # replica 0 is unperturbed: the same bits
    first = [np.asarray(m["cost"]) for m in ms]
    assert not np.array_equal(first[0], first[1])  # perturbed ...
    np.testing.assert_allclose(first[1][:5], first[0][:5], rtol=1e-9)  # ... by ~1e-12


# ------------------------------------------------------------------ the command


def test_command_prints_a_clear_error_without_the_extra(monkeypatch, capsys):
    from initlab.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["playground", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install starlette uvicorn" in err
    assert main(["playground", "--port", "70000", "--no-browser"]) == 2
    assert "--port must be <= 65535" in capsys.readouterr().err


def test_command_serves_the_page_on_localhost():
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "initlab", "playground", "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url + "api/meta", timeout=20) as r:
            assert json.load(r)["post_inits"] == settings.POST_INITS
        with urllib.request.urlopen(url, timeout=20) as r:
            assert b"initlab playground" in r.read()
    finally:
        proc.terminate()
        proc.wait(10)


def test_npz_bytes_load_back():
    ds = datasets.generate("gaussian", 30, 0.0, 1, n0=7)
    with np.load(io.BytesIO(datasets.npz_bytes(ds))) as z:
        assert z["X"].shape == (30, 7) and z["y"].dtype == np.int64


def test_a_client_gone_before_the_first_event_gives_its_training_slot_back(monkeypatch):
    """The connection closes before the stream's first byte (the page changed a setting at
    once): the training never starts, and its slot must not stay taken."""
    import anyio

    monkeypatch.setattr(server, "TRAININGS", 1)
    app = create_app()

    async def request(disconnect_at_once: bool) -> list[dict]:
        sent = []

        async def receive():
            if disconnect_at_once:
                return {"type": "http.disconnect"}
            await anyio.sleep(60)

        async def send(message):
            sent.append(message)
            if disconnect_at_once:
                await anyio.sleep(0)  # a checkpoint: the cancellation lands before the stream

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
                 "http_version": "1.1", "method": "GET", "scheme": "http", "path": "/api/train",
                 "raw_path": b"/api/train", "query_string": b"iterations=20", "root_path": "",
                 "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 1),
                 "server": ("127.0.0.1", 8000)}  # fmt: skip
        with anyio.fail_after(30):
            await app(scope, receive, send)
        return sent

    anyio.run(request, True)
    sent = anyio.run(request, False)
    assert sent[0]["status"] == 200, sent
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b"event: done" in body


def test_the_data_file_is_generated_off_the_event_loop(monkeypatch):
    """Writing the largest Gaussian input (2000 x 1024, 16 MB) takes a noticeable time: it
    must run in a worker thread, not on the loop that serves every other tab."""
    import asyncio

    seen = []
    real = datasets.npz_bytes

    def spy(ds):
        try:
            asyncio.get_running_loop()
            seen.append("event loop")
        except RuntimeError:
            seen.append("worker")
        return real(ds)

    monkeypatch.setattr(datasets, "npz_bytes", spy)
    with TestClient(create_app(), base_url=BASE) as c:
        assert c.get("/api/data.npz?view=training&input=moons&examples=16").status_code == 200
    assert seen == ["worker"]
