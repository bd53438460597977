r"""Width scaling experiments over populations: coordinate checks and learning-rate transfer
(:mod:`initlab.studies.lrtransfer`, re-exported here).

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

Both are studies of cells (:mod:`initlab.execution.study`; :mod:`initlab.studies._widths`):
a cell is one member, a group one (parametrization, width). A coordinate check's cell is
(parametrization, width, seed) with the settings; its record, the member's sizes and changes
per layer and step. With ``out=DIR`` they run on the sweep's executor into
``DIR/sweep.sqlite`` (resumable, listed by ``initlab results DIR``), without it here.

**Coordinate check** (Yang et al. 2022, Sec. 7 and App. D; the ``mup`` package's
``get_coord_data``): train for :math:`T` steps on one fixed batch and measure, on that batch
and before each update :math:`t = 0..T`, every layer's output :math:`x` (pre-activations; the
logits last) by its mean absolute coordinate :math:`\operatorname{mean}|x_t|` (``mup``'s
``l1``) and its change :math:`\operatorname{mean}|x_t - x_0|`, averaged over seeds. A
parametrization is stable in width when these do not depend on :math:`n`: the slope of
:math:`\log` size against :math:`\log n` (:mod:`initlab.analysis.coordcheck`) is near 0.

**Learning-rate transfer** (Yang et al. 2022, Fig. 1; :mod:`initlab.studies.lrtransfer`):
for each width, train one member per learning rate :math:`2^k` and seed, and find the
learning rate of least final training loss. Under muP it should not move with width.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from initlab._validation import InitlabError, SpecError, check_number
from initlab.analysis import coordcheck as _cc
from initlab.execution import study as _study
from initlab.nn.history import Step
from initlab.nn.training import train
from initlab.nn.workspace import Workspace
from initlab.studies import _widths as W
from initlab.studies._draws import SharedDraws
from initlab.studies._widths import DTYPES, Architecture
from initlab.studies.lrtransfer import LrTransfer, lr_transfer

__all__ = ["DTYPES", "Architecture", "CoordCheck", "LrTransfer", "coord_check", "lr_transfer"]
Array = np.ndarray
KIND = "coord-check"
VERSION = 1
"""Of a cell's computation: changes its id when what it computes changes."""


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
        """Write as JSON (schema :data:`~initlab.studies._widths.SCHEMA`); :meth:`load` reads
        it back exactly."""
        doc = {"schema": W.SCHEMA, "kind": "coord-check", **asdict(self)}
        doc["size"], doc["change"] = self.size.tolist(), self.change.tolist()
        return W.write_json(path, doc)

    @classmethod
    def load(cls, path: str | Path) -> CoordCheck:
        doc = W.read_json(path, "coord-check")
        doc["size"], doc["change"] = np.array(doc["size"]), np.array(doc["change"])
        return cls(**doc)


def coord_check(
    widths: Sequence[int] = (64, 128, 256, 512),
    parametrizations: Sequence[str] = ("sp", "ntk", "mup"),
    *,
    progress: Callable[[int, int], None] | None = None,
    out: str | os.PathLike | None = None,
    jobs: int | None = 1,
    scheduler: str | None = None,
    **settings: Any,
) -> CoordCheck:
    r"""Run a coordinate check (see the module docstring); one population per (p, width).

    Parameters
    ----------
    widths : sequence of int
        Hidden widths :math:`n`, at least two, increasing.
    parametrizations : sequence of str
        Of ``"sp"``, ``"ntk"``, ``"mup"`` (:mod:`initlab.init.parametrization`).
    progress : callable, optional
        ``progress(cells done, total)``, called after each population.
    out : path, optional
        Compute the cells on the executor into ``out/sweep.sqlite`` (resumable; another
        coordinate check's directory is refused); without it, here, in order.
    jobs : int, optional
        With `out`: local worker processes (default 1: this process; None: one per core).
    scheduler : str, optional
        With `out`: the Dask scheduler's address, ``tcp://HOST:PORT``.
    steps : int
        Updates :math:`T` on the one fixed batch (default 2); measured before each, and after.
    optimizer : str
        ``"sgd"`` (default), ``"momentum"``, ``"adam"``, ``"adamw"``, ``"gd"``.
    learning_rate : float
        The base learning rate :math:`\eta > 0` (default 0.5), scaled per layer by the
        parametrization.
    seeds : sequence of int
        Seeds of the members, each :math:`\ge 0` (default 0, 1, 2, 3).
    base_width : int, optional
        :math:`n_0`, where NTK and muP equal SP; required with ``"ntk"`` or ``"mup"``.
    n_examples : int
        Digits in the batch (default 128), ignored with `data`.
    architecture : Architecture, optional
        Depth, initializer, activation and residual blocks (default: a plain ReLU MLP with
        2 layers after the first, He initialization).
    data : (X, Y), optional
        ``X`` (d, m) inputs and ``Y`` (k, m) one-hot targets instead of the digits (not with
        `out`: no cell's key can hold arrays).
    head : str
        The loss head: ``"softmax"`` (cross-entropy, default), ``"sigmoid"`` or ``"linear"``
        (:data:`initlab.nn.losses.HEADS`).
    dtype : str
        ``"float64"`` (default) or ``"float32"``, the training's floating type.

    Returns
    -------
    CoordCheck
        ``size`` and ``change`` of shape (P, L, T + 1, W, S), by parametrization, layer,
        step, width and seed.

    Raises
    ------
    InitlabError
        A bad argument (named), before any training; with `out`, a directory holding another
        coordinate check, or cells that failed.
    """
    plan, X, Y = _plan(widths, parametrizations, **settings)
    if settings.get("data") is not None and out is not None:
        raise InitlabError("coord_check stores its cells (out=) for the bundled digits "
                           "only; with data= arrays, leave out unset")  # fmt: skip
    if out is None:  # width by width: a width's populations share one draw (SharedDraws)
        order = replace(plan, cells=sorted(plan.cells, key=lambda c: c.config["width"]))
        groups = list(dict.fromkeys(c.group for c in order.cells))
        configs = [[c.config for c in order.cells if c.group == g] for g in groups]
        shared = SharedDraws(configs, X, Y)
        group = functools.partial(_measure_group, X=X, Y=Y, shared=shared, ws=Workspace())
    else:
        order, group = plan, functools.partial(_measure_group, X=X, Y=Y)
    records, seconds = W.compute_cells(order, group, out, jobs=jobs, scheduler=scheduler,
                                       progress=progress)  # fmt: skip
    kw = plan.spec[KIND]
    found = [records[c.id] for c in plan.cells]
    T = kw["steps"]
    shape = (len(kw["parametrizations"]), len(kw["widths"]), len(kw["seeds"]),
             len(found[0]["layers"]), T + 1)  # fmt: skip
    size, change = (np.array([r[k] for r in found], dtype=float).reshape(shape)
                    .transpose(0, 3, 4, 1, 2) for k in ("size", "change"))  # fmt: skip
    first = plan.cells[0].config
    stored = {k: v for k, v in first.items() if k not in ("seed", "parametrization", "width",
                                                         "steps")}  # fmt: skip
    names = {c.group: f"{c.config['parametrization']}/{c.config['width']}" for c in plan.cells}
    return CoordCheck(
        kw["parametrizations"], kw["widths"], found[0]["layers"], list(range(T + 1)),
        kw["seeds"], size, change, stored, {names[g]: seconds[g] for g in names},
    )  # fmt: skip


def study(*args: Any, max_population: int | None = None, source: str | None = None,
          **settings: Any) -> _study.Study:  # fmt: skip
    """The coordinate check as a study of cells (:mod:`initlab.execution.study`), for the
    executor or ``--write-spec``; the arguments are :func:`_plan`'s."""
    return _plan(*args, max_population=max_population, source=source, **settings)[0]


def from_spec(table: Mapping[str, Any], max_population: int = W.MAX_POPULATION,
              source: str | None = None) -> _study.Study:  # fmt: skip
    """The study of a spec's ``[coord-check]`` table (:mod:`initlab.studies.specs`): the
    keyword arguments of :func:`study`."""
    kwargs = W.spec_table(KIND, table, _KWARGS)
    try:
        return study(max_population=max_population, source=source, **kwargs)
    except InitlabError as exc:
        raise SpecError(f"[{KIND}] {exc}") from None


_KWARGS = ("widths", "parametrizations", "steps", "optimizer", "learning_rate", "seeds",
           "base_width", "n_examples", "architecture", "head", "dtype")  # fmt: skip


def _plan(
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
    dtype: str = "float64",
    max_population: int | None = None,
    source: str | None = None,
) -> tuple[_study.Study, Array, Array]:
    """The study (checked) and its batch ``(X, Y)``.

    `base_width` :math:`n_0` is required by NTK and muP (no default: a study's base width is
    the one the user gave); `data` defaults to `n_examples` digits
    (:func:`~initlab.studies._widths.digits`). `dtype` is the training's (``"float64"`` or
    ``"float32"``).
    """
    arch = architecture or Architecture()
    widths = W.check_widths(widths)
    params = W.check_names("parametrizations", parametrizations)
    n0 = W.base_width(base_width, params, widths)
    W.check_dtype(dtype)
    seeds = [int(s) for s in W.check_values("seeds", seeds, low=0, integer=True)]
    check_number("learning_rate", learning_rate, low=0, low_open=True)
    X, Y = data if data is not None else W.digits(n_examples)
    T = int(check_number("steps", steps, low=1, integer=True))
    settings = W.settings(arch, n0, X, head, dtype, optimizer=optimizer,
                          learning_rate=learning_rate, steps=T)  # fmt: skip
    max_population = max_population or W.MAX_POPULATION
    spec = W.spec(
        KIND, max_population, widths=widths, parametrizations=params, steps=T,
        optimizer=optimizer, learning_rate=learning_rate, seeds=seeds, base_width=n0,
        n_examples=X.shape[1], architecture=arch, head=head, dtype=dtype,
    )  # fmt: skip
    every = cells(settings, params, widths, seeds)
    return _study.Study(KIND, spec, every, f"{__name__}:compute", max_population, source), X, Y


def cells(
    settings: Mapping[str, Any], parametrizations: Sequence[str], widths: Sequence[int],
    seeds: Sequence[int],
) -> list[_study.Cell]:  # fmt: skip
    """One cell per member, in the order (parametrization, width, seed); its config is
    `settings` with the member's parametrization, width and seed; its group, without the seed."""
    out = []
    for p in parametrizations:
        for n in widths:
            for s in seeds:
                config = {**settings, "parametrization": p, "width": int(n), "seed": int(s)}
                out.append(_study.cell(KIND, VERSION, config, W.group_key(config, "seed")))
    return out


def compute(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of cells of one group (the executor's ``compute``), measured together as
    one population on the bundled digits of their ``n_examples``."""
    X, Y = _digits(configs[0]["n_examples"])
    return _measure_group(configs, X, Y)


@functools.lru_cache(maxsize=2)
def _digits(n_examples: int) -> tuple[Array, Array]:
    """:func:`~initlab.studies._widths.digits`, once per worker process."""
    return W.digits(n_examples)


def _measure_group(configs: Sequence[Mapping[str, Any]], X: Array, Y: Array,
                   shared: SharedDraws | None = None,
                   ws: Workspace | None = None) -> list[dict]:  # fmt: skip
    """Train the members `configs` (one group) as one population on the batch `(X, Y)`; each
    one's ``{"layers", "size", "change"}`` (sizes and changes ``(layers, T+1)``). `shared`:
    the draws come from it; `ws`: the cache and gradients of the last population (of these
    shapes), for this one's training (:class:`initlab.nn.workspace.Workspace`)."""
    c = configs[0]
    arch = Architecture(**c["architecture"])
    drawn = None if shared is None else shared.weights(configs)
    model, lr_scale = arch.build(X.shape[0], c["width"], Y.shape[0], [m["seed"] for m in configs],
                                 c["parametrization"], c["base_width"], c["optimizer"],
                                 c["dtype"], drawn)  # fmt: skip
    s, ch = _measure(model, X, Y, c["steps"], lr_scale, c["optimizer"], c["learning_rate"],
                     c["head"], Workspace() if ws is None else ws)  # fmt: skip
    if shared is not None:  # its weights, trained and done with, for the next population
        shared.spare = model.params[: 2 * len(drawn) : 2]
    names = model.record_names()
    return [{"layers": names, "size": s[..., k], "change": ch[..., k]} for k in range(len(configs))]


def _measure(model, X, Y, T, lr_scale, optimizer, learning_rate, head,
             ws: Workspace) -> tuple[Array, Array]:  # fmt: skip
    """Sizes ``mean|x_t|`` and changes ``mean|x_t - x_0|``, each ``(layers, T+1, K)``, by a
    hook on every step's forward pass (``Step.Zs``); NaN from the step after a member
    diverged (it is frozen). The training and the last forward pass write into `ws`'s
    arrays, left there for the next population."""
    size, change, first, tmp = [], [], [], {}
    frozen = np.zeros(model.K, dtype=bool)  # members frozen before this step

    def kept(x: Array, slot: int) -> Array:  # one array per slot and shape, step after step
        return tmp.setdefault((slot, x.shape, x.dtype), np.empty_like(x))

    def mean_abs(x: Array) -> Array:  # mean |x| (frozen: NaN), through a kept array: same bits
        return np.where(frozen, np.nan, np.abs(x, out=kept(x, 0)).mean(axis=(-2, -1)))

    def measure(t: int, xs: list[Array]) -> None:
        if t == 0:  # the hook's to keep (ResMLP.records): no copy
            first.extend(xs)
        size.append([mean_abs(x) for x in xs])
        change.append([mean_abs(np.subtract(x, x0, out=kept(x, 1)))
                       for x, x0 in zip(xs, first, strict=True)])  # fmt: skip

    def observe(st: Step) -> None:
        measure(st.iteration, st.Zs)
        frozen[:] = ~st.alive

    train(
        model, X, Y, learning_rate=learning_rate, lr_scale=lr_scale, iterations=T,
        optimizer=optimizer, head=head, divergence_factor=None, record_at=range(T),
        hooks=[observe], return_network=False, overwrite=True, final=False, workspace=ws,
    )  # fmt: skip
    # step T is measured, not taken: its forward pass alone, as the step would make it (one
    # BLAS thread, as in the loop), on the parameters after T updates
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):
        cache, grads = ws.take(model)
        Z, cache = model.forward(np.ascontiguousarray(X.astype(model.dtype, copy=False)), cache)
        measure(T, model.records(cache, Z))
        ws.keep(model, cache, grads)
    return np.array(size).swapaxes(0, 1), np.array(change).swapaxes(0, 1)
