"""Labels shared by tables, stores and figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def init_label(name: str, params: Mapping[str, Any]) -> str:
    """``"random(scale=10)"``: an init name with its parameters, for tables and figures."""
    if not params:
        return name
    text = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items())
    )
    return f"{name}({text})"


def common_width(hidden: Sequence[int]) -> int | None:
    """The one width of hidden layers all of a width (a sweep's ``width`` axis), else None."""
    return int(hidden[0]) if hidden and len(set(hidden)) == 1 else None


def scaling_columns(hidden: Sequence[int], model: Mapping[str, Any]) -> dict[str, Any]:
    """``parametrization`` and ``width`` of a row, from its hidden widths and its config
    (a run config or a ``[model]`` table; without the key, SP: written before the key)."""
    return {"parametrization": model.get("parametrization") or "sp",
            "width": common_width(hidden)}  # fmt: skip
