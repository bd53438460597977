r"""The kernel study: an architecture's NNGP and NTK on a dataset, held against finite networks.

One record (format ``initlab.kernels``, assembled by :mod:`initlab.studies.kernel_study`
from the study's cells, each computed by one ``*_part`` function here) for an MLP
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
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab._validation import InitlabError, check_number
from initlab.analysis import correlation as _correlation
from initlab.analysis import empirical_ntk as _finite
from initlab.analysis import kernel_regression as _kr
from initlab.analysis.kernels import mlp_kernels
from initlab.data import digits
from initlab.nn import activations as _activations
from initlab.studies._studyio import config_dict, set_grid

SUBSETS = ("convergence_examples", "fit_examples", "depth_examples")
"""The settings that count the first of the ``train`` examples (module docstring)."""


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

    def check_examples(self) -> None:
        """Refuse a :data:`SUBSETS` setting above ``train``: it counts the first of the train
        examples, so a larger one would be cut to ``train`` (and printed as asked). Checked
        where a study is asked for (a spec; the command caps them), not on reading a store
        made before this check."""
        for name in SUBSETS:
            if getattr(self, name) > self.train:
                raise InitlabError(
                    f"{name} must be <= train ({self.train}, the examples it is taken from); "
                    f"got {getattr(self, name)}"
                )


def examples(train: int, test: int) -> tuple[np.ndarray, ...]:
    r"""``(X, Y, X_test, Y_test)``: the first `train` and next `test` of
    :func:`initlab.data.digits` (odd vs even), targets :math:`\pm 1`, each image scaled to
    :math:`\lVert x \rVert^2 = 64` (:math:`q_0 = 1`)."""
    X, Y = digits(train + test, name="digits", seed=None)
    X = X / np.linalg.norm(X, axis=0) * math.sqrt(X.shape[0])
    Y = _kr.regression_targets(Y, 2)
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


def summary_part(p: dict[str, Any]) -> dict[str, Any]:
    """The ``summary`` (module docstring) of cell config `p` (:mod:`.kernel_study`)."""
    X, Y, Xt, Yt = examples(p["train"], p["test"])
    m = X.shape[1]
    sizes = [X.shape[0], *[p["width"]] * p["hidden_layers"], 1]
    k = mlp_kernels(
        np.concatenate([X, Xt], axis=1),
        layer_sizes=sizes,
        init=gaussian_init(p["sigma_w2"]),
        activation=_activations.get(p["activation"]),
        sigma_b2=p["sigma_b2"],
    )
    K, T = k.nngp, k.ntk
    lam = np.linalg.eigvalsh(T[:m, :m])
    eta = p["rate"] * m / lam[-1]
    gp, _ = _kr.gp_posterior(K[:m, :m], K[m:, :m], Y)
    times = [*p["times"], math.inf]
    ntk = _kr.ntk_predict(T[:m, :m], T[m:, :m], Y, times=times, learning_rate=eta)
    return {
        "nngp_diagonal": float(np.mean(np.diag(K))),
        "ntk_diagonal": float(np.mean(np.diag(T))),
        "nngp_condition": _kr.condition_number(K[:m, :m]),
        "ntk_condition": _kr.condition_number(T[:m, :m]),
        "ntk_eigenvalues": [float(lam[0]), float(lam[-1])],
        "learning_rate": eta,
        "nngp_test": _scores(gp, Yt),
        "ntk_test": [{"time": t, **_scores(q, Yt)} for t, q in zip(times, ntk, strict=True)],
    }


def convergence_part(p: dict[str, Any]) -> dict[str, Any]:
    """The ``convergence`` (module docstring) of cell config `p`."""
    X = examples(p["train"], p["test"])[0]
    return _finite.ntk_convergence(
        X[:, : p["convergence_examples"]],
        widths=p["widths"],
        depth=p["hidden_layers"],
        init=gaussian_init(p["sigma_w2"]),
        activation=_activations.get(p["activation"]),
        sigma_b2=p["sigma_b2"],
        members=p["members"],
        seed=p["seed"],
    )


def _fit_data(p: dict[str, Any]):
    """The first ``fit_examples`` train examples, the test inputs, and the rate
    ``rate`` m / lambda_max of the NTK of ``[n0, rate_width, 1]`` on them."""
    X, Y, Xt, _ = examples(p["train"], p["test"])
    X, Y = X[:, : p["fit_examples"]], Y[:, : p["fit_examples"]]
    sizes = [X.shape[0], p["rate_width"], 1]
    act = _activations.get(p["activation"])
    ntk = mlp_kernels(X, layer_sizes=sizes, init=gaussian_init(p["sigma_w2"]), activation=act,
                      sigma_b2=p["sigma_b2"]).ntk  # fmt: skip
    return X, Y, Xt, p["rate"] * X.shape[1] / np.linalg.eigvalsh(ntk)[-1]


def network_part(p: dict[str, Any]) -> dict[str, Any]:
    """One network of ``training`` (module docstring), width ``p["width"]``, trained beside
    the kernel: :func:`~initlab.analysis.empirical_ntk.train_vs_kernel`, with its rate."""
    X, Y, Xt, eta = _fit_data(p)
    steps = p["steps"]
    run = _finite.train_vs_kernel(
        X, Y, Xt, width=p["width"], depth=p["hidden_layers"],
        init=gaussian_init(p["sigma_w2"]), activation=_activations.get(p["activation"]),
        sigma_b2=p["sigma_b2"], learning_rate=eta,
        times=sorted({0, steps // 10, steps // 2, steps}), seed=p["seed"],
    )  # fmt: skip
    return {"learning_rate": eta, **run}


def movement_part(p: dict[str, Any]) -> dict[str, Any]:
    """The relative change of one network's empirical NTK over training
    (:func:`~initlab.analysis.empirical_ntk.kernel_movement`) under ``p["parametrization"]``:
    the kernel's rate under "ntk", that times sigma_w^2 / ``base_width`` under "mup", "sp"."""
    X, Y, _, eta = _fit_data(p)
    lr = eta if p["parametrization"] == "ntk" else eta * p["sigma_w2"] / p["base_width"]
    moved = _finite.kernel_movement(
        X, Y, width=p["width"], depth=p["hidden_layers"], init=gaussian_init(p["sigma_w2"]),
        activation=_activations.get(p["activation"]), parametrization=p["parametrization"],
        base_width=p["base_width"], learning_rate=lr, steps=p["steps"],
        sigma_b2=p["sigma_b2"], seed=p["seed"],
    )  # fmt: skip
    return {"kernel_change": moved}


def depth_part(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``depth`` rows (module docstring) of cell config `p`."""
    X = examples(p["train"], p["test"])[0][:, : p["depth_examples"]]
    act, rows = _activations.get(p["activation"]), []
    for phase, factor in (("ordered", 0.5), ("critical", 1.0), ("chaotic", 2.0)):
        w2 = factor * p["critical_sigma_w2"]
        sizes = [X.shape[0], *[p["width"]] * p["max_depth"], 1]
        k = mlp_kernels(
            X,
            layer_sizes=sizes,
            init=gaussian_init(w2),
            activation=act,
            sigma_b2=p["sigma_b2"],
            by_layer=True,
        )
        cond = [(_kr.condition_number(K), _kr.condition_number(T)) for K, T in k.layers[1:]]
        scales = _correlation.depth_scales(act, w2, p["sigma_b2"])
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
