"""Reading and writing one study's JSON records: atomic writes, checked reads."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from initlab._validation import InitlabError, SpecError, check_keys, check_number
from initlab.results.provenance import provenance
from initlab.results.records import jsonable, write_atomic

SCHEMA_VERSION = 1


def write_record(path: Path, record: dict[str, Any]) -> None:
    """`record` as strict JSON (non-finite floats as null), written atomically, with the
    :func:`~initlab.results.provenance.provenance` of this process unless it has one."""
    record = {**record, "provenance": record.get("provenance") or provenance()}
    write_atomic(path, json.dumps(jsonable(record), allow_nan=False).encode("utf-8"))


def store(out_dir: str | os.PathLike, name: str, record: dict[str, Any]) -> Path:
    """`record` written (:func:`write_record`) as ``out_dir/name``; the path."""
    path = Path(out_dir) / name
    write_record(path, record)
    return path


def load(path: str | os.PathLike, name: str, fmt: str, command: str) -> dict[str, Any]:
    """:func:`read_record` of `path`, or of ``path/name`` when `path` is a directory."""
    path = Path(path)
    return read_record(path / name if path.is_dir() else path, fmt, command)


def read_record(path: Path, fmt: str, command: str) -> dict[str, Any]:
    """The record at `path`, refusing a missing, damaged or foreign file by name.

    `command` is what makes the file (named in the message when it is missing).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InitlabError(f"no results at {path}: run `{command}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InitlabError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise InitlabError(f"{path} is not an initlab file of format {fmt}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise InitlabError(
            f"{path} has schema version {data.get('schema_version')!r}; this initlab reads "
            f"{SCHEMA_VERSION}"
        )
    return data


def set_grid(config: Any, name: str, cast: type, **bounds: Any) -> None:
    """Validate a frozen study config's grid attribute `name` (non-empty; each value checked
    by :func:`check_number` with `bounds`) and store it as a tuple of `cast`."""
    values = getattr(config, name)
    if not values:
        raise InitlabError(f"{name} needs at least one value")
    checked = tuple(cast(check_number(name, v, **bounds)) for v in values)
    object.__setattr__(config, name, checked)


def config_dict(config: Any) -> dict[str, Any]:
    """A study config as plain data (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def config_spec(kind: str, config: Any, max_population: int) -> dict[str, Any]:
    """A study's spec, ``{"study": {"kind", "max_population"}, kind: config's table}``, what
    ``--write-spec`` writes as TOML and ``initlab sweep`` reads back; unset values (None) are
    left out, TOML having no null (the config's default is then taken on reading)."""
    table = {k: v for k, v in config.as_dict().items() if v is not None}
    return {"study": {"kind": kind, "max_population": max_population}, kind: table}


def integers(where: str, table: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """`table` with the values of `cls`'s integer fields (``int``, ``int | None``) checked
    to be integers, errors naming ``where.key``, and stored as ``int`` (TOML's ``2.0`` is
    2), so a study's cells, their hashes and the arrays they size hold integers."""
    found = dict(table)
    for f in fields(cls):
        if f.type in ("int", "int | None", int) and found.get(f.name) is not None:
            try:
                found[f.name] = check_number(f"{where}.{f.name}", found[f.name], integer=True)
            except InitlabError as exc:
                raise SpecError(str(exc)) from None
    return found


def config_from_table(kind: str, table: Mapping[str, Any], cls: type, lists: Sequence[str]) -> Any:
    """The study config `cls` of a study spec's ``[kind]`` table: unknown keys named, the
    grids `lists` required to be lists, integers checked (:func:`integers`), the config's
    own checks raised as :class:`~initlab._validation.SpecError` naming the table."""
    check_keys(f"[{kind}]", table, [f.name for f in fields(cls)])
    for key in lists:
        if key in table and not isinstance(table[key], list):
            raise SpecError(f"{kind}.{key} must be a list; got {table[key]!r}")
    table = integers(kind, table, cls)
    try:
        return cls(**table)
    except InitlabError as exc:
        raise SpecError(f"[{kind}] {exc}") from None
