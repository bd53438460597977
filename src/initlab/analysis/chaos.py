r"""Chaos measured by shadow twins: how far a run's digits can be trusted.

A *twin* of a network is a copy whose every weight matrix is perturbed by a tiny relative
amount,

.. math::

    W_l^{(j)} = W_l \odot (1 + \varepsilon U_l^{(j)}), \qquad
    U_l^{(j)} \sim \mathcal U(-1, 1) \text{ elementwise}, \quad \varepsilon = 10^{-12},

drawn from the twin's own generator ``numpy.random.default_rng((TWIN_KEY, seed, j))``
(:func:`twin_rng`; `seed` is the run's seed, ``j = 1, 2, ...`` the twin), so a twin depends
only on its run and its number. Biases are not perturbed (the post's are 0). A relative
perturbation of :math:`10^{-12}` is about 4500 float64 roundings: the size of the
difference another BLAS kernel makes to a product after a few steps. (Uniform, not
normal, draws: the direction hardly matters to a chaotic trajectory, and they cost a
quarter as much: 2 ms for the post's 337,500 first-layer weights.)

A twin *parts* from its run at the first step :math:`i` where their costs differ by more
than :math:`\tau = 10^{-6}` relative (:func:`parting_step`):

.. math::

    |J^{(j)}_i - J_i| > \tau \max(|J_i|, |J^{(j)}_i|),

or where one is finite and the other not (one diverged). A run is *chaotic* when a twin
parts from it within the run: its trajectory amplified a :math:`10^{-12}` difference by
at least :math:`10^6`, so the digits it ends with depend on the machine's rounding, and
its outcome is one draw of a distribution (the run's and its twins' outcomes sample it).
A run that is not chaotic keeps its digits to about :math:`10^{-6}` relative under such a
rounding change; exactly zero weights stay zero (the perturbation is relative).

float32. A float32 weight holds about 7 digits: :math:`10^{-12}` would round away and the
twin would be the run itself. In float32 twins are perturbed by :math:`10^{-5}` (about 80
float32 roundings) and part beyond :math:`10^{-2}`: an amplification of :math:`10^3`
(:func:`twin_eps`, :func:`twin_tol`), all float32 can resolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TWIN_EPS = 1e-12
r"""Relative size :math:`\varepsilon` of a twin's perturbation of every weight."""
TWIN_TOL = 1e-6
r"""Relative cost difference :math:`\tau` beyond which a twin has parted from its run."""
TWIN_KEY = 0x7717
"""First word of every twin's seed sequence, keeping twins' draws apart from runs' streams."""
SYMBOL = "†"
"""The mark of a chaotic run in tables, results.json, the sweep store's rows and reports."""


def legend(eps: float = TWIN_EPS, tol: float = TWIN_TOL) -> str:
    """The one-line legend printed under every table that marks chaotic runs."""
    return (
        f"{SYMBOL} chaotic: a twin whose weights were perturbed by {eps:g} (relative) parted "
        f"from the run by more than {tol:g} (relative cost); its digits are one draw of a "
        "distribution and differ across machines"
    )


LEGEND = legend()
"""The legend of float64 runs."""


_BY_DTYPE = {"float64": (TWIN_EPS, TWIN_TOL), "float32": (1e-5, 1e-2)}


def twin_eps(dtype: str | np.dtype = "float64") -> float:
    r""":math:`\varepsilon` for weights of `dtype` (see the module docstring)."""
    return _BY_DTYPE[np.dtype(dtype).name][0]


def twin_tol(dtype: str | np.dtype = "float64") -> float:
    r""":math:`\tau` for costs computed in `dtype` (see the module docstring)."""
    return _BY_DTYPE[np.dtype(dtype).name][1]


def twin_rng(seed: int, j: int) -> np.random.Generator:
    """The generator of twin `j` (1, 2, ...) of the run with seed `seed`."""
    return np.random.default_rng((TWIN_KEY, int(seed), int(j)))


def perturb(weights: Sequence[np.ndarray], rng: np.random.Generator,
            eps: float | None = None) -> list[np.ndarray]:  # fmt: skip
    r"""Copies of `weights` (each ``(n_l, n_{l-1})``, float64 or float32) multiplied
    elementwise by :math:`1 + \varepsilon u`, :math:`u \sim \mathcal U(-1, 1)` from
    ``rng.random`` (:math:`u = 2r - 1`), layer by layer in order; the dtype of each is kept.
    `eps` defaults to :func:`twin_eps` of the weights' dtype."""
    out = []
    for W in weights:
        eps = twin_eps(W.dtype) if eps is None else eps
        f = rng.random(W.shape)  # r in [0, 1): the factor 1 + eps (2 r - 1), in place
        f *= 2.0 * eps
        f += 1.0 - eps
        f *= W
        out.append(f.astype(W.dtype, copy=False))
    return out


def parting_step(run: np.ndarray, twin: np.ndarray, tol: float = TWIN_TOL) -> int | None:
    r"""The first index where the cost sequences `run` and `twin` (same length) part
    beyond `tol` (relative; see the module docstring), or None if they never do.

    NaN marks a member that diverged before (its later costs): NaN in both is agreement,
    NaN in one only is parting.
    """
    a, b = np.asarray(run, dtype=np.float64), np.asarray(twin, dtype=np.float64)
    fa, fb = np.isfinite(a), np.isfinite(b)
    with np.errstate(invalid="ignore", over="ignore"):
        scale = np.maximum(np.abs(a), np.abs(b))
        apart = np.where(fa & fb, np.abs(a - b) > tol * scale, fa != fb)
    hits = np.flatnonzero(apart)
    return int(hits[0]) if hits.size else None


def twin_summary(
    costs: np.ndarray, final_cost: np.ndarray, final_accuracy: np.ndarray,
    dtype: str = "float64",
) -> dict[str, object]:  # fmt: skip
    r"""What a run's twins say about it.

    Parameters
    ----------
    costs : ndarray (1 + n, T)
        Cost histories, the run's first, then its n >= 1 twins'.
    final_cost, final_accuracy : ndarray (1 + n,)
        The final cost and accuracy of the run and of each twin (NaN: diverged, or no
        accuracy for this head).
    dtype : str
        The training's dtype (:func:`twin_eps`, :func:`twin_tol`).

    Returns
    -------
    dict
        ``n``, ``eps``, ``tol``; per twin ``parted_at`` (the step, :math:`T` for the final
        cost only, or None), ``final_cost`` and ``final_accuracy``; ``first_parted_at``
        (the earliest, or None) and ``chaotic`` (whether any twin parted).
    """
    full = np.column_stack([costs, final_cost])  # the final cost is step T's
    tol = twin_tol(dtype)
    parted = [parting_step(full[0], full[j], tol) for j in range(1, full.shape[0])]
    hits = [p for p in parted if p is not None]
    return {
        "n": len(parted),
        "eps": twin_eps(dtype),
        "tol": tol,
        "parted_at": parted,
        "final_cost": [_value(v) for v in final_cost[1:]],
        "final_accuracy": [_value(v) for v in final_accuracy[1:]],
        "first_parted_at": min(hits) if hits else None,
        "chaotic": bool(hits),
    }


def _value(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
