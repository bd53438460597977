"""``initlab sweep``: bad sweep specs refused in one line before any work (issue 21)."""

from __future__ import annotations

import pytest

from bad_input import refused, refused_limited, spec
from initlab.specs import sweep_spec

HEAD = '[data]\ntrain = "digits"\n[training]\niterations = 3\n'

SPECS = [
    ("adam-sample", '[data]\ntrain = "digits"\n[training]\nengine = "sample"\n[axes]\n'
     'init = ["he"]\noptimizer = ["gd", "adam"]\n',
     ["training.engine with axes.optimizer[1]", "adam"]),
    ("decay-pair", '[data]\ntrain = "digits"\n[training]\nweight_decay = 0.0\n[axes]\n'
     'init = ["he"]\noptimizer = [{name = "adamw", weight_decay = 0.2}]\n',
     ["training.weight_decay and axes.optimizer[0].weight_decay", "same setting"]),
    ("decay-axis-pair", HEAD + '[axes]\ninit = ["he"]\nweight_decay = [0.0, 0.1]\n'
     'optimizer = [{name = "adamw", weight_decay = 0.2}]\n',
     ["axes.weight_decay and axes.optimizer[0].weight_decay"]),
    ("grid-by-lengths", HEAD + "[axes]\ninit = [" + ",".join(['"he"'] * 400) + "]\n"
     "learning_rate = [" + ",".join(str(i + 1) for i in range(400)) + "]\n",
     ["axes.learning_rate has 400 values", "max_runs"]),
    ("duplicate", HEAD + '[axes]\ninit = ["he", "he"]\n', ["axes.init lists", "twice"]),
    ("data-empty", '[training]\niterations = 3\n[axes]\ninit = ["he"]\ndata = ["digits", ""]\n',
     ["axes.data[1] is empty"]),
    ("nested", HEAD + "[axes]\ninit = " + "[" * 50 + "]" * 50 + "\n", ["nested more than 32"]),
    ("seed-huge", HEAD + "[axes]\ninit = [\"he\"]\nseed = [1" + "0" * 30 + "]\n", ["64-bit"]),
    ("lr-zero", HEAD + '[axes]\ninit = ["he"]\nlearning_rate = [0.1, 0]\n',
     ["axes.learning_rate[1] must be > 0"]),
    ("width-nan", HEAD + '[axes]\ninit = ["he"]\nwidth = [nan]\n', ["axes.width[0]"]),
    # study specs: the kind is its command's name, each setting checked by name
    ("kind-old", '[study]\nkind = "deep_linear"\n', ["study.kind must be one of", "deep-linear"]),
    ("jacobian-key", '[study]\nkind = "jacobian"\n[jacobian]\nwidht = 3\n',
     ["unknown key 'widht' in [jacobian]"]),
    ("jacobian-law", '[study]\nkind = "jacobian"\n[jacobian]\nweights = ["gausian"]\n',
     ["[jacobian] weights must be some of gaussian, orthogonal", "gausian"]),
    ("jacobian-depths", '[study]\nkind = "jacobian"\n[jacobian]\ndepths = 4\n',
     ["jacobian.depths must be a list"]),
    ("jacobian-width", '[study]\nkind = "jacobian"\n[jacobian]\nwidth = 0\n',
     ["[jacobian] width must be >= 1"]),
    ("jacobian-w2", '[study]\nkind = "jacobian"\n[jacobian]\nsigma_w2 = -1.0\n',
     ["[jacobian] sigma_w2 must be > 0"]),
    ("deep-linear-key", '[study]\nkind = "deep-linear"\n[deep-linear]\nrate = [0.1]\n',
     ["unknown key 'rate' in [deep-linear]"]),
    # review P2: an integer setting that is not one is named, not a TypeError's text
    ("deep-linear-seeds", '[study]\nkind = "deep-linear"\n[deep-linear]\nseeds = 2.5\n',
     ["deep-linear.seeds must be an integer; got 2.5"]),
    ("correlation-members", '[study]\nkind = "correlation"\n[correlation]\nmembers = "8"\n',
     ["correlation.members must be an integer"]),
    ("lr-transfer-examples", '[study]\nkind = "lr-transfer"\n[lr-transfer]\n'
     'n_examples = 2.5\n', ["lr-transfer.n_examples must be an integer; got 2.5"]),
    ("coord-check-depth", '[study]\nkind = "coord-check"\n[coord-check.architecture]\n'
     'depth = 1.5\n', ["coord-check.architecture.depth must be an integer; got 1.5"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "contains"), SPECS, ids=[s[0] for s in SPECS])
def test_spec_refused_in_one_line(name, text, contains, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = spec(tmp_path / "s.toml", text)
    line = refused(["sweep", str(path), "--out", "out"], capsys, tmp_path, *contains)
    assert line.startswith("initlab sweep: error: ")


OPTIONS = [
    (["--out", ""], ["--out is empty"]),
    (["--out", "out", "--jobs", "0"], ["--jobs must be >= 1; got 0"]),
    (["--out", "out", "--jobs", "-1"], ["--jobs must be >= 1"]),
    (["--out", "out", "--max-population", "0"], ["--max-population must be >= 1"]),
    (["--out", "out", "--scheduler", ""], ["--scheduler", "tcp://"]),
    (["--out", "out", "--scheduler", "notaurl"], ["--scheduler 'notaurl'", "HOST:PORT"]),
    (["--out", "out", "--scheduler", "tcp://host:port"], ["--scheduler", "HOST:PORT"]),
]


@pytest.mark.parametrize(("argv", "contains"), OPTIONS, ids=lambda v: " ".join(v)[:40])
def test_bad_options(argv, contains, capsys, tmp_path, monkeypatch):
    """Refused before the store is made (nothing written)."""
    monkeypatch.chdir(tmp_path)
    path = spec(tmp_path / "s.toml", HEAD + '[axes]\ninit = ["he"]\n')
    refused(["sweep", str(path), *argv], capsys, tmp_path, *contains)


def test_a_long_seed_list_is_refused_at_once(tmp_path):
    """100,000 seeds x 2 inits is over max_runs: refused from the lengths alone, in a
    child with a timeout (the per-value duplicate check was quadratic)."""
    seeds = ",".join(map(str, range(100_000)))
    spec(tmp_path / "s.toml", HEAD + f'[axes]\ninit = ["he", "xavier"]\nseed = [{seeds}]\n')
    refused_limited(["sweep", "s.toml", "--out", "out"], tmp_path,
                    "axes.seed has 100,000 values", timeout=60)  # fmt: skip


HUGE_STUDIES = [
    ("deep-linear", "steps = 10000000000", "s.toml: [deep-linear] width = 32, depths up to 64, "
     "steps = 10000000000"),
    ("trainability", "width = 100000", "s.toml: [trainability] width = 100000, depths up to 32"),
    ("correlation", "width = 1000000", "s.toml: [correlation] width = 1000000, depth = 20"),
    ("jacobian", "width = 100000", "s.toml: [jacobian] width = 100000, depths up to 64"),
    ("jacobian", "members = 20000", "depths up to 64, members = 20000"),
    ("correlation", "members = 20000\ndepth = 100", "depth = 100, members = 20000, c0 (5"),
    ("lr-transfer", 'parametrizations = ["sp"]\nsteps = 4000000000',
     "s.toml: [lr-transfer] widths up to 256, steps = 4000000000, architecture.depth = 2 (9 "
     "members"),
    ("coord-check", 'parametrizations = ["sp"]\nsteps = 2000000000',
     "s.toml: [coord-check] widths up to 512, steps = 2000000000"),
    ("kernels", "train_widths = [256, 1000000]",
     "s.toml: [kernels] widths up to 1024 (members = 8), train_widths up to 1000000, steps"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "setting", "what"), HUGE_STUDIES,
                         ids=[h[0] for h in HUGE_STUDIES])  # fmt: skip
def test_a_study_spec_gets_its_commands_limits(kind, setting, what, tmp_path):
    """Review P1: a study spec too large for memory or time is refused as its command
    refuses it, before any store is made (it used to try to allocate 1.5 TiB); the line
    names the spec file and its keys, not the command's options."""
    spec(tmp_path / "s.toml", f'[study]\nkind = "{kind}"\n[{kind}]\n{setting}\n')
    line = refused_limited(["sweep", "s.toml", "--out", "out"], tmp_path, what,
                           "refused before any work")  # fmt: skip
    assert not (tmp_path / "out").exists(), line
    assert "--" not in line.split("refused before any work")[0], line


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("deep-linear", "seeds"),
        ("trainability", "width"),
        ("jacobian", "members"),
        ("coord-check", "steps"),
    ],
)
def test_an_integral_float_setting_is_the_integer(kind, key):
    """Review P2: ``seeds = 2.0`` is 2 (as ``depths = [2.0]`` is [2]): the same spec and
    cells (ids) as ``seeds = 2``, not a TypeError, nor cells that fail in the workers."""
    from initlab.studies import specs

    base = {"parametrizations": ["sp"]} if kind == "coord-check" else {}
    plain = specs.parse({"study": {"kind": kind}, kind: base})
    value = plain.spec[kind][key]
    floated = specs.parse({"study": {"kind": kind}, kind: {**base, key: float(value)}})
    assert floated.spec == plain.spec
    assert type(floated.spec[kind][key]) is int
    assert [c.id for c in floated.cells] == [c.id for c in plain.cells]


def test_a_seed_list_within_max_runs_expands_in_order():
    """A list of seeds allowed by max_runs: each run's replicate is its seed's position
    (looked up in a table, not by a linear search per run)."""
    seeds = [7 * i + 3 for i in range(5_000)]
    raw = {"data": {"train": "digits"}, "axes": {"init": ["he"], "seed": seeds}}
    runs = sweep_spec.parse(raw).runs
    assert [r.run.seed for r in runs] == seeds
    assert [r.run.replicate for r in runs] == list(range(5_000))


def test_explicit_zero_weight_decay_is_kept():
    raw = {"data": {"train": "digits"}, "training": {"optimizer": "adamw", "weight_decay": 0.0},
           "axes": {"init": ["he"]}}  # fmt: skip
    (run,) = sweep_spec.parse(raw).runs
    assert run.config["optimizer"]["weight_decay"] == 0.0
    del raw["training"]["weight_decay"]
    (run,) = sweep_spec.parse(raw).runs
    assert run.config["optimizer"]["weight_decay"] == 0.01


def test_an_oversized_study_names_the_max_population_option_given(tmp_path):
    """With --max-population on the command line the hint names that option, which is
    what sets the cap (it named the spec's [study] max_population, which the option
    overrides); without it, the spec's key."""
    spec(tmp_path / "s.toml", '[study]\nkind = "trainability"\n[trainability]\nwidth = 100000\n')
    line = refused_limited(["sweep", "s.toml", "--out", "out", "--max-population", "4"],
                           tmp_path, "populations of at most 4)", "or a smaller "
                           "--max-population.")  # fmt: skip
    assert "[study] max_population" not in line
    refused_limited(["sweep", "s.toml", "--out", "out"], tmp_path,
                    "or a smaller [study] max_population.")  # fmt: skip
