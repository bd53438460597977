r""" "Copy as spec": each view as the TOML experiment that ``initlab run`` reproduces.

- explorer: the view's network and inits, trained for one iteration; ``results.json`` then
  holds, per run, the histograms of iteration 0 (``diagnostics.histograms.first``), the
  saturated fractions and ``theory.q``: the numbers the page showed;
- training: the view's population (seeds ``seed .. seed + N - 1``); chaos replicas are not
  a spec key, so that spec trains replica 0 (the unperturbed one) of each init;
- theory: a network whose weights have :math:`\sigma_w^2 = n_{in}\operatorname{Var}(W)`
  equal to the clicked point's (``variance_scaling``, fan_in, untruncated normal);
  ``results.json``'s ``theory.depth_scales`` gives :math:`q^*, \chi_1, c^*, \xi_c` at
  :math:`\sigma_b^2 = 0`, initlab's zero biases.

A generated input (Gaussian, circles, moons, spirals) is named as an ``.npz`` file; the
header says how to write it (the page's data link, or
:func:`initlab.playground.datasets.write_npz`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from initlab.playground import datasets as _datasets
from initlab.playground import settings as _settings
from initlab.playground.settings import Settings

THEORY_NETWORK = {"depth": 5, "width": 100}
"""The network a theory view's spec builds (on the bundled digits)."""


def spec_dict(s: Settings) -> dict[str, Any]:
    """The raw spec of view `s` (tables as :func:`initlab.specs.spec.parse` reads)."""
    if s.view == "theory":
        init = {"name": "variance_scaling", "scale": s["sw2"], "mode": "fan_in",
                "distribution": "normal"}  # fmt: skip
        explorer = _settings.parse({"view": "explorer", "activation": s["activation"],
                                    "input": "digits", "inits": "he",
                                    **{k: str(v) for k, v in THEORY_NETWORK.items()}})  # fmt: skip
        raw = _settings.spec_dict(explorer, "digits")
        raw["runs"] = [{"name": f"sigma_w2 = {s['sw2']:g}", "init": init}]
        return raw
    return _settings.spec_dict(s, _datasets.source(s)[0])


def toml(s: Settings, base_url: str = "http://127.0.0.1/") -> str:
    """View `s` as a commented TOML spec; validated by the CLI's own checks first."""
    raw = spec_dict(s)
    _settings.validate_spec(raw)
    return _settings.to_toml(raw, _header(s, raw, base_url))


def _header(s: Settings, raw: dict[str, Any], base_url: str) -> str:
    link = f"{base_url}?{urlencode(s.query)}"
    lines = [f"initlab playground, {s.view} view: {link}",
             "Run:  initlab run this.toml --out out/playground"]  # fmt: skip
    if s.view == "theory":
        lines += [
            f"theory at sigma_w^2 = {s['sw2']:g}: results.json runs[0].theory.depth_scales "
            "holds q*, chi_1, c*, xi_c at sigma_b^2 = 0",
        ]
        if s["sb2"] != 0:
            lines.append(f"(initlab's networks have zero biases: the page's sigma_b^2 = "
                         f"{s['sb2']:g} is not in this spec)")  # fmt: skip
    elif s.view == "explorer":
        lines.append("one iteration: results.json holds each run's histograms at iteration 0 "
                     "(diagnostics.histograms.first) and theory.q")  # fmt: skip
    elif s["mode"] == "replicas":
        lines.append("chaos replicas are not a spec key: this spec trains replica 0 (seed "
                     f"{s['seed']}) of each init")  # fmt: skip
    if s.view != "theory" and _datasets.source(s)[1]:
        v = s.values
        name = raw["data"]["train"]
        query = urlencode(
            {
                k: w
                for k, w in s.query.items()
                if k in ("view", "input", "examples", "noise", "data_seed", "width")
            }
        )
        lines += [
            f"data: save {base_url}api/data.npz?{query} as {name} beside this file, or:",
            f"  python -c \"from initlab.playground.datasets import write_npz; write_npz("
            f"'{name}', '{v['input']}', {v['examples']}, {v['noise']!r}, {v['data_seed']}, "
            f"{v['width']})\"",
        ]  # fmt: skip
    return "\n".join(lines)
