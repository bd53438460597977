r"""The kernel study: an architecture's NNGP and NTK on a dataset, held against finite networks.

One record (``kernels.json``, format ``initlab.kernels``) for an MLP
``[64, width x hidden_layers, 1]`` of activation :math:`\phi`, weights
:math:`N(0, \sigma_w^2/n)` and biases :math:`N(0, \sigma_b^2)` on scikit-learn's 8x8 digits
(odd vs even, targets :math:`\pm 1`; each image scaled to :math:`\lVert x\rVert^2 = n_0`, so
every input has :math:`q_0 = 1`), first ``train`` examples for training and the next
``test`` for testing:

- ``summary``: the kernels' diagonal, condition numbers, and the test MSE and accuracy of the
  NNGP posterior mean and of NTK gradient descent (mean prediction, :math:`f_0 = 0`) at
  each of ``times`` steps and at the end (:mod:`initlab.analysis.kernel_regression`); the
  rate is ``rate`` :math:`\times\, m/\lambda_{max}(\Theta)`.
- ``convergence``: relative Frobenius error of the empirical NTK of ``members`` networks on
  the first ``convergence_examples`` training inputs at each of ``widths``, and the fitted
  log-log slope (:func:`initlab.analysis.empirical_ntk.ntk_convergence`).
- ``training``: at each of ``train_widths``, one network under the NTK parametrization trained
  by full-batch GD on the first ``fit_examples`` training examples, its test outputs beside
  the kernel's prediction from the same :math:`f_0` (RMS distance, and the RMS of the kernel's
  change for scale), and the relative change of its own empirical NTK over training beside
  that of a muP network and of an SP network of the same width (both at base width
  ``train_widths[0]`` and rate :math:`\eta\,\sigma_w^2/n_0`, where the two are the same
  network; SP's kernel grows with the width, so at a fixed rate it moves more or diverges:
  then its change is stored as null, printed inf).
- ``depth``: condition number of the NNGP and NTK on the first ``depth_examples`` training
  inputs after 1 .. ``max_depth`` hidden layers at :math:`\sigma_w^2` = 0.5, 1 and 2 times the
  critical value (ordered, critical, chaotic), beside :math:`c^*` and :math:`\xi_c`
  (:func:`initlab.analysis.correlation.depth_scales`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.analysis import correlation as _correlation
from initlab.analysis import empirical_ntk as _finite
from initlab.analysis import kernel_regression as _kr
from initlab.analysis import theory as _theory
from initlab.analysis.kernels import mlp_kernels
from initlab.nn import activations as _activations
from initlab.results.records import jsonable
from initlab.studies._studyio import (
    SCHEMA_VERSION,
    config_dict,
    load,
    set_grid,
    store,
)

FILE = "kernels.json"
FORMAT = "initlab.kernels"


@dataclass(frozen=True)
class KernelConfig:
    """The kernel study's settings (module docstring); every default in one place."""

    activation: str = "tanh"
    sigma_w2: float | None = None  # None: the critical value at sigma_b2
    sigma_b2: float = 0.05
    hidden_layers: int = 2
    width: int = 512
    train: int = 64
    test: int = 64
    times: tuple[int, ...] = (10, 100, 1000)
    rate: float = 0.5
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    members: int = 8
    convergence_examples: int = 16
    train_widths: tuple[int, ...] = (256, 1024, 2048)
    fit_examples: int = 32
    steps: int = 200
    max_depth: int = 16
    depth_examples: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        _activations.get(self.activation)
        if self.sigma_w2 is not None:
            check_number("sigma_w2", self.sigma_w2, low=0, low_open=True)
        if not check_number("sigma_b2", self.sigma_b2, low=0) > 0:
            raise InitlabError(
                f"sigma_b2 must be > 0 for the kernel study (its networks train under the NTK "
                f"parametrization, where a bias's step factor is sigma_b2); got {self.sigma_b2}"
            )
        check_number("rate", self.rate, low=0, high=1, low_open=True)
        for name in ("hidden_layers", "width", "members", "steps", "max_depth"):
            check_number(name, getattr(self, name), low=1, integer=True)
        for name in ("train", "test", "convergence_examples", "fit_examples", "depth_examples"):
            check_number(name, getattr(self, name), low=2, high=900, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        set_grid(self, "times", int, low=0, integer=True)
        set_grid(self, "widths", int, low=1, integer=True)
        set_grid(self, "train_widths", int, low=1, integer=True)

    def as_dict(self) -> dict[str, Any]:
        return config_dict(self)


def digits(train: int, test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""``(X, Y, X_test, Y_test)``: the first `train` and next `test` digits, odd vs even as
    :math:`\pm 1`, each image scaled to :math:`\lVert x \rVert^2 = 64` (:math:`q_0 = 1`)."""
    from initlab.data.loaders import load_bundled

    ds = load_bundled("digits")
    X = ds.X[:, : train + test]
    X = X / np.linalg.norm(X, axis=0) * math.sqrt(X.shape[0])
    Y = _kr.regression_targets(ds.Y[:, : train + test], 2)
    return X[:, :train], Y[:, :train], X[:, train:], Y[:, train:]


def gaussian_init(sigma_w2: float) -> dict[str, Any]:
    r"""The initializer :math:`N(0, \sigma_w^2/n_{in})`, untruncated."""
    return {
        "name": "variance_scaling",
        "scale": sigma_w2,
        "mode": "fan_in",
        "distribution": "normal",
    }


def _scores(pred: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    s = _kr.scores(pred, Y)
    return {"mse": s.mse, "accuracy": s.accuracy}


def _summary(c: KernelConfig, w2: float, data) -> dict[str, Any]:
    X, Y, Xt, Yt = data
    m = X.shape[1]
    sizes = [X.shape[0], *[c.width] * c.hidden_layers, 1]
    k = mlp_kernels(
        np.concatenate([X, Xt], axis=1),
        layer_sizes=sizes,
        init=gaussian_init(w2),
        activation=c.activation,
        sigma_b2=c.sigma_b2,
    )
    K, T = k.nngp, k.ntk
    lam = np.linalg.eigvalsh(T[:m, :m])
    eta = c.rate * m / lam[-1]
    gp, _ = _kr.gp_posterior(K[:m, :m], K[m:, :m], Y)
    times = [*c.times, math.inf]
    ntk = _kr.ntk_predict(T[:m, :m], T[m:, :m], Y, times=times, learning_rate=eta)
    return {
        "nngp_diagonal": float(np.mean(np.diag(K))),
        "ntk_diagonal": float(np.mean(np.diag(T))),
        "nngp_condition": _kr.condition_number(K[:m, :m]),
        "ntk_condition": _kr.condition_number(T[:m, :m]),
        "ntk_eigenvalues": [float(lam[0]), float(lam[-1])],
        "learning_rate": eta,
        "nngp_test": _scores(gp, Yt),
        "ntk_test": [{"time": t, **_scores(p, Yt)} for t, p in zip(times, ntk, strict=True)],
    }


def _training(c: KernelConfig, w2: float, data, progress) -> list[dict[str, Any]]:
    X, Y, Xt, _ = data
    X, Y = X[:, : c.fit_examples], Y[:, : c.fit_examples]
    init = gaussian_init(w2)
    sizes = [X.shape[0], c.train_widths[-1], 1]
    lam = np.linalg.eigvalsh(
        mlp_kernels(
            X, layer_sizes=sizes, init=init, activation=c.activation, sigma_b2=c.sigma_b2
        ).ntk
    )
    eta = c.rate * X.shape[1] / lam[-1]
    times = sorted({0, c.steps // 10, c.steps // 2, c.steps})
    out, base = [], c.train_widths[0]
    for n in c.train_widths:
        run = _finite.train_vs_kernel(
            X,
            Y,
            Xt,
            width=n,
            depth=c.hidden_layers,
            init=init,
            activation=c.activation,
            sigma_b2=c.sigma_b2,
            learning_rate=eta,
            times=times,
            seed=c.seed,
        )
        moved = {
            p: _finite.kernel_movement(
                X,
                Y,
                width=n,
                depth=c.hidden_layers,
                init=init,
                activation=c.activation,
                parametrization=p,
                base_width=c.train_widths[0],
                learning_rate=lr,
                steps=c.steps,
                sigma_b2=c.sigma_b2,
                seed=c.seed,
            )
            for p, lr in (("ntk", eta), ("mup", eta * w2 / base), ("sp", eta * w2 / base))
        }
        out.append({"width": n, "learning_rate": eta, **run, "kernel_change": moved})
        if progress is not None:
            progress(1 + len(out), len(c.train_widths) + 2)
    return out


def _depth(c: KernelConfig, w2_crit: float, X: np.ndarray) -> list[dict[str, Any]]:
    X = X[:, : c.depth_examples]
    rows = []
    for phase, factor in (("ordered", 0.5), ("critical", 1.0), ("chaotic", 2.0)):
        w2 = factor * w2_crit
        sizes = [X.shape[0], *[c.width] * c.max_depth, 1]
        k = mlp_kernels(
            X,
            layer_sizes=sizes,
            init=gaussian_init(w2),
            activation=c.activation,
            sigma_b2=c.sigma_b2,
            by_layer=True,
        )
        cond = [(_kr.condition_number(K), _kr.condition_number(T)) for K, T in k.layers[1:]]
        scales = _correlation.depth_scales(c.activation, w2, c.sigma_b2)
        rows.append(
            {
                "phase": phase,
                "sigma_w2": w2,
                "c_star": scales.c_star,
                "xi_c": scales.xi_c,
                "chi_1": scales.chi_1,
                "nngp_condition": [a for a, _ in cond],
                "ntk_condition": [b for _, b in cond],
            }
        )
    return rows


def run(config: KernelConfig, progress: Callable[[int, int], None] | None = None) -> dict:
    """Compute the study's record (module docstring); ``progress(done, total)`` after each
    part. Deterministic given the config (every draw is seeded from ``config.seed``)."""
    c = config
    act = _activations.get(c.activation)
    w2_crit = _theory.critical_sigma_w2(act, c.sigma_b2)
    w2 = w2_crit if c.sigma_w2 is None else float(c.sigma_w2)
    data = digits(c.train, c.test)
    total = len(c.train_widths) + 2
    summary = _summary(c, w2, data)
    conv = _finite.ntk_convergence(
        data[0][:, : c.convergence_examples],
        widths=c.widths,
        depth=c.hidden_layers,
        init=gaussian_init(w2),
        activation=act,
        sigma_b2=c.sigma_b2,
        members=c.members,
        seed=c.seed,
    )
    if progress is not None:
        progress(1, total)
    training = _training(c, w2, data, progress)
    depth = _depth(c, w2_crit, data[0])
    if progress is not None:
        progress(total, total)
    return jsonable(
        {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "config": c.as_dict(),
            "sigma_w2": w2,
            "critical_sigma_w2": w2_crit,
            "phase": _theory.phase(float(_theory.chi1(act, w2, c.sigma_b2))),
            "summary": summary,
            "convergence": conv,
            "training": training,
            "depth": depth,
        }
    )


def write(out_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Store `record` as ``out_dir/kernels.json`` (atomically); the path."""
    return store(out_dir, FILE, record)


def read(path: str | os.PathLike) -> dict[str, Any]:
    """``kernels.json`` (a file, or a directory holding it), checked."""
    return load(path, FILE, FORMAT, "initlab theory kernels --out DIR")
