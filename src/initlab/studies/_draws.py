r"""Draws shared by the populations of a coordinate check
(:func:`initlab.studies.scaling.coord_check`): a width's parametrizations start from one draw
(:func:`initlab.init.draws.draw_weights`), and a population's weight arrays, once it is done,
receive the next one's; every number is the one a population drawing alone gets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from initlab.init import draws as _draws
from initlab.studies import _widths as W

Array = np.ndarray

SHARED_BYTES = 128 * 2**20
"""The most a coordinate check keeps of one width's draws for its next populations (4 seeds
of the default MLP up to width 1024; above it each population draws its own). Kept draws
raise the peak memory by their size, and on a VM whose fresh pages are slow (BENCHMARKS.md,
fifth pass) a copy into fresh pages cost as much as the draw it saved at width 2048."""


class SharedDraws:
    r"""One width's draws for its parametrizations' populations, computed one after the other
    (:func:`~initlab.studies.scaling.coord_check` orders the groups width by width): the
    first to need them draws them and keeps them (at most :data:`SHARED_BYTES`), each takes
    a copy, the last takes them; the same bits as each drawing its own
    (:func:`initlab.init.draws.draw_weights`: the parametrization only scales the draws
    afterwards). A population's weight arrays, given back when it is done (:attr:`spare`),
    receive the next one's draws or copy when their shapes fit: fresh pages cost as much as
    a draw here (BENCHMARKS.md, fifth pass)."""

    def __init__(self, groups: Sequence[Sequence[Mapping[str, Any]]], X: Array, Y: Array):
        self.shape = (X.shape[0], Y.shape[0])
        self.left = Counter(self.key(g) for g in groups)
        self.last: str | None = None
        self.kept: list[Array] = []
        self.spare: list[Array] = []

    def key(self, configs: Sequence[Mapping[str, Any]]) -> str:
        """What the draws depend on: sizes, seeds, initializer, depth, branch layers, dtype."""
        c, a = configs[0], configs[0]["architecture"]
        return W.group_key({"sizes": [self.shape[0], c["width"], self.shape[1]],
                            "seeds": [m["seed"] for m in configs], "init": a["init"],
                            "depth": a["depth"], "branch_layers": a["branch_layers"],
                            "dtype": c["dtype"]})  # fmt: skip

    def weights(self, configs: Sequence[Mapping[str, Any]]) -> list[Array]:
        """The draws of the group `configs`, the model's to keep."""
        key, (c, a) = self.key(configs), (configs[0], configs[0]["architecture"])
        sizes, seeds = (self.shape[0], c["width"], self.shape[1]), [m["seed"] for m in configs]
        want = [((len(seeds), *s), np.dtype(c["dtype"]))
                for s in _draws.layer_shapes(sizes, a["depth"], a["branch_layers"])]  # fmt: skip
        spare, self.spare = self.spare, []
        if [(S.shape, S.dtype) for S in spare] != want:
            spare = []  # freed before anything is drawn
        self.left[key] -= 1
        if key != self.last:
            self.last, self.kept = None, []  # the last width's draws go first
            Ws = _draws.draw_weights(sizes, seeds, depth=a["depth"], init=a["init"],
                                     branch_layers=a["branch_layers"], dtype=np.dtype(c["dtype"]),
                                     out=spare or None)  # fmt: skip
            if not self.left[key] or sum(W.nbytes for W in Ws) > SHARED_BYTES:
                return Ws
            self.last, self.kept, spare = key, Ws, []
        if not self.left[key]:
            Ws, self.last, self.kept = self.kept, None, []
            return Ws
        if spare:
            for S, K in zip(spare, self.kept, strict=True):
                np.copyto(S, K)
            return spare
        return [K.copy() for K in self.kept]
