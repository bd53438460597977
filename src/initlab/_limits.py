r"""Limits checked before any work: memory, compute, files, option values, nesting.

One place for the guards every command goes through (issue 21), so the same guarantees hold
everywhere:

- :func:`check_memory` refuses an allocation that scales with user input when its estimate
  exceeds :func:`memory_limit`: the memory available now, or ``INITLAB_MAX_MEMORY``
  (``initlab --max-memory``) when set. The message gives the estimate and the limit.
- :func:`check_work` refuses a computation whose floating-point operations would take more
  than :data:`MAX_SECONDS` at :data:`FLOPS` (a generous single-core rate), so a typo such as
  ``--depths 1000000`` is one line instead of a job that never ends.
- :func:`regular_file` / :func:`open_regular` / :func:`read_bounded`: initlab reads regular
  files only; a FIFO, a device or a socket is refused by name (``os.stat`` and an
  ``O_NONBLOCK`` open never wait for a writer), and a read stops at a bound.
- :class:`Rule` and :func:`check_options`: the documented range of each command-line option
  as data (finite, sign, integer, bounds); an explicit 0 is checked like any other value,
  never replaced by a default.
- :func:`check_nesting`: a parsed spec (TOML) nested deeper than :data:`MAX_NESTING` or
  holding an integer beyond 64 bits is refused before anything recurses over it.
- :func:`shorten` and :func:`clip`: a value quoted in a message is cut to :data:`MAX_VALUE`
  characters, a whole error line to :data:`MAX_LINE`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from initlab._validation import MAX_VALUE as MAX_VALUE
from initlab._validation import InitlabError, check_number
from initlab._validation import shorten as shorten

MAX_LINE = 1000
"""Characters of a whole error line."""
MAX_NESTING = 32
"""Deepest nesting of arrays and tables a spec may have."""
MAX_INT = 2**63 - 1
"""Largest integer a spec may hold (int64)."""
FLOPS = 1e10
"""Operations per second assumed by :func:`check_work` (generous for one core)."""
MAX_SECONDS = 3600.0
"""Longest computation :func:`check_work` lets a command start without asking: one hour."""
MEMORY_ENV = "INITLAB_MAX_MEMORY"
"""Environment variable overriding the memory limit (bytes, or with a K/M/G/T suffix)."""


# --------------------------------------------------------------------------- messages


def clip(line: str, limit: int = MAX_LINE) -> str:
    """One line: the first line of `line`'s text, cut to `limit` characters."""
    line = " ".join(line.split("\n"))
    return line if len(line) <= limit else f"{line[:limit]}... (cut at {limit} characters)"


# --------------------------------------------------------------------------- memory


def size_text(n: float) -> str:
    """Bytes in GiB, MiB or EiB, readable at any size."""
    for unit, power in (("EiB", 60), ("PiB", 50), ("TiB", 40), ("GiB", 30)):
        if n >= 2**power:
            return f"{n / 2**power:,.1f} {unit}"
    return f"{n / 2**20:,.1f} MiB"


def parse_memory(text: str, option: str = "--max-memory") -> int:
    """``"8G"``, ``"512M"``, ``"1.5T"`` or a byte count, as bytes (powers of 1024)."""
    units = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    body = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    suffix = body[-1:] if body[-1:] in units else ""
    try:
        value = float(body[: len(body) - len(suffix)])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InitlabError(
            f"{option} must be a positive size such as 8G, 512M or 1000000000; got {shorten(text)}"
        )
    return int(value * units[suffix])


def available_bytes() -> int | None:
    """Memory the system can give now: psutil's ``available``, else Linux's MemAvailable,
    else free pages (``os.sysconf``); None if none of these can tell."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit(available: int | None = None) -> tuple[int | None, bool]:
    """``(bytes, given)``: ``INITLAB_MAX_MEMORY`` if set (`given` true), else `available`
    (default :func:`available_bytes`)."""
    text = os.environ.get(MEMORY_ENV)
    if text:
        return parse_memory(text, f"{MEMORY_ENV} (--max-memory)"), True
    return (available_bytes() if available is None else available), False


@contextlib.contextmanager
def max_memory(text: str | None) -> Iterator[None]:
    """Within the block, :func:`memory_limit` is `text` (``--max-memory``; None: unchanged).

    The limit travels in ``INITLAB_MAX_MEMORY``, so worker processes see it too; the
    variable is restored on exit.
    """
    if text is None:
        yield
        return
    before = os.environ.get(MEMORY_ENV)
    os.environ[MEMORY_ENV] = str(parse_memory(text))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MEMORY_ENV, None)
        else:
            os.environ[MEMORY_ENV] = before


def check_memory(need: float, what: str, hint: str = "", available: int | None = None) -> None:
    """Refuse `what` if its estimated `need` (bytes) exceeds :func:`memory_limit`.

    Raises
    ------
    InitlabError
        ``"<what> needs about 6.9 EiB of memory and 7.5 GiB is available: refused before
        any work (...). <hint>"``
    """
    have, given = memory_limit(available)
    if have is None or need <= have:
        return
    if given:
        where = f", more than the limit of {size_text(have)} (--max-memory, {MEMORY_ENV})"
    else:
        where = f" and {size_text(have)} is available"
    note = "" if given else f" (--max-memory or {MEMORY_ENV} sets another limit)"
    raise InitlabError(
        f"{what} needs about {size_text(need)} of memory{where}: refused before any "
        f"work{note}. {hint}".rstrip()
    )


def check_work(flops: float, what: str, hint: str = "") -> None:
    """Refuse `what` if `flops` operations would take more than :data:`MAX_SECONDS`."""
    seconds = flops / FLOPS
    if seconds > MAX_SECONDS:
        raise InitlabError(
            f"{what} needs about {flops:.2g} floating-point operations, {seconds / 3600:,.0f} "
            f"hours at {FLOPS:.0e} per second (more than {MAX_SECONDS / 3600:g} hour): refused "
            f"before any work. {hint}".rstrip()
        )


# --------------------------------------------------------------------------- files


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def kind_of(mode: int) -> str | None:
    """``"a FIFO (named pipe)"``, ...: what a file of `mode` is, None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse(path: Path, kind: str, what: str) -> InitlabError:
    return InitlabError(
        f"{what} {shorten(str(path))} is {kind}, not a regular file: initlab reads regular "
        "files only"
    )


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` if it is a regular file (symbolic links followed); never opens it.

    Raises
    ------
    InitlabError
        Naming `what` and the path, if it does not exist or is a FIFO, device, socket or
        directory.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InitlabError(f"{what} {shorten(str(path))}: {exc.strerror or exc}") from None
    kind = kind_of(mode)
    if kind is not None:
        raise _refuse(path, kind, what)
    return path


def open_regular(path: str | os.PathLike, what: str = "file") -> IO[bytes]:
    """Open `path` for binary reading if it is a regular file, without ever blocking.

    The file is opened with ``O_NONBLOCK`` (a FIFO without a writer does not wait) and
    checked with ``fstat`` on the open descriptor, so a file swapped after a check cannot
    slip through.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InitlabError(f"{what} {shorten(str(path))}: {exc.strerror or exc}") from None
    kind = kind_of(os.fstat(fd).st_mode)
    if kind is not None:
        os.close(fd)
        raise _refuse(path, kind, what)
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_bounded(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of regular file `path`, refused if it holds more than `limit` bytes."""
    with open_regular(path, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InitlabError(
            f"{what} {shorten(str(path))} is larger than {size_text(limit)}; initlab reads at "
            "most that much of it"
        )
    return data


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Rule:
    """The documented range of one option: bounds (closed unless ``*_open``), integer."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def check(self, name: str, value: Any) -> Any:
        return check_number(
            name, value, low=self.low, high=self.high, low_open=self.low_open,
            high_open=self.high_open, integer=self.integer,
        )  # fmt: skip


POSITIVE_INT = Rule(low=1, integer=True)
NATURAL = Rule(low=0, integer=True)
POSITIVE = Rule(low=0, low_open=True)
NONNEGATIVE = Rule(low=0)
FINITE = Rule()


def option_name(dest: str) -> str:
    """``"sigma_w2"`` -> ``"--sigma-w2"``."""
    return "--" + dest.replace("_", "-")


def check_options(args: argparse.Namespace, rules: Mapping[str, Rule]) -> None:
    """Check each option of `rules` that was given (not None), element by element for lists.

    Raises
    ------
    InitlabError
        ``"--width must be >= 1; got 0"``: the option as typed, the value, the range.
    """
    for dest, rule in rules.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        name = option_name(dest)
        if isinstance(value, list | tuple):
            for v in value:
                rule.check(name, v)
        else:
            rule.check(name, value)


# --------------------------------------------------------------------------- specs


def check_nesting(obj: Any, where: str = "the spec", limit: int = MAX_NESTING) -> None:
    """Refuse a parsed spec nested deeper than `limit` or holding an integer beyond int64.

    Walks iteratively, so a deep object cannot overflow the stack here.
    """
    stack: list[tuple[Any, int, str]] = [(obj, 0, "")]
    while stack:
        value, depth, key = stack.pop()
        if depth > limit:
            raise InitlabError(
                f"{where}: {key.lstrip('.') or 'a value'} is nested more than {limit} arrays "
                "or tables deep"
            )
        if isinstance(value, Mapping):
            stack += [(v, depth + 1, f"{key}.{k}") for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, depth + 1, f"{key}[{i}]") for i, v in enumerate(value)]
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            digits = math.ceil(value.bit_length() * math.log10(2))
            raise InitlabError(
                f"{where}: {key.lstrip('.')} is an integer of about {digits:,} digits; numbers "
                f"must be at most {MAX_INT} (64-bit)"
            )
