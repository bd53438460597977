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

==================================  ==========================================================
``nn.RNN``/``LSTM``/``GRU``         ``weight_ih_l*`` per gate block (LSTM i, f, g, o; GRU r, z,
                                    n), each with one gate's fans, as Keras and Flax; recurrent
                                    ``weight_hh_l*`` per gate, orthogonal by default
                                    (``recurrent=``); biases per gate
``nn.MultiheadAttention``           packed ``in_proj_weight`` as q, k, v blocks, each
                                    ``(E, E)`` with its own fans (torch's own
                                    ``xavier_uniform_`` reads the packed ``(3E, E)``);
                                    ``out_proj`` as a Linear; ``bias_k``/``bias_v`` by rule
parametrized weights                drawn as the weight the module computes, then set through
                                    the parametrization (``module.weight = W``, its
                                    ``right_inverse``): weight norm gets ``v = W`` and
                                    ``g = ||W||`` per unit, so the computed weight is the draw;
                                    an orthogonal parametrization keeps it orthogonal. The
                                    originals are listed as "set". The hook-based
                                    ``nn.utils.weight_norm`` likewise; the hook-based
                                    ``spectral_norm``'s ``weight_orig`` is drawn as a weight.
free ``nn.Parameter`` (positions)   kept unless a rule names it (``("pos", "normal")``)
frozen (``requires_grad=False``)    kept unless ``frozen=True``
lazy / meta parameters              refused with one line, before anything is drawn
==================================  ==========================================================

A rule's glob may name any of a tied tensor's names, or one block (``"*.in_proj_weight:q"``).

**Traps** (the table's ``note`` column says them where they apply; more in
docs/initializers.md): initlab's ``xavier`` is the post's N(0, 1/fan_in), torch's
``xavier_normal_`` is initlab's ``xavier_normal`` (std sqrt(2/(fan_in+fan_out))): 0.050 vs
0.063 on Linear(400, 100); initlab's ``he_normal`` is truncated at 2 sigma (Keras), torch's
``kaiming_normal_`` is ``kaiming_normal`` (or the post's ``he``); biases become 0 where
torch draws U(+-1/sqrt(fan_in)) (``bias=None`` keeps torch's).

**Measurements without side effects.** :func:`lsuv` measures in eval mode and restores
every module's mode, every buffer and torch's random state exactly; the :class:`Recorder`
finds the layers' order the same way. Both (and :func:`apply`'s draws) run with one torch
intra-op thread and one BLAS thread (:mod:`initlab.torch._threads`), restored after, so
their numbers do not depend on the machine's thread count. The Recorder's activations are
what the model computes (the outputs of the normalization and activation modules that
follow each layer), with the residual stream per block and every parameter's gradient and
measured update ratio (:mod:`initlab.torch._diagnostics`).

What is here: :func:`apply`, :class:`InitTable`, :class:`InitRow`, :func:`fans`,
:func:`from_network`, :func:`infer_activation`, :func:`layer_order`
(:mod:`initlab.torch._apply`); :func:`lsuv` (:mod:`initlab.torch._lsuv`); :class:`Recorder`
(:mod:`initlab.torch._diagnostics`); :func:`run_record`, :func:`results`
(:mod:`initlab.torch._records`); :func:`coord_check` (:mod:`initlab.torch._coordcheck`);
:func:`audit` (:mod:`initlab.torch._audit`, an initialization audit with fixes); the schemes
of deep residual networks and Transformers in :mod:`initlab.torch.schemes`.
"""

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
from initlab.torch._params import CONV, CONV_TRANSPOSE, EMBEDDING, LAYERS, NORMS
from initlab.torch._records import results, run_record

__all__ = [
    "ACTIVATIONS",
    "CONV",
    "CONV_TRANSPOSE",
    "EMBEDDING",
    "LAYERS",
    "NORMS",
    "Audit",
    "CoordCheck",
    "InitRow",
    "InitTable",
    "ModuleLSUVReport",
    "Recorder",
    "apply",
    "audit",
    "coord_check",
    "fans",
    "from_network",
    "infer_activation",
    "layer_order",
    "lsuv",
    "results",
    "run_record",
]
