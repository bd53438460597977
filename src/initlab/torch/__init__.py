r"""initlab for PyTorch modules: apply a catalogue scheme, LSUV, diagnostics, coordinate checks.

An optional bridge (``pip install "initlab[torch]"``): nothing else in initlab imports torch.

**Values.** Every value is drawn by initlab's own catalogue (:mod:`initlab.init.catalogue`) in
float64 from one numpy generator, parameter after parameter in ``module.named_parameters()``
order, then copied into the parameter (cast to its dtype) under ``torch.no_grad()``. So a
scheme means here exactly what ``initlab inits`` says it means, and a seed gives the same
numbers as initlab's own networks of the same shapes.

**Fans** follow PyTorch's convention, :func:`initlab.init.catalogue.compute_fans` on the raw
weight shape, which equals ``torch.nn.init._calculate_fan_in_and_fan_out`` for every layer
type (the tests hold it):

=======================  ============================  ==========================  ===========
layer                    weight shape                  fan_in                      fan_out
=======================  ============================  ==========================  ===========
Linear                   (out, in)                     in                          out
Conv1d/2d/3d             (out, in/groups, *k)          in/groups * prod(k)         out * prod(k)
ConvTranspose1d/2d/3d    (in, out/groups, *k)          out/groups * prod(k)        in * prod(k)
Embedding                (num_embeddings, dim)         dim                         num_embeddings
=======================  ============================  ==========================  ===========

A ConvTranspose weight is stored transposed, ``(in, out/groups, *k)``, so PyTorch's (and
initlab's) "fan_in" of it counts *output* channels: ``kaiming_*`` in ``fan_in`` mode scales it
as PyTorch's own ``kaiming_*_`` would, not by the number of inputs a transposed-convolution
output actually sums (use ``mode="fan_out"`` for that).

**Every parameter covered or named** (:func:`apply`, :mod:`initlab.torch._params`). The
returned :class:`InitTable` has a row for every parameter: drawn (scheme, fans, the scheme's
variance, the std now held) or kept, with the reason (normalization, frozen, a free
parameter no rule names, ``bias=None``, ...); tied tensors are drawn once and list their
other names. Beyond the table above:

==================================  ==================================================="""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "initlab.torch needs PyTorch (any torch >= 2.0, a CPU-only build is enough): "
        'pip install "initlab[torch]"'
    ) from exc

from initlab.torch._apply import (
    ACTIVATIONS,
    InitRow,
    InitTable,
    apply,
    fans,
    from_network,
    infer_activation,
    layer_order,
)
from initlab.torch._audit import Audit, audit
from initlab.torch._coordcheck import CoordCheck, coord_check
from initlab.torch._diagnostics import Recorder
from initlab.torch._lsuv import ModuleLSUVReport, lsuv
from initlab.torch._mup import (
    Residual,
    make_optimizer,
    param_groups,
    parametrization_of,
    parametrize,
)
from initlab.torch._params import CONV, CONV_TRANSPOSE, EMBEDDING, LAYERS, NORMS
from initlab.torch._records import results, run_record
from initlab.torch._shapes import BaseShapes, base_shapes
from initlab.torch._transfer import lr_transfer

__all__ = [
    "ACTIVATIONS",
    "CONV",
    "CONV_TRANSPOSE",
    "EMBEDDING",
    "LAYERS",
    "NORMS",
    "Audit",
    "BaseShapes",
    "CoordCheck",
    "InitRow",
    "InitTable",
    "ModuleLSUVReport",
    "Recorder",
    "Residual",
    "apply",
    "audit",
    "base_shapes",
    "coord_check",
    "fans",
    "from_network",
    "infer_activation",
    "layer_order",
    "lr_transfer",
    "lsuv",
    "make_optimizer",
    "param_groups",
    "parametrization_of",
    "parametrize",
    "results",
    "run_record",
]
