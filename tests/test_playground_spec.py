""" "Copy as spec": the TOML each playground view gives, run by `initlab run`, reproduces the
numbers the view showed (bit for bit where the page and the command run the same code)."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from initlab.cli import main
from initlab.playground.server import create_app


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        yield c


def run_spec(client, query: str, tmp_path) -> dict:
    """Save the view's spec (and its data file, if it names one) and `initlab run` it."""
    text = client.get("/api/spec?" + query).text
    saved = re.search(r"save (\S+) as (\S+) beside this file", text)
    if saved:
        url, name = saved.groups()
        data = client.get(url.removeprefix("http://127.0.0.1:8000"))
        assert data.status_code == 200
        (tmp_path / name).write_bytes(data.content)
    (tmp_path / "spec.toml").write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "spec.toml"), "--out", str(out), "--no-figures", "-q"]) == 0
    return json.loads((out / "results.json").read_text())


def train_events(client, query: str) -> list[dict]:
    with client.stream("GET", "/api/train?" + query) as r:
        assert r.status_code == 200
        return [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]


def test_training_spec_reproduces_the_streamed_run(client, tmp_path):
    query = "view=training&input=circles&examples=120&noise=0.1&data_seed=4&iterations=250" \
            "&seeds=2&inits=zeros;random(scale=10);he;xavier&lr=0.5&width=6&depth=2"  # fmt: skip
    done = train_events(client, query)[-1]
    assert done["type"] == "done"
    results = run_spec(client, query, tmp_path)
    runs = results["runs"]
    assert [(r["name"], r["seed"]) for r in runs] == \
        [(m["name"], m["seed"]) for m in done["members"]]  # fmt: skip
    for rec, m in zip(runs, done["members"], strict=True):
        assert rec["final_cost"] == m["final_cost"]
        assert rec["train_accuracy"] == m["train_accuracy"]
        assert [rec["cost_history"][i] for i in done["iterations"]] == m["cost"]
    by_name = {s["name"]: s for s in results["summary"]}
    for s in done["summary"]:
        assert by_name[s["name"]]["train_accuracy"] == s["train_accuracy"]


def test_explorer_spec_reproduces_the_histograms_and_the_theory(client, tmp_path):
    query = "view=explorer&input=gaussian&width=30&depth=3&examples=64&inits=he;random(scale=10)"
    shown = client.get("/api/explore?" + query.removeprefix("view=explorer&")).json()
    results = run_spec(client, query, tmp_path)
    for rec, run in zip(results["runs"], shown["runs"], strict=True):
        first = rec["diagnostics"]["histograms"]["first"]
        assert first["iteration"] == 0
        assert first["A"] == run["histograms"]["A"] and first["dZ"] == run["histograms"]["dZ"]
        assert [row[0] for row in rec["diagnostics"]["saturated"]] == run["saturated"]
        assert rec["theory"]["q"] == run["theory"]["q"]


def test_theory_spec_reproduces_the_depth_scales(client, tmp_path):
    point = client.get("/api/point?activation=tanh&sw2=1.7&sb2=0").json()
    results = run_spec(client, "view=theory&activation=tanh&sw2=1.7&sb2=0", tmp_path)
    scales = results["runs"][0]["theory"]["depth_scales"]
    for key in ("q_star", "chi_1", "c_star", "chi_c", "xi_c", "xi_q"):
        assert scales[key] == pytest.approx(point[key], rel=1e-12, abs=1e-300), key
