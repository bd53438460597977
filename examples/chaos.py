"""How chaotic are the post's He and Xavier runs? A population of perturbed replicas.

Trains N replicas of each init (the post's network and settings, legacy seed 1) whose
first-layer weights are multiplied by (1 + eps * z), z ~ N(0, 1) elementwise (replica 0 is
unperturbed), all as one population with the sample-space engine, and prints:

- the first iteration at which a replica's cost differs from replica 0's by more than 1e-6;
- the distribution of final training accuracy over the replicas.

Usage:  python examples/chaos.py [DATA] [--replicas 128] [--eps 1e-12]
(DATA defaults to the fetched cats-vs-dogs images.)
"""

from __future__ import annotations

import argparse

import numpy as np

import initlab
from initlab import data
from initlab.nn import training as training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="cats-vs-dogs")
    parser.add_argument("--replicas", type=int, default=128)
    parser.add_argument("--eps", type=float, default=1e-12)
    args = parser.parse_args()
    d = data.load(args.data)
    perturb = np.random.default_rng(0)
    for init in ("he", "xavier"):
        pop = initlab.init_population(
            [d.n_features, 5, 5, 1], [(init, 1)] * args.replicas, activation="tanh", stream="legacy"
        )
        W1 = pop.weights[0]
        W1[1:] *= 1 + args.eps * perturb.standard_normal(W1[1:].shape)
        trained, hist = training.train(pop, d.X, d.Y, learning_rate=0.01, iterations=1000)
        acc = trained.accuracy(d.X, d.Y)
        apart = np.abs(hist.costs[1:] - hist.costs[0]) > 1e-6
        first = np.where(apart.any(axis=1), apart.argmax(axis=1), -1)
        q = np.quantile(acc, [0, 0.05, 0.25, 0.5, 0.75, 1])
        print(
            f"{init}: {args.replicas} replicas, eps {args.eps:g}: costs part (>1e-6) at "
            f"iteration {np.median(first[first >= 0]):.0f} (median); accuracy >= 99% in "
            f"{100 * np.mean(acc >= 0.99):.0f}% of replicas; quantiles 0/5/25/50/75/100%: "
            + " ".join(f"{v:.2f}" for v in q)
        )


if __name__ == "__main__":
    main()
