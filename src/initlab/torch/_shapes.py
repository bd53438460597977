r"""Base shapes of a torch module: which dimension of each parameter grows with the width.

:class:`BaseShapes` is data, ``mup``'s base-shape file in JSON: for every parameter name, the
base size of each infinite dimension and None for each finite one. :func:`base_shapes` reads
them off a base model and a model that differs from it only in its widths (``mup``'s
``base`` and ``delta``); :func:`tensor_widths` matches them to a model of any width and
classifies each tensor (fixed, vector-like, matrix-like, readout) as
:mod:`initlab.torch._mup` documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from initlab._validation import InitlabError
from initlab.results.records import write_atomic


@dataclass(frozen=True)
class BaseShapes:
    """``dims[name]``: each dimension's base size, or None for a finite dimension."""

    dims: Mapping[str, tuple[int | None, ...]]

    def to_dict(self) -> dict[str, list[int | None]]:
        return {k: list(v) for k, v in self.dims.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Sequence[int | None]]) -> BaseShapes:
        dims = {}
        for name, v in d.items():
            if not all(x is None or (isinstance(x, int) and x > 0) for x in v):
                raise InitlabError(f"base shape of {name!r}: expected positive ints or None; "
                                   f"got {list(v)}")  # fmt: skip
            dims[str(name)] = tuple(v)
        return cls(dims)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        write_atomic(path, json.dumps({"kind": "base-shapes", "dims": self.to_dict()}).encode())
        return path

    @classmethod
    def load(cls, path: str | Path) -> BaseShapes:
        doc = json.loads(Path(path).read_text())
        if doc.get("kind") != "base-shapes":
            raise InitlabError(f"{path} is not an initlab base-shapes file")
        return cls.from_dict(doc["dims"])


def _shapes(x: nn.Module | Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
    if isinstance(x, nn.Module):
        return {k: tuple(p.shape) for k, p in x.named_parameters()}
    return {k: tuple(int(d) for d in v) for k, v in x.items()}


def base_shapes(
    base: nn.Module | Mapping[str, Sequence[int]], delta: nn.Module | Mapping[str, Sequence[int]]
) -> BaseShapes:
    """Base shapes from a base model and a model that differs from it only in its widths:
    a dimension is infinite where the two differ, and its base size is `base`'s."""
    b, d = _shapes(base), _shapes(delta)
    if set(b) != set(d):
        raise InitlabError(
            f"base and delta have different parameters: only in base "
            f"{sorted(set(b) - set(d))}, only in delta {sorted(set(d) - set(b))}"
        )
    dims = {}
    for name, shape in b.items():
        if len(shape) != len(d[name]):
            raise InitlabError(f"{name}: base shape {shape} and delta shape {d[name]} differ "
                               "in their number of dimensions")  # fmt: skip
        dims[name] = tuple(None if x == y else x for x, y in zip(shape, d[name], strict=True))
    return BaseShapes(dims)


@dataclass(frozen=True)
class TensorWidth:
    """One parameter's shape against its base shape; ``role`` is fixed, vector, matrix or
    readout (the weight of a readout ``Linear``)."""

    name: str
    shape: tuple[int, ...]
    base: tuple[int | None, ...]
    role: str

    @property
    def mults(self) -> tuple[float, ...]:
        return tuple(
            1.0 if b is None else n / b for n, b in zip(self.shape, self.base, strict=True)
        )

    @property
    def infinite(self) -> list[int]:
        return [i for i, b in enumerate(self.base) if b is not None]

    @property
    def fan_in(self) -> float:
        """:math:`r_{in}`: the multiplier of the last infinite dimension (1 if none)."""
        inf = self.infinite
        return self.mults[inf[-1]] if inf else 1.0

    @property
    def fan_out(self) -> float:
        """:math:`r_{out}`: the multiplier of the first infinite dimension (1 if none)."""
        inf = self.infinite
        return self.mults[inf[0]] if inf else 1.0


def tensor_widths(model: nn.Module, shapes: BaseShapes) -> dict[str, TensorWidth]:
    params = dict(model.named_parameters())
    missing, extra = sorted(set(params) - set(shapes.dims)), sorted(set(shapes.dims) - set(params))
    if missing or extra:
        raise InitlabError(
            f"base shapes do not match the model's parameters: missing {missing}, extra {extra}"
        )
    readout_ids = {id(m.weight) for m in readouts(model, shapes)}
    out = {}
    for name, p in params.items():
        base = shapes.dims[name]
        if len(base) != p.dim():
            raise InitlabError(f"{name}: base shape {list(base)} for a tensor of shape "
                               f"{tuple(p.shape)}")  # fmt: skip
        n_inf = sum(b is not None for b in base)
        if n_inf > 2:
            raise InitlabError(f"{name}: {n_inf} infinite dimensions; at most 2 are supported")
        role = ("readout" if id(p) in readout_ids else
                ("fixed", "vector", "matrix")[n_inf])  # fmt: skip
        out[name] = TensorWidth(name, tuple(p.shape), base, role)
    return out


def readouts(model: nn.Module, shapes: BaseShapes) -> list[nn.Linear]:
    """``Linear`` modules whose weight has a finite fan-out and an infinite fan-in."""
    by_id = {id(p): shapes.dims.get(k) for k, p in model.named_parameters()}
    found = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            base = by_id.get(id(m.weight))
            if base is not None and base[0] is None and base[1] is not None:
                found.append(m)
    return found
