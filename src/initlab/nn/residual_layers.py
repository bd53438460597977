r"""The weight layers of a residual MLP as the diagnostics read them: :func:`layers`, behind
:meth:`initlab.nn.residual.ResMLP.layers` (:class:`~initlab.nn.history.Layers`,
:class:`~initlab.analysis.diagnostics.Recorder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from initlab.nn.history import Layers

Array = np.ndarray


def layers(
    model: Any,
    cache: dict,
    dZ: Array,
    grads: list[Array],
    lr_scale: Sequence[float] | None = None,
) -> Layers:
    r"""Per weight layer of `model`, the pre-activation it writes, its activation and gradient.

    The weight layers are ``ResMLP.layer_names``: :math:`W_{in}`, then block by block
    :math:`V_{l,1} .. V_{l,J}`, then :math:`W_{out}`. For each, :math:`Z` is the
    pre-activation it writes, :math:`A = \phi(Z)` the input of the next weight layer,
    and :math:`dZ = m\, \partial J / \partial Z` (with the caller's head `dZ`):

    - :math:`W_{in}`: :math:`Z = x_0 = W_{in} X + b_{in}`, :math:`A = \phi(x_0)`;
    - :math:`V_{l,j}`, :math:`j < J`: :math:`Z = h_{l,j} = V_{l,j}\, \phi(h_{l,j-1}) +
      c_{l,j}`, :math:`A = \phi(h_{l,j})`;
    - :math:`V_{l,J}`: :math:`Z = x_l = s\, x_{l-1} + \alpha_l h_{l,J}`,
      :math:`A = \phi(x_l)`;
    - :math:`W_{out}`: :math:`Z` the logits (its :math:`A` is the head's).

    So a branch's last layer writes the residual stream: its :math:`Z` is the block's
    output :math:`x_l` (the pre-activation the next branch, or the readout, activates),
    and its :math:`dZ = m\, \partial J / \partial x_l` the stream's gradient, through the
    skip and every later branch. By back-propagation (:math:`\odot \phi'` elementwise),

    .. math::

        dx_L = (W_{out}^T dZ) \odot \phi'(x_L), \qquad
        g_{l,J} = \alpha_l\, dx_l, \qquad
        g_{l,j-1} = (V_{l,j}^T g_{l,j}) \odot \phi'(h_{l,j-1}), \qquad
        dx_{l-1} = s\, dx_l + g_{l,0},

    :math:`g_{l,j} = m\, \partial J / \partial h_{l,j}` (:math:`h_{l,0} = x_{l-1}`). Each
    :math:`A` is the next layer's input, as in the plain MLP, and
    :math:`dV_{l,j} = g_{l,j}\, \phi(h_{l,j-1})^T / m` for every j: so
    :math:`dW = dZ\, A_{prev}^T / m` holds for every layer but a branch's last, where
    :math:`dV_{l,J} = \alpha_l\, dZ\, A_{prev}^T / m`. With ``skip=False``, one layer per
    branch and :math:`\alpha = 1` this is, layer for layer and bit for bit, the plain
    MLP's :math:`Z_l, A_l, dZ_l` (:func:`initlab.nn.network.backward`). Not among the
    layers: the branch output :math:`h_{l,J}` alone (it is never activated) and the
    learnable multipliers (no weight matrix; their gradients are ``grads[-1]``).

    Parameters
    ----------
    model : ResMLP
        The network (typed loosely here: :mod:`initlab.nn.residual` imports this module).
    cache : dict
        ``ResMLP.forward``'s, after ``ResMLP.backward`` (which leaves its forward arrays).
    dZ : ndarray (K, d_out, m)
        The head's :math:`m\, \partial J / \partial Z`, as given to ``ResMLP.backward``.
    grads : list of ndarray
        ``ResMLP.backward``'s gradients (``dWs`` are the weight matrices').
    lr_scale : sequence of float, optional
        The learning-rate factor of every parameter (in the order of ``params``).

    Returns
    -------
    Layers
        The arrays of `cache` (read them before the next ``ResMLP.forward``) and new
        ``dZs``: one ``(K, n, m)`` product per layer.
    """
    P, J, act, D = model.params, model.branch_layers, model.activation, model.depth
    i_out = len(P) - 2 - model.learnable
    at = [0, *range(2, i_out, 2), i_out]  # each weight layer's index in params
    xs, hs, us = cache["x"], cache["h"], cache["u"]
    phi_x = [u[0] for u in us] + [cache["aL"]]  # phi(x_0) .. phi(x_D)
    Zs, As = [xs[0]], [phi_x[0]]
    for l in range(D):
        Zs += [*hs[l][1:J], xs[l + 1]]
        As += [*us[l][1:J], phi_x[l + 1]]
    dZs: list[Array] = [dZ] * len(at)
    dx = np.matmul(P[i_out].swapaxes(-1, -2), dZ) * act.df(xs[D], phi_x[D])
    alphas = model.alphas()
    for l in range(D - 1, -1, -1):  # block l + 1
        dZs[(l + 1) * J] = dx  # its last layer writes the stream
        g = alphas[:, l, None, None] * dx
        for j in range(J - 1, -1, -1):  # g: the gradient of h_{j+1}, then of h_j
            g = np.matmul(P[2 + 2 * (l * J + j)].swapaxes(-1, -2), g)
            g *= act.df(hs[l][j], us[l][j])
            if j > 0:
                dZs[l * J + j] = g
        dx = dx + g if model.skip else g
    dZs[0] = dx
    scale = [1.0] * len(P) if lr_scale is None else [float(s) for s in lr_scale]
    return Layers(
        [*Zs, cache["Z"]], As, dZs, [grads[i] for i in at], [P[i] for i in at],
        [P[i + 1] for i in at], tuple(scale[i] for i in at), names=tuple(model.layer_names()),
    )  # fmt: skip
