"""How chaotic are the post's four runs? Each trained with its shadow twins.

Trains the post's experiment (its network and settings, legacy seed 1) with N replicas per
initialization: the run and N - 1 shadow twins whose weights are multiplied by
(1 + 1e-12 u), u ~ U(-1, 1) elementwise (initlab.analysis.chaos), all as one population on
the sample-space engine, and prints for each initialization:

- the iteration at which each twin's cost parts from the run's by more than 1e-6
  (relative; median and range over the twins), or that none did;
- the distribution of the final training accuracy over the replicas: median, central 95%,
  the fraction reaching 90% (initlab reproduce's verdict: most do), and the fraction
  reaching the post's 99% with its 95% (Clopper-Pearson) interval.

Usage:  python examples/chaos.py [DATA] [--replicas 64]
(DATA defaults to the fetched cats-vs-dogs images.)
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from initlab.execution import runner
from initlab.specs import spec
from initlab.studies import post


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="cats-vs-dogs")
    parser.add_argument("--replicas", type=int, default=64)
    args = parser.parse_args()
    s = spec.parse(post.post_spec(args.data, replicas=args.replicas))
    s.training = dataclasses.replace(s.training, diagnostics=False)
    results = runner.run(s)
    verdicts = {v.name: v for v in post.verdicts(results)}
    for rec in results["runs"]:
        v, parted = verdicts[rec["name"]], [p for p in rec["twins"]["parted_at"] if p is not None]
        apart = (
            f"twins part at iteration {np.median(parted):.0f} (median; {min(parted)}.."
            f"{max(parted)}), {len(parted)} of {rec['twins']['n']}"
            if parted else "no twin parts"
        )  # fmt: skip
        print(
            f"{rec['name']}: {apart}; accuracy median {100 * v.median:.0f}%, 95% of replicas "
            f"in [{100 * v.low:.0f}, {100 * v.high:.0f}]%, >= 90% in {100 * v.trained:.0f}%, "
            f">= 99% in {100 * v.reached:.0f}% [{100 * v.reached_low:.0f}, "
            f"{100 * v.reached_high:.0f}] of {v.n}"
        )


if __name__ == "__main__":
    main()
