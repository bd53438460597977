r"""Width-preserving residual MLPs (and plain MLPs) with a population axis, head-agnostic.

A :class:`ResMLP` of width :math:`n` and depth :math:`L` (blocks) maps ``X`` ``(d, m)`` to
logits ``(K, d_out, m)``:

.. math::

    x_0 = W_{in} X + b_{in}, \qquad
    x_{l} = s\, x_{l-1} + \alpha_l\, f_l(x_{l-1}) \;\; (l = 1..L), \qquad
    Z = W_{out}\, \phi(x_L) + b_{out},

with pre-activation branches of ``branch_layers`` = :math:`J` linear layers
(He et al. 2016, "Identity mappings in deep residual networks"),

.. math::

    h_0 = x, \qquad h_j = V_j\, \phi(h_{j-1}) + c_j \;\; (j = 1..J), \qquad f(x) = h_J,

and :math:`s = 1` (residual) or :math:`s = 0` (``skip=False``; with :math:`\alpha = 1` and
:math:`J = 1` this is the plain MLP of :mod:`initlab.nn.network`, :math:`x_l = Z_{l+1}`).
The branch multiplier :math:`\alpha_l` is

- ``"constant"``: :math:`\alpha_l = \alpha`;
- ``"depth"``: :math:`\alpha_l = \alpha / \sqrt{L}` (the depth scaling of Hayou et al. 2021,
  Bordelon et al. 2023 and Yang et al. 2023, "Tensor Programs VI": depth-muP);
- ``"completep"``: :math:`\alpha_l = \alpha / L` (the :math:`\alpha = 1` rule of Dey et al.
  2025, "CompleteP"; Bordelon et al. 2024);
- ``"learnable"``: a trained scalar per block and member, starting at :math:`\alpha`
  (ReZero, Bachlechner et al. 2021, starts it at 0).

Zero-initializing each branch's last layer :math:`V_J` (SkipInit, De & Smith 2020; Fixup,
Zhang et al. 2019) makes every block the identity at initialization; see
:func:`initlab.init.parametrization.init_model`. A ResMLP is a
:class:`~initlab.nn.model.Model`: :func:`initlab.nn.training.train` trains it.

Parameters are one flat list :attr:`ResMLP.params` in the order of :meth:`ResMLP.names`:
``W_in, b_in``, each block's ``V_1, c_1, ..., V_J, c_J``, ``W_out, b_out``, then ``alpha``
``(K, L, 1)`` if learnable (three axes, as every parameter, so that per-member
hyperparameters ``(K, 1, 1)`` broadcast over it). Back-propagation takes
:math:`dZ = m\, \partial J / \partial Z` from the caller's loss head (micrograd style) and
returns :math:`\partial J / \partial \theta`:

.. math::

    dx_L = (W_{out}^T dZ) \odot \phi'(x_L), \quad
    dx_{l-1} = s\, dx_l + \alpha_l\, J_{f_l}^T dx_l, \quad
    d\alpha_l = \tfrac1m \textstyle\sum dx_l \odot f_l(x_{l-1}).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.nn import activations as _activations

Array = np.ndarray
BRANCH_SCALINGS = ("constant", "depth", "completep", "learnable")
DEPTH_EXPONENTS = {"constant": 0.0, "depth": 0.5, "completep": 1.0}
r"""Exponent :math:`\alpha` of each fixed branch scaling, :math:`\alpha_l \propto L^{-\alpha}`."""


@dataclass
class ResMLP:
    """A population of K residual MLPs: ``d -> n -> (L blocks of width n) -> d_out``.

    Attributes
    ----------
    params : list of ndarray
        See the module docstring; every array has the population axis first.
    depth : int
        Number of blocks L.
    branch_layers : int
        Linear layers per branch J.
    activation : Activation
    skip : bool
        Residual connections (``False``: a plain MLP).
    branch_scaling : {"constant", "depth", "completep", "learnable"}
    alpha : float
        :math:`\\alpha` (the learnable multipliers' initial value).
    """

    params: list[Array] = field(repr=False)
    depth: int
    branch_layers: int = 1
    activation: _activations.Activation | str = "relu"
    skip: bool = True
    branch_scaling: str = "constant"
    alpha: float = 1.0

    def __post_init__(self) -> None:
        self.activation = _activations.get(self.activation)
        check_number("depth", self.depth, low=0, integer=True)
        check_number("branch_layers", self.branch_layers, low=1, integer=True)
        check_number("alpha", self.alpha)
        if self.branch_scaling not in BRANCH_SCALINGS:
            raise unknown_name("branch scaling", self.branch_scaling, BRANCH_SCALINGS)
        expected = 4 + 2 * self.depth * self.branch_layers + self.learnable
        if len(self.params) != expected:
            raise InitlabError(f"{len(self.params)} parameter arrays; expected {expected}")

    @property
    def learnable(self) -> bool:
        return self.branch_scaling == "learnable"

    @property
    def K(self) -> int:
        return self.params[0].shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.params[0].dtype

    @property
    def n_in(self) -> int:
        """Input features d."""
        return self.params[0].shape[-1]

    @property
    def n_out(self) -> int:
        """Outputs d_out."""
        return self.params[len(self.params) - 2 - self.learnable].shape[1]

    def names(self) -> list[str]:
        """Parameter names in the order of :attr:`params`."""
        blocks = [
            f"{p}{l}.{j}" for l in range(1, self.depth + 1)
            for j in range(1, self.branch_layers + 1) for p in ("V", "c")
        ]  # fmt: skip
        return ["W_in", "b_in", *blocks, "W_out", "b_out"] + ["alpha"] * self.learnable

    def kinds(self) -> list[str]:
        """Each parameter's kind in :data:`initlab.init.parametrization.KINDS` (``"scalar"``
        for the learnable multipliers, which have no width dimension)."""
        kind = {"W_in": "input", "b_in": "bias", "V": "hidden", "c": "bias"}
        kind |= {"W_out": "output", "b_out": "output_bias", "alpha": "scalar"}
        return [kind[name.split(".")[0].rstrip("0123456789")] for name in self.names()]

    def alphas(self) -> Array:
        """:math:`\\alpha_l`, shape ``(K, L)``."""
        if self.learnable:
            return self.params[-1][..., 0]
        e = DEPTH_EXPONENTS[self.branch_scaling]
        a = self.alpha if e == 0 else self.alpha / (math.sqrt(self.depth) if e == 0.5
                                                    else self.depth**e)  # fmt: skip
        return np.full((self.K, self.depth), a, dtype=self.dtype)  # float32 stays float32

    def forward(self, X: Array) -> tuple[Array, dict]:
        """Logits ``(K, d_out, m)`` and the cache for :meth:`backward`.

        ``cache["x"]`` holds :math:`x_0 .. x_L`, each ``(K, n, m)``; ``cache["h"][l]`` the
        branch values :math:`h_0..h_J` of block l.
        """
        P, J, act = self.params, self.branch_layers, self.activation
        x = np.matmul(P[0], X) + P[1]
        xs, hs, alphas = [x], [], self.alphas()
        for l in range(self.depth):
            h = [x]
            for j in range(J):
                V, c = P[2 + 2 * (l * J + j)], P[3 + 2 * (l * J + j)]
                h.append(np.matmul(V, act.f(h[-1])) + c)
            a = alphas[:, l, None, None]
            x = (x + a * h[-1]) if self.skip else a * h[-1]
            xs.append(x)
            hs.append(h)
        W_out, b_out = P[len(P) - 2 - self.learnable], P[len(P) - 1 - self.learnable]
        Z = np.matmul(W_out, act.f(x)) + b_out
        return Z, {"X": X, "x": xs, "h": hs}

    def backward(self, dZ: Array, cache: dict, out: list[Array] | None = None) -> list[Array]:
        """Gradients of the mean loss for every parameter, in the order of :attr:`params`.

        Parameters
        ----------
        dZ : ndarray (K, d_out, m)
            :math:`m\\, \\partial J / \\partial Z` per example (``A - Y`` for the sigmoid and
            softmax heads), as :func:`initlab.nn.network.backward` uses it.
        out : list of ndarray, optional
            A previous call's gradients, whose weight gradients are then written in place
            (``out=``, the same bits): a training loop allocates no weight-sized array.
        """
        P, J, act, m = self.params, self.branch_layers, self.activation, dZ.shape[-1]
        grads: list[Array] = [np.empty(0)] * len(P)
        i_out = len(P) - 2 - self.learnable
        xL = cache["x"][-1]
        aL = act.f(xL)
        grads[i_out] = _mean_product(dZ, aL.swapaxes(-1, -2), m, out, i_out)
        grads[i_out + 1] = dZ.sum(axis=-1, keepdims=True) / m
        dx = np.matmul(P[i_out].swapaxes(-1, -2), dZ) * act.df(xL, aL)
        alphas = self.alphas()
        dalpha = np.zeros_like(alphas)
        for l in range(self.depth - 1, -1, -1):
            h = cache["h"][l]
            a = alphas[:, l, None, None]
            dalpha[:, l] = (dx * h[-1]).sum(axis=(-2, -1)) / m
            dh = a * dx
            for j in range(J - 1, -1, -1):
                k = 2 + 2 * (l * J + j)
                u = act.f(h[j])
                grads[k] = _mean_product(dh, u.swapaxes(-1, -2), m, out, k)
                grads[k + 1] = dh.sum(axis=-1, keepdims=True) / m
                dh = np.matmul(P[k].swapaxes(-1, -2), dh) * act.df(h[j], u)
            dx = (dx + dh) if self.skip else dh
        X = cache["X"]
        grads[0] = _mean_product(dx, X.T, m, out, 0)
        grads[1] = dx.sum(axis=-1, keepdims=True) / m
        if self.learnable:
            grads[-1] = dalpha[..., None]
        return grads

    def records(self, cache: dict, Z: Array) -> list[Array]:
        """The per-layer outputs a coordinate check measures: :math:`x_0, .., x_L` and ``Z``."""
        return [*cache["x"], Z]

    def record_names(self) -> list[str]:
        """Names of :meth:`records`: ``"input"``, ``"block 1"`` ..., ``"output"`` (for a plain
        MLP, ``"layer 2"`` ...)."""
        inner = "block" if self.skip else "layer"
        start = 1 if self.skip else 2
        return ["input", *(f"{inner} {l + start}" for l in range(self.depth)), "output"]

    def copy(self) -> ResMLP:
        return ResMLP(
            [p.copy() for p in self.params], self.depth, self.branch_layers, self.activation,
            self.skip, self.branch_scaling, self.alpha,
        )  # fmt: skip


def _mean_product(A: Array, B: Array, m: int, out: list[Array] | None, i: int) -> Array:
    """``(A @ B) / m``, both roundings kept, into ``out[i]`` when `out` is given."""
    P = np.matmul(A, B, out=None if out is None else out[i])
    P /= m
    return P
