r"""Width scaling experiments over populations: coordinate checks and learning-rate transfer.

Both train :class:`initlab.nn.residual.ResMLP` populations (a plain MLP by default) built by
:func:`initlab.init.parametrization.init_model` with the one training loop,
:func:`initlab.nn.training.train`, and a learning-rate factor per parameter (the
parametrization's), on scikit-learn's ten-class digits (:func:`initlab.data.load`
``"digits10"``, :func:`initlab.data.sample`) by default. One population per
(parametrization, width): its members are the seeds (coordinate check) or the learning rates
times the seeds (transfer). A member is diverged only when its loss is not finite
(``divergence_factor=None``): it is frozen and its later numbers are stored as inf (losses)
or NaN (coordinate sizes). Mini-batches take the loop's ``batch_order="stream"``
(:mod:`initlab.nn.batches`), the order these studies have always used. ``dtype`` trains in
float64 (default) or float32 and is recorded in the settings of every result.

**Coordinate check** (Yang et al. 2022, Sec. 7 and App. D; the ``mup`` package's
``get_coord_data``): train for :math:`T` steps on one fixed batch and measure, on that batch
and before each update :math:`t = 0..T`, every layer's output :math:`x` (pre-activations; the
logits last) by its mean absolute coordinate :math:`\operatorname{mean}|x_t|` (``mup``'s
``l1``) and its change :math:`\operatorname{mean}|x_t - x_0|`, averaged over seeds. A
parametrization is stable in width when these do not depend on :math:`n`: the slope of
:math:`\log` size against :math:`\log n` (:mod:`initlab.analysis.coordcheck`) is near 0.

**Learning-rate transfer** (Yang et al. 2022, Fig. 1): for each width, train one member per
learning rate :math:`2^k` and seed by mini-batch SGD or Adam, and measure the final training
loss on the whole training set; the optimum is the learning rate of least mean loss over
seeds. Under muP the optimum should not move with width; under SP it does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from initlab._rng import make_rng
from initlab._validation import InitlabError, check_number
from initlab.analysis import coordcheck as _cc
from initlab.data import load_bundled, sample
from initlab.init import parametrization as _par
from initlab.nn.history import Step
from initlab.nn.training import train
from initlab.results.provenance import provenance
from initlab.results.records import write_atomic

__all__ = ["DTYPES", "Architecture", "CoordCheck", "LrTransfer", "coord_check", "lr_transfer"]
log = logging.getLogger(__name__)
Array = np.ndarray
SCHEMA = 1
DTYPES = ("float64", "float32")
"""The studies' ``dtype`` values (the trainability map's)."""


@dataclass
class Architecture:
    """What :func:`initlab.init.parametrization.init_model` builds besides the width."""

    depth: int = 2
    init: str = "he"
    activation: str = "relu"
    skip: bool = False
    branch_layers: int = 1
    branch_scaling: str = "constant"
    alpha: float = 1.0
    zero_branch: bool = False
    base_depth: int | None = None

    def build(self, d, n, d_out, seeds, parametrization, base_width, optimizer, dtype="float64"):
        """``init_model`` with these settings (``optimizer`` is its lr column)."""
        column = "adam" if str(optimizer).startswith("adam") else "sgd"
        return _par.init_model(
            (d, n, d_out), seeds, parametrization=parametrization, base_width=base_width,
            optimizer=column, dtype=np.dtype(dtype), **asdict(self),
        )  # fmt: skip


@dataclass
class CoordCheck:
    """A coordinate check's data: sizes by parametrization, layer, step, width and seed.

    Attributes
    ----------
    size, change : ndarray (P, L, T+1, W, S)
        :math:`\\operatorname{mean}|x_t|` and :math:`\\operatorname{mean}|x_t - x_0|`.
    """

    parametrizations: list[str]
    widths: list[int]
    layers: list[str]
    steps: list[int]
    seeds: list[int]
    size: Array
    change: Array
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def rows(self, metric: str = "size", band: float = _cc.DEFAULT_BAND) -> dict[str, list]:
        """Per parametrization, one :class:`~initlab.analysis.coordcheck.CoordRow` per layer
        and step (sizes averaged over seeds; for ``"change"``, steps from 1)."""
        data = {"size": self.size, "change": self.change}[metric]
        first = 1 if metric == "change" else 0
        mean = data.mean(axis=-1)
        return {
            p: _cc.coord_check_table(
                self.widths,
                mean[i][:, first:],
                layers=self.layers,
                steps=self.steps[first:],
                band=band,
            )
            for i, p in enumerate(self.parametrizations)
        }

    def save(self, path: str | Path) -> Path:
        """Write as JSON (schema :data:`SCHEMA`); :meth:`load` reads it back exactly."""
        doc = {"schema": SCHEMA, "kind": "coord-check", **asdict(self)}
        doc["size"], doc["change"] = self.size.tolist(), self.change.tolist()
        return _write_json(path, doc)

    @classmethod
    def load(cls, path: str | Path) -> CoordCheck:
        doc = _read_json(path, "coord-check")
        doc["size"], doc["change"] = np.array(doc["size"]), np.array(doc["change"])
        return cls(**doc)


def coord_check(
    widths: Sequence[int] = (64, 128, 256, 512),
    parametrizations: Sequence[str] = ("sp", "ntk", "mup"),
    *,
    steps: int = 2,
    optimizer: str = "sgd",
    learning_rate: float = 0.5,
    seeds: Sequence[int] = (0, 1, 2, 3),
    base_width: int | None = None,
    n_examples: int = 128,
    architecture: Architecture | None = None,
    data: tuple[Array, Array] | None = None,
    head: str = "softmax",
    progress: Callable[[int, int], None] | None = None,
    dtype: str = "float64",
) -> CoordCheck:
    """Run a coordinate check (see the module docstring); one population per (p, width).

    `base_width` :math:`n_0` is required by NTK and muP (no default: a study's base width is
    the one the user gave); `data` defaults to `n_examples` digits (:func:`_digits`).
    ``progress(done, total)`` is called after each population. `dtype` is the training's
    (``"float64"`` or ``"float32"``).
    """
    arch = architecture or Architecture()
    widths = _check_widths(widths)
    n0 = _base_width(base_width, parametrizations, widths)
    _check_dtype(dtype)
    X, Y = data if data is not None else _digits(n_examples)
    T = int(check_number("steps", steps, low=1, integer=True))
    size = change = None
    seconds: dict[str, float] = {}
    for i, p in enumerate(parametrizations):
        for w, n in enumerate(widths):
            start = time.perf_counter()
            model, lr_scale = arch.build(X.shape[0], n, Y.shape[0], list(seeds), p, n0,
                                         optimizer, dtype)  # fmt: skip
            s, c = _measure(model, X, Y, T, lr_scale, optimizer, learning_rate, head)
            if size is None:
                size = np.zeros((len(parametrizations), *s.shape[:2], len(widths), len(seeds)))
                change = np.zeros_like(size)
            size[i, :, :, w], change[i, :, :, w] = s, c
            seconds[f"{p}/{n}"] = time.perf_counter() - start
            log.info("coord check %s width %d: %.2f s", p, n, seconds[f"{p}/{n}"])
            if progress is not None:
                progress(len(seconds), len(parametrizations) * len(widths))
    settings = _settings(arch, n0, X, head, dtype, optimizer=optimizer,
                         learning_rate=learning_rate)  # fmt: skip
    steps_ = list(range(T + 1))
    names = model.record_names()
    return CoordCheck(
        list(parametrizations), widths, names, steps_, list(seeds), size, change, settings, seconds
    )


def _measure(model, X, Y, T, lr_scale, optimizer, learning_rate, head) -> tuple[Array, Array]:
    """Sizes ``mean|x_t|`` and changes ``mean|x_t - x_0|``, each ``(layers, T+1, K)``, by a
    hook on every step's forward pass (``Step.Zs``); NaN from the step after a member
    diverged (it is frozen)."""
    size, change, first = [], [], []
    frozen = np.zeros(model.K, dtype=bool)  # members frozen before this step

    def observe(st: Step) -> None:
        xs = st.Zs
        if st.iteration == 0:
            first.extend(x.copy() for x in xs)
        size.append([np.where(frozen, np.nan, np.abs(x).mean(axis=(-2, -1))) for x in xs])
        change.append([np.where(frozen, np.nan, np.abs(x - x0).mean(axis=(-2, -1)))
                       for x, x0 in zip(xs, first, strict=True)])  # fmt: skip
        frozen[:] = ~st.alive

    train(
        model, X, Y, learning_rate=learning_rate, lr_scale=lr_scale, iterations=T + 1,
        optimizer=optimizer, head=head, divergence_factor=None, record_at=range(T + 1),
        hooks=[observe], return_network=False,
    )  # fmt: skip
    return np.array(size).swapaxes(0, 1), np.array(change).swapaxes(0, 1)


def _digits(n_examples: int | None = None) -> tuple[Array, Array]:
    """The studies' default data: ``X`` (64, m) and one-hot ``Y`` (10, m) of the bundled
    ``"digits10"``, all 1797 or :func:`initlab.data.sample`'s `n_examples` (seed 0)."""
    ds = load_bundled("digits10")
    if n_examples is not None:
        ds = sample(ds, n_examples, seed=0)
    return ds.X, ds.one_hot()


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise InitlabError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")


def _settings(
    arch: Architecture, n0: int, X: Array, head: str, dtype: str, **keys: Any
) -> dict[str, Any]:
    """A study's stored settings: `keys` (optimizer and its schedule), then the base width,
    the number of examples, the head, the dtype and the architecture."""
    return {**keys, "base_width": n0, "n_examples": X.shape[1], "head": head, "dtype": dtype,
            "architecture": asdict(arch)}  # fmt: skip


def _check_widths(widths: Sequence[int]) -> list[int]:
    out = [int(check_number(f"widths[{i}]", n, low=1, integer=True)) for i, n in enumerate(widths)]
    if len(out) < 2 or sorted(set(out)) != out:
        raise InitlabError(f"widths must be at least two increasing integers; got {list(widths)}")
    return out


def _base_width(base_width: int | None, parametrizations: Sequence[str], widths: list[int]) -> int:
    """The base width the user gave; SP alone needs none (its numbers do not depend on it:
    the smallest width is then recorded)."""
    for p in parametrizations:
        _par.get(p)
    if base_width is None:
        scaled = [p for p in parametrizations if p != "sp"]
        if scaled:
            raise InitlabError(
                f"parametrization {scaled[0]!r} needs base_width (--base-width): the width n0 "
                "at which it equals SP; there is no default, so that a study's n0 is the one "
                "you chose and does not move with the widths"
            )
        return widths[0]
    return int(check_number("base_width", base_width, low=1, integer=True))


def _write_json(path: str | Path, doc: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {**doc, "provenance": doc.get("provenance") or provenance()}
    write_atomic(path, json.dumps(doc, allow_nan=True).encode("utf-8"))
    return path


def _read_json(path: str | Path, kind: str) -> dict:
    doc = json.loads(Path(path).read_text())
    if doc.get("kind") != kind or doc.get("schema") != SCHEMA:
        raise InitlabError(
            f"{path} is not an initlab {kind} result of schema {SCHEMA} "
            f"(kind {doc.get('kind')!r}, schema {doc.get('schema')!r})"
        )
    del doc["kind"], doc["schema"]
    doc.pop("provenance", None)  # the file's, not the study's (results.provenance)
    return doc


@dataclass
class LrTransfer:
    """A learning-rate transfer sweep's data.

    Attributes
    ----------
    loss : ndarray (P, W, R, S)
        Final training loss on the whole training set per parametrization, width, learning rate
        :math:`2^{k}` (``log2_lrs``) and seed; +inf where training diverged.
    curves : ndarray (P, W, R, S, T)
        Mini-batch loss before each update.
    """

    parametrizations: list[str]
    widths: list[int]
    log2_lrs: list[float]
    seeds: list[int]
    loss: Array
    curves: Array
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def mean_loss(self) -> Array:
        """Loss averaged over seeds, ``(P, W, R)`` (inf if any seed diverged)."""
        return self.loss.mean(axis=-1)

    def optimum(self) -> Array:
        r""":math:`\log_2` of the best learning rate per width, ``(P, W)``.

        The grid point of least mean loss, refined by the vertex of the parabola through it
        and its two neighbours (in :math:`\log_2 \eta` and log loss) when both are finite
        and the grid is evenly spaced there; the vertex is kept within half a grid step of
        the grid point, so a noisy bracket moves the estimate by at most half a step.
        """
        x = np.asarray(self.log2_lrs, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(self.mean_loss())
        best = np.argmin(np.where(np.isfinite(y), y, np.inf), axis=-1)
        out = x[best].astype(float)
        for idx in np.ndindex(best.shape):
            k = best[idx]
            if 0 < k < len(x) - 1 and np.isfinite(y[idx][k - 1 : k + 2]).all():
                h = x[k + 1] - x[k]
                if np.isclose(x[k] - x[k - 1], h):
                    y0, y1, y2 = y[idx][k - 1 : k + 2]
                    curv = y0 - 2 * y1 + y2
                    if curv > 0:
                        shift = 0.5 * h * (y0 - y2) / curv
                        out[idx] = x[k] + float(np.clip(shift, -h / 2, h / 2))
        return out

    def shift_per_doubling(self, level: float = 0.9, n_boot: int = 2000, seed: int = 0) -> Array:
        r"""Shift of the optimum per doubling of the width, with an interval, ``(P, 3)``.

        Each row is ``(slope, low, high)``: the least-squares slope of the optimum's
        :math:`\log_2` (:meth:`optimum`) against :math:`\log_2 n`, and a `level` interval.
        With two or more seeds the interval is a percentile bootstrap: the seeds are
        resampled with replacement independently at each width (`n_boot` times, generator
        ``make_rng(seed)``) and the slope refitted. With one seed it is the grid's resolution:
        each optimum is known within :math:`\pm h/2` (:math:`h` the grid step; the
        parabola refinement stays within it), which moves the slope by at most
        :math:`\tfrac h2 \sum_i |x_i - \bar x| / \sum_i (x_i - \bar x)^2`.
        """
        x = np.log2(np.asarray(self.widths, dtype=float))
        xc = x - x.mean()
        slope = self.optimum() @ xc / (xc @ xc)
        S = len(self.seeds)
        if S < 2:
            h = float(np.min(np.diff(self.log2_lrs))) if len(self.log2_lrs) > 1 else 0.0
            half = h / 2 * np.abs(xc).sum() / (xc @ xc)
            return np.stack([slope, slope - half, slope + half], axis=-1)
        rng = make_rng(seed)
        boot = np.empty((n_boot, len(self.parametrizations)))
        for b in range(n_boot):
            pick = rng.integers(0, S, size=(len(self.widths), S))
            loss = np.stack([self.loss[:, w][..., pick[w]] for w in range(len(self.widths))], 1)
            boot[b] = LrTransfer(self.parametrizations, self.widths, self.log2_lrs, self.seeds,
                                 loss, self.curves).optimum() @ xc / (xc @ xc)  # fmt: skip
        q = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return np.stack([slope, q[0], q[1]], axis=-1)

    def spread(self) -> Array:
        """Range (max - min) over widths of the optimum's :math:`\\log_2`, ``(P,)``."""
        opt = self.optimum()
        return opt.max(axis=-1) - opt.min(axis=-1)

    def save(self, path: str | Path) -> Path:
        """Write as JSON (schema :data:`SCHEMA`); infinities as the string "inf"."""
        doc = {"schema": SCHEMA, "kind": "lr-transfer", **asdict(self)}
        doc["loss"] = np.where(np.isfinite(self.loss), self.loss, -1.0).tolist()
        doc["curves"] = np.where(np.isfinite(self.curves), self.curves, -1.0).tolist()
        return _write_json(path, doc)

    @classmethod
    def load(cls, path: str | Path) -> LrTransfer:
        doc = _read_json(path, "lr-transfer")
        for key in ("loss", "curves"):
            a = np.array(doc[key], dtype=float)
            doc[key] = np.where(a < 0, np.inf, a)  # losses are >= 0; -1 marks divergence
        return cls(**doc)


def lr_transfer(
    widths: Sequence[int] = (64, 128, 256),
    log2_lrs: Sequence[float] = tuple(range(-11, -2)),
    parametrizations: Sequence[str] = ("sp", "mup"),
    *,
    optimizer: str = "adam",
    steps: int = 40,
    batch_size: int = 32,
    seeds: Sequence[int] = (0,),
    base_width: int | None = None,
    n_examples: int | None = 256,
    architecture: Architecture | None = None,
    data: tuple[Array, Array] | None = None,
    head: str = "softmax",
    progress: Callable[[int, int], None] | None = None,
    dtype: str = "float64",
) -> LrTransfer:
    """Train one population per (parametrization, width) over learning rates x seeds.

    Member ``r * S + s`` has learning rate ``2 ** log2_lrs[r]`` and seed ``seeds[s]``.
    `data` defaults to `n_examples` digits (:func:`_digits`; all with None); `base_width` is
    required by NTK and muP, as in :func:`coord_check`. The defaults are the CI-sized example
    of ``tests/test_scaling.py``: Adam, 40 steps of batch 32 on 256 digits, a plain ReLU MLP
    of 3 hidden layers. `dtype` is the training's (``"float64"`` or ``"float32"``).
    ``progress(done, total)`` is called after each population.
    """
    arch = architecture or Architecture()
    widths = _check_widths(widths)
    n0 = _base_width(base_width, parametrizations, widths)
    _check_dtype(dtype)
    X, Y = data if data is not None else _digits(n_examples)
    steps = int(check_number("steps", steps, low=1, integer=True))
    check_number("batch_size", batch_size, low=1, high=X.shape[1], integer=True)
    R, S = len(log2_lrs), len(seeds)
    lrs = np.repeat(2.0 ** np.asarray(log2_lrs, dtype=float), S)
    member_seeds = list(seeds) * R
    loss = np.zeros((len(parametrizations), len(widths), R, S))
    curves = np.zeros((*loss.shape, int(steps)))
    seconds: dict[str, float] = {}
    for i, p in enumerate(parametrizations):
        for w, n in enumerate(widths):
            start = time.perf_counter()
            model, lr_scale = arch.build(X.shape[0], n, Y.shape[0], member_seeds, p, n0,
                                         optimizer, dtype)  # fmt: skip
            _, h = train(
                model, X, Y, learning_rate=lrs, lr_scale=lr_scale, iterations=steps,
                optimizer=optimizer, head=head, batch_size=batch_size, batch_order="stream",
                divergence_factor=None, return_network=False,
            )  # fmt: skip
            loss[i, w] = _finite_or_inf(h.final_cost).reshape(R, S)
            curves[i, w] = _finite_or_inf(h.costs).reshape(R, S, -1)
            seconds[f"{p}/{n}"] = time.perf_counter() - start
            log.info("lr transfer %s width %d: %.2f s", p, n, seconds[f"{p}/{n}"])
            if progress is not None:
                progress(len(seconds), len(parametrizations) * len(widths))
    settings = _settings(arch, n0, X, head, dtype, optimizer=optimizer, steps=steps,
                         batch_size=batch_size)  # fmt: skip
    return LrTransfer(
        list(parametrizations), widths, [float(x) for x in log2_lrs], list(seeds), loss, curves,
        settings, seconds,
    )  # fmt: skip


def _finite_or_inf(a: Array) -> Array:
    """`a` with every non-finite number (a diverged member's) as +inf."""
    return np.where(np.isfinite(a), a, np.inf)
