"""Input checks at the boundary, with one message style.

Every check raises :class:`initlab.InitlabError` subclasses (which are ``ValueError``) with a
message that names the parameter, says what was expected and what was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


class InitlabError(ValueError):
    """Base class of initlab's input errors."""


class SpecError(InitlabError):
    """An invalid experiment or sweep specification."""


class DataError(InitlabError):
    """A data file or array that cannot be used."""


MAX_VALUE = 200
"""Characters of a value quoted in an error message."""


def shorten(value: Any, limit: int = MAX_VALUE) -> str:
    """``repr(value)``, cut to `limit` characters with the total length said."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> InitlabError:
    """Error for a name not in a registry, listing the valid names."""
    return InitlabError(
        f"unknown {kind} {shorten(name)}; valid {kind}s are: {', '.join(sorted(valid))}"
    )


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
) -> float | int:
    """Return `value` if it is a finite real number within the given bounds.

    Parameters
    ----------
    name : str
        The parameter's name, used in the message.
    low, high : float, optional
        Bounds; closed unless `low_open` / `high_open`.
    integer : bool
        Require an integer.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        import numpy as np

        if not isinstance(value, np.integer | np.floating):
            kind = "an integer" if integer else "a number"
            raise InitlabError(f"{name} must be {kind}; got {shorten(value)}")
    shown = value.item() if hasattr(value, "item") else value  # 2.0, not np.float64(2.0)
    try:
        float(value)
    except OverflowError:  # an integer beyond float64's range
        digits = math.ceil(int(value).bit_length() * math.log10(2))
        msg = f"{name} must be finite; got an integer of about {digits:,} digits"
        raise InitlabError(msg) from None
    if integer and not float(value).is_integer():
        raise InitlabError(f"{name} must be an integer; got {shown!r}")
    if not math.isfinite(float(value)):
        raise InitlabError(f"{name} must be finite; got {shown!r}")
    if low is not None and (value <= low if low_open else value < low):
        op = ">" if low_open else ">="
        raise InitlabError(f"{name} must be {op} {low}; got {shown!r}")
    if high is not None and (value >= high if high_open else value > high):
        op = "<" if high_open else "<="
        raise InitlabError(f"{name} must be {op} {high}; got {shown!r}")
    return int(value) if integer else value


def check_keys(where: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject keys of `table` that are not in `allowed`, naming `where` they were found."""
    allowed = set(allowed)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(
            f"unknown key {unknown[0]!r} in {where}; allowed keys are: {', '.join(sorted(allowed))}"
        )
