r"""What the explorer and theory views show, computed by initlab's own engine.

- :func:`explore` runs the view's spec (:func:`initlab.playground.settings.spec_dict`, one
  iteration) with :func:`initlab.execution.runner.run`: the per-layer histograms of
  :math:`A_l` and :math:`dZ_l`, the saturated (tanh, sigmoid) or dead (ReLU) fractions and
  :math:`\operatorname{Var}(Z_l)` are the diagnostics it records at iteration 0
  (:mod:`initlab.analysis.diagnostics`), and the prediction :math:`q_l` is its mean-field
  theory (:func:`initlab.analysis.theory.predict`). So ``initlab run`` on the copied spec
  gives the same numbers.
- :func:`phase` maps :math:`\ln\chi_1` over :math:`(\sigma_w^2, \sigma_b^2)`
  (:func:`initlab.analysis.meanfield.phase_diagram`) with the critical line
  (:func:`initlab.analysis.correlation.critical_line`); :func:`point` gives one point's
  correlation map :math:`c_{l+1} = C(c_l)`, :math:`c^*`, :math:`\xi_c` and the other depth
  scales (:func:`initlab.analysis.correlation.depth_scales`), and its distance to the
  critical line along :math:`\sigma_w^2`.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np

from initlab._validation import InitlabError
from initlab.analysis import correlation as _corr
from initlab.analysis import meanfield as _mf
from initlab.execution import runner as _runner
from initlab.execution.population import ExperimentData
from initlab.nn import activations as _activations
from initlab.playground import datasets as _datasets
from initlab.playground import settings as _settings
from initlab.playground.settings import Settings

PHASE_GRID = (64, 40)
"""Points of the phase diagram along sigma_w^2 and sigma_b^2."""
SB2_MAX = 1.0


def explore(settings: Settings) -> dict[str, Any]:
    """The explorer's measurements and predictions for `settings` (see the module docstring)."""
    t0 = time.perf_counter()
    train, _ = _datasets.source(settings)
    spec = _settings.validate_spec(_settings.spec_dict(settings, train))
    ds = _datasets.load(settings)
    _settings.check_size(settings, ds.n_features, ds.n_examples)
    result = _runner.run(spec, data=ExperimentData(ds, None), jobs=1)
    runs = [_explored(rec) for rec in result["runs"]]
    return {
        "data": {"name": ds.name, "n_features": ds.n_features, "n_examples": ds.n_examples,
                 "input_second_moment": float(np.vdot(ds.X, ds.X)) / ds.X.size},
        "layer_sizes": result["runs"][0]["layer_sizes"],
        "runs": runs,
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def _explored(rec: dict[str, Any]) -> dict[str, Any]:
    d, th = rec["diagnostics"], rec["theory"]
    var = [None if s is None else s * s for s in (row[0] for row in d["z_std"])]
    return {
        "name": rec["name"],
        "cost": d["cost"][0],
        "var_z": var,
        "saturated": [row[0] for row in d["saturated"]],
        "distinct_units": [row[0] for row in d["distinct_units"]],
        "histograms": {kind: d["histograms"]["first"][kind] for kind in ("A", "dZ")},
        "theory": (
            {"available": True, "q": th["q"], "sigma_w2": th["sigma_w2"]}
            if th and th["available"]
            else {"available": False, "reason": (th or {}).get("reason", "not computed")}
        ),
    }


def sw2_range(activation: str) -> float:
    """The largest sigma_w^2 of the diagram: 2.5 times the critical one at sigma_b^2 = 0."""
    crit = _mf.critical_sigma_w2(activation, 0.0)
    return float(max(4.0, 2.5 * crit)) if math.isfinite(crit) else 4.0


@functools.lru_cache(maxsize=len(_activations.HIDDEN))
def phase(activation: str) -> dict[str, Any]:
    r""":math:`\ln\chi_1` on a grid, ``ln_chi[j][i]`` at ``sigma_b2[j], sigma_w2[i]``, and
    the critical line :math:`\chi_1 = 1` (``null`` where it does not exist). Computed once
    per activation (a second or two) and kept: callers must not modify the result."""
    top = sw2_range(activation)
    nw, nb = PHASE_GRID
    w2 = np.linspace(top / nw, top, nw)
    b2 = np.linspace(0.0, SB2_MAX, nb)
    chi = np.asarray(_mf.phase_diagram(activation, w2, b2), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_chi = np.log(chi)
    line = _corr.critical_line(activation, list(b2))
    return {
        "activation": activation,
        "sigma_w2": w2.tolist(),
        "sigma_b2": b2.tolist(),
        "ln_chi": [[_finite(x) for x in row] for row in ln_chi],
        "critical": [[_finite(p.sigma_w2), p.sigma_b2] for p in line],
        "tolerance": _mf.CRITICAL_TOL,
    }


def point(activation: str, sigma_w2: float, sigma_b2: float) -> dict[str, Any]:
    """One point of the diagram: its depth scales, correlation map and critical distance."""
    try:
        scales = _corr.depth_scales(activation, sigma_w2, sigma_b2).as_dict()
    except ArithmeticError as exc:
        raise InitlabError(f"sw2 = {sigma_w2:g}, sb2 = {sigma_b2:g}: the mean-field maps "
                           f"cannot be evaluated there ({exc})") from None  # fmt: skip
    c = np.linspace(-1.0, 1.0, 81)
    c_out = np.asarray(_corr.correlation_map(activation, sigma_w2, sigma_b2, c), dtype=float)
    crit = _mf.critical_sigma_w2(activation, sigma_b2)
    return {
        **{k: _scalar(v) for k, v in scales.items()},
        "c": c.tolist(),
        "c_out": [_finite(x) for x in c_out],
        "critical_sigma_w2": _finite(crit),
        "distance": _finite(sigma_w2 - crit),
    }


def _scalar(x: Any) -> Any:
    """A JSON-ready number: inf as the string "inf" (a depth scale without decay), NaN None."""
    if not isinstance(x, float) or math.isfinite(x):
        return x
    return None if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
