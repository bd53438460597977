r"""The post's experiment, its published numbers, and verdicts that hold on every machine.

The post (Imad Dabbura, *Coding Neural Network — Parameters' Initialization*) trains
``[n_x, 5, 5, 1]`` with tanh hidden layers and a sigmoid output, learning rate 0.01, 1000
iterations of full-batch gradient descent, the legacy stream with seed 1, under four
initializations: zeros, random x 10, He and Xavier. Zeros and random x 10 are not chaotic:
their costs are deterministic to about 11 digits on any machine. He and Xavier are chaotic
at this learning rate (:mod:`initlab.analysis.chaos`): their digits, and even their final
accuracy, depend on the rounding of the machine.

So the verdict is read from a distribution: each run is trained with its shadow twins
(``training.twins = replicas - 1``), and over these replicas (the run and its twins, every
seed) :func:`verdicts` gives the median and the central 95% of the final training
accuracy, the fraction reaching the post's 99% (:data:`TRAINS`) with its Clopper-Pearson 95%
interval, and the verdict: an initialization *trains* when most replicas reach
:data:`VERDICT_AT` = 90%, *does not train* otherwise. The verdict's threshold is not the
post's 99% because that one is itself a coin toss: over 64 replicas on the post's images
(``examples/chaos.py``), He reached 99% in 86% of them and Xavier in 94%, while 98% and
97% reached 90%; zeros and random x 10 stay at 50% and 55% in every replica. So the verdicts
do not move with a rounding change, and their wording (:attr:`Verdict.line`) holds no
measured number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab.analysis.stats import binomial_interval

POST_RUNS = [
    {"name": "zeros", "init": "zeros"},
    {"name": "random", "init": {"name": "random", "scale": 10}},
    {"name": "he", "init": "he"},
    {"name": "xavier", "init": "xavier"},
]
POST_COSTS = {
    "zeros": [0.6931471805599453] * 10,
    "random": [
        1.2413142077549013, 1.1258751902393416, 1.0989052435267657, 1.0840966471282327,
        1.0706953292105978, 1.0574847320236294, 1.0443168708889223, 1.031157857251139,
        1.0179838815204902, 1.004767088515343,
    ],
}  # fmt: skip
"""The costs the post printed after 100, 200, ..., 1000 iterations (deterministic runs)."""
POST_ACCURACY = {"zeros": 0.50, "random": 0.55, "he": 0.99, "xavier": 0.99}
"""The training accuracy the post printed for each initialization."""
TRAINS = 0.99
"""The training accuracy the post's He and Xavier reached: the table's fraction column."""
VERDICT_AT = 0.90
"""An initialization *trains* when most of its replicas reach this training accuracy."""
REPLICAS = 16
"""Default replicas per run in ``initlab reproduce`` (the run and 15 twins)."""


def post_spec(
    train: str, *, engine: str = "auto", seeds: int = 1, replicas: int = 1
) -> dict[str, Any]:
    """The post's experiment as a spec (:mod:`initlab.specs.spec`), each run with
    ``replicas - 1`` shadow twins."""
    return {
        "data": {"train": train},
        "model": {"hidden": [5, 5], "activation": "tanh"},
        "training": {
            "learning_rate": 0.01,
            "iterations": 1000,
            "seed": 1,
            "seeds": seeds,
            "stream": "legacy",
            "engine": engine,
            "twins": replicas - 1,
        },
        "runs": POST_RUNS,
    }


@dataclass(frozen=True)
class Verdict:
    """One initialization's outcome over its replicas (fractions, not percents)."""

    name: str
    n: int
    median: float
    low: float
    high: float
    reached: float
    reached_low: float
    reached_high: float
    published: float | None
    trained: float

    @property
    def trains(self) -> bool:
        """Whether most replicas reach :data:`VERDICT_AT`."""
        return self.trained > 0.5

    @property
    def line(self) -> str:
        """The verdict in words: no measured number, so it reads alike on every machine."""
        post = "" if self.published is None else f" (the post: {100 * self.published:.0f}%)"
        at = f"{100 * VERDICT_AT:.0f}%"
        if self.trains:
            return f"{self.name} trains: most replicas reach >= {at}{post}"
        return f"{self.name} does not train: most replicas stay below {at}{post}"


def replica_accuracies(results: dict[str, Any]) -> dict[str, list[float]]:
    """Per run name, the final training accuracy of every replica (each seed's run and
    its twins); a diverged replica counts as 0."""
    out: dict[str, list[float]] = {}
    for rec in results["runs"]:
        twins = rec.get("twins") or {"final_accuracy": []}
        accs = [rec["train_accuracy"], *twins["final_accuracy"]]
        out.setdefault(rec["name"], []).extend(0.0 if a is None else float(a) for a in accs)
    return out


def verdicts(results: dict[str, Any], published: dict[str, float] | None = None) -> list[Verdict]:
    """A :class:`Verdict` per run name of `results` (the post's numbers by default)."""
    published = POST_ACCURACY if published is None else published
    out = []
    for name, accs in replica_accuracies(results).items():
        a = np.asarray(accs)
        k = int(np.sum(a >= TRAINS - 1e-12))
        low, median, high = np.quantile(a, [0.025, 0.5, 0.975])
        out.append(Verdict(name, a.size, float(median), float(low), float(high), k / a.size,
                           *binomial_interval(k, a.size), published.get(name),
                           float(np.mean(a >= VERDICT_AT - 1e-12))))  # fmt: skip
    return out


def chaotic_notes(results: dict[str, Any]) -> list[str]:
    """One line per chaotic run (first seed): where its twins parted from it, and what its
    accuracy is: one draw of the distribution over its replicas."""
    by_name = {v.name: v for v in verdicts(results)}
    notes = []
    for rec in results["runs"]:
        tw = rec.get("twins")
        if rec["replicate"] != 0 or not rec.get("chaotic") or not tw:
            continue
        parted = [p for p in tw["parted_at"] if p is not None]
        v, acc = by_name[rec["name"]], rec["train_accuracy"]
        this = "-" if acc is None else f"{100 * acc:.0f}%"
        notes.append(
            f"{rec['name']}: chaotic at lr {rec['learning_rate']:g} (its twins parted from it "
            f"at iteration {int(np.median(parted))}, median of {len(parted)}); this run's "
            f"{this} is one draw of a distribution: over {v.n} replicas {rec['name']} "
            f"reaches >= {100 * TRAINS:.0f}% in {100 * v.reached:.0f}% "
            f"[{100 * v.reached_low:.0f}, {100 * v.reached_high:.0f}]"
        )
    return notes
