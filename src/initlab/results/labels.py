"""Labels shared by tables, stores and figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def init_label(name: str, params: Mapping[str, Any]) -> str:
    """``"random(scale=10)"``: an init name with its parameters, for tables and figures."""
    if not params:
        return name
    text = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items())
    )
    return f"{name}({text})"
