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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from initlab._validation import InitlabError, check_number, unknown_name
from initlab.nn import activations as _activations
from initlab.nn import residual_layers as _residual_layers
from initlab.nn.history import Layers

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

    def forward(self, X: Array, out: dict | None = None) -> tuple[Array, dict]:
        """Logits ``(K, d_out, m)`` and the cache for :meth:`backward`.

        ``cache["x"]`` holds :math:`x_0 .. x_L`, each ``(K, n, m)``; ``cache["h"][l]`` the
        branch values :math:`h_0..h_J` of block l, ``cache["u"][l]`` their activations
        :math:`\\phi(h_0)..\\phi(h_{J-1})` and ``cache["aL"]`` :math:`\\phi(x_L)`.

        `out`, a previous call's cache (of an input of this shape and dtype), has its arrays
        written again, and is returned (``out=`` in every product and elementwise operation:
        the same bits): a training loop allocates no activation-sized array per step. Its
        earlier contents are then gone, but for arrays :meth:`records` handed out (new ones
        are made for them: a hook may keep what it was given).
        """
        P, J, act = self.params, self.branch_layers, self.activation
        shape = (self.K, P[0].shape[1], X.shape[1])
        dtype = np.result_type(P[0], X)
        reuse = out is not None and out["x"][0].shape == shape and out["x"][0].dtype == dtype
        buf = _Buffers(out if reuse else {"work": {}}, shape, dtype)
        if buf.cache.pop("given", False):  # the records are the caller's now
            buf.cache.pop("x"), buf.cache.pop("Z")
        x = np.matmul(P[0], X, out=buf.slot("x", 0, rows=shape[1]))
        x += P[1]
        xs, hs, us, alphas = [x], [], [], self.alphas()
        for l in range(self.depth):
            h, u = [x], []
            for j in range(J):
                V, c = P[2 + 2 * (l * J + j)], P[3 + 2 * (l * J + j)]
                u.append(_apply(act, h[-1], buf.slot("u", l, j, rows=h[-1].shape[1])))
                y = _product(V, u[-1], buf.slot("h", l, j + 1, rows=V.shape[1]), buf)
                y += c
                h.append(y)
            a = alphas[:, l, None, None]
            x = buf.slot("x", l + 1, rows=h[-1].shape[1])
            if self.skip:
                np.add(xs[-1], np.multiply(a, h[-1], out=buf.work("t", x.shape[1])), out=x)
            else:
                np.multiply(a, h[-1], out=x)
            xs.append(x)
            hs.append(h)
            us.append(u)
        W_out, b_out = P[len(P) - 2 - self.learnable], P[len(P) - 1 - self.learnable]
        aL = _apply(act, x, buf.slot("aL", rows=x.shape[1]))
        Z = np.matmul(W_out, aL, out=buf.cache.get("Z"))
        Z += b_out
        buf.cache.update({"X": X, "x": xs, "h": hs, "u": us, "aL": aL, "Z": Z})
        return Z, buf.cache

    def backward(self, dZ: Array, cache: dict, out: list[Array] | None = None) -> list[Array]:
        """Gradients of the mean loss for every parameter, in the order of :attr:`params`.

        Parameters
        ----------
        dZ : ndarray (K, d_out, m)
            :math:`m\\, \\partial J / \\partial Z` per example (``A - Y`` for the sigmoid and
            softmax heads), as :func:`initlab.nn.network.backward` uses it.
        cache : dict
            :meth:`forward`'s; its activations are used, not recomputed, and its work arrays
            hold this pass's ``(K, n, m)`` temporaries (kept for the next call).
        out : list of ndarray, optional
            A previous call's gradients, whose weight gradients are then written in place
            (``out=``, the same bits): a training loop allocates no weight-sized array.
        """
        P, J, act, m = self.params, self.branch_layers, self.activation, dZ.shape[-1]
        grads: list[Array] = [np.empty(0)] * len(P)
        i_out = len(P) - 2 - self.learnable
        xL, aL = cache["x"][-1], cache["aL"]
        buf = _Buffers(cache, xL.shape, xL.dtype)
        work, pick = buf.work, buf.pick
        grads[i_out] = _mean_product(dZ, aL.swapaxes(-1, -2), m, out, i_out)
        grads[i_out + 1] = dZ.sum(axis=-1, keepdims=True) / m
        dx = np.matmul(P[i_out].swapaxes(-1, -2), dZ, out=pick(xL.shape[1]))
        _times_df(act, dx, xL, aL, work)
        alphas = self.alphas()
        dalpha = np.zeros_like(alphas)
        for l in range(self.depth - 1, -1, -1):
            h, u = cache["h"][l], cache["u"][l]
            a = alphas[:, l, None, None]
            dalpha[:, l] = np.multiply(dx, h[-1], out=work("t", dx.shape[1])).sum(axis=(-2, -1)) / m
            dh = np.multiply(a, dx, out=pick(dx.shape[1], dx))
            for j in range(J - 1, -1, -1):
                k = 2 + 2 * (l * J + j)
                grads[k] = _mean_product(dh, u[j].swapaxes(-1, -2), m, out, k)
                grads[k + 1] = dh.sum(axis=-1, keepdims=True) / m
                dh = _product(P[k].swapaxes(-1, -2), dh, pick(P[k].shape[2], dx, dh), buf)
                _times_df(act, dh, h[j], u[j], work)
            if self.skip:
                dx += dh
            else:
                dx = dh
        X = cache["X"]
        grads[0] = _mean_product(dx, X.T, m, out, 0)
        grads[1] = dx.sum(axis=-1, keepdims=True) / m
        if self.learnable:
            grads[-1] = dalpha[..., None]
        return grads

    def records(self, cache: dict, Z: Array) -> list[Array]:
        """The per-layer outputs a coordinate check measures: :math:`x_0, .., x_L` and ``Z``
        (the caller's to keep: a :meth:`forward` reusing `cache` makes new ones)."""
        cache["given"] = True
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

    def layer_names(self) -> list[str]:
        """The weight layers in forward order, as :meth:`layers` gives them: ``W_in``, each
        block's ``V{l}.{j}`` (block l, branch layer j), ``W_out``; ``2 + depth *
        branch_layers`` of them (a :class:`~initlab.analysis.diagnostics.Recorder`'s
        ``n_layers``)."""
        return [name for name in self.names() if name[0] in "WV"]

    def layers(
        self, cache: dict, dZ: Array, grads: list[Array], lr_scale: Sequence[float] | None = None
    ) -> Layers:
        r"""Per weight layer (:meth:`layer_names`), the pre-activation :math:`Z` it writes,
        :math:`A = \phi(Z)` (the next layer's input) and :math:`dZ = m\, \partial J /
        \partial Z`, from :meth:`forward`'s `cache` after :meth:`backward` (which leaves
        it, and the head's `dZ`, as they were): a branch's last layer writes the stream
        :math:`x_l = s\, x_{l-1} + \alpha_l h_{l,J}`; the math is
        :func:`initlab.nn.residual_layers.layers`'s. `lr_scale`: every parameter's
        learning-rate factor, in the order of :attr:`params`."""
        return _residual_layers.layers(self, cache, dZ, grads, lr_scale)


_TRANSPOSED_EXACT: dict[tuple, bool] = {}
"""Per product shape and layout: whether NumPy's BLAS rounds ``A @ B`` alike when it writes
the product transposed (:func:`_transposed_exact`); found once per process."""


def _product(A: Array, B: Array, out: Array, buf: _Buffers) -> Array:
    r"""``A @ B`` ``(K, r, k) @ (K, k, m)`` into `out`, with the bits of
    ``np.matmul(A, B, out=out)``.

    A float64 product of at least :math:`2^{27}` multiply-adds on at most 256 columns (a
    hidden layer of width 1024 or more on a batch) is written first into a work array
    ``(K, m, r)`` as its transpose (NumPy then asks BLAS for :math:`B^T A^T`), then copied
    into `out`: OpenBLAS's SkylakeX kernels take 0.6-0.75x the time that way at width 2048
    and 128 columns (the copy: 2 ms); ``bench_studies.py``'s breakdown prints both. Each
    output element is the same sum in both forms, but BLAS may order its terms differently
    (it does for some shapes, e.g. r = k = 1500): the form is taken only for a shape where
    :func:`_transposed_exact` found the same bits, else the plain product.
    """
    r, k, m = A.shape[-2], A.shape[-1], B.shape[-1]
    big = A.dtype == B.dtype == np.float64 and m <= 256 and r * k * m >= 2**27
    if not big or not _transposed_exact(r, k, m, A.strides[-2] < A.strides[-1]):
        return np.matmul(A, B, out=out)
    T = buf.work("T", r).reshape(out.shape[0], m, r)  # (K, r, m)'s numbers, as (K, m, r)
    np.matmul(A, B, out=T.swapaxes(-1, -2))
    np.copyto(out, T.swapaxes(-1, -2))
    return out


def _blas_threads() -> tuple[int, ...]:
    """The thread count of every BLAS library loaded (0.5 us a call)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController().select(user_api="blas").lib_controllers
    return tuple(lib.get_num_threads() for lib in _BLAS)


_BLAS: list | None = None


def _transposed_exact(r: int, k: int, m: int, a_transposed: bool) -> bool:
    """Whether ``a @ b`` written transposed has the bits of ``a @ b``, for one member's
    shapes ``(r, k) @ (k, m)`` (`a` a transposed view if `a_transposed`), on normal draws of
    a private generator (BLAS orders a sum's terms by the shapes, not by their values:
    one draw finds a different order); computed once per process per shape and BLAS thread
    count (the split of a product between threads may order its terms otherwise: training
    runs on one thread, a call outside it on the process's)."""
    key = (r, k, m, a_transposed, _blas_threads())
    if key not in _TRANSPOSED_EXACT:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((k, r)).T if a_transposed else rng.standard_normal((r, k))
        b = rng.standard_normal((k, m))
        T = np.empty((m, r))
        np.matmul(a, b, out=T.T)
        _TRANSPOSED_EXACT[key] = bool(np.array_equal(np.matmul(a, b), T.T))
    return _TRANSPOSED_EXACT[key]


def _mean_product(A: Array, B: Array, m: int, out: list[Array] | None, i: int) -> Array:
    """``(A @ B) / m``, both roundings kept, into ``out[i]`` when `out` is given."""
    P = np.matmul(A, B, out=None if out is None else out[i])
    P /= m
    return P


class _Buffers:
    """The ``(K, rows, m)`` arrays of a cache: its activations by name and index
    (:meth:`slot`, in the cache's lists when it has them) and its work arrays by name and
    rows (:meth:`work`, in ``cache["work"]``), made at first use."""

    def __init__(self, cache: dict, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.cache, self.K, self.m, self.dtype = cache, shape[0], shape[-1], dtype
        self._work = cache.setdefault("work", {})

    def slot(self, name: str, *at: int, rows: int) -> Array:
        """``cache[name][at...]`` when the cache holds it (of `rows` rows), else a new array."""
        A = self.cache.get(name)
        for i in at:
            A = None if A is None or i >= len(A) else A[i]
        shape = (self.K, rows, self.m)
        return A if A is not None and A.shape == shape else np.empty(shape, self.dtype)

    def work(self, name: str, rows: int, dtype: np.dtype | None = None) -> Array:
        key = (name, rows, np.dtype(dtype or self.dtype))
        A = self._work.get(key)
        if A is None or A.shape != (self.K, rows, self.m):
            A = self._work[key] = np.empty((self.K, rows, self.m), key[2])
        return A

    def pick(self, rows: int, *busy: Array) -> Array:
        """One of three work arrays of `rows` rows that is none of `busy`."""
        return next(A for A in (self.work(f"d{i}", rows) for i in range(3))
                    if not any(A is B for B in busy))  # fmt: skip


def _apply(act: _activations.Activation, Z: Array, out: Array) -> Array:
    """:math:`\\phi(Z)`, into `out` for relu (``np.maximum(Z, 0.0)``, the same bits), else a
    new array from the activation's own function."""
    if act.name == "relu":
        return np.maximum(Z, 0.0, out=out)
    return act.f(Z)


def _times_df(act: _activations.Activation, D: Array, Z: Array, A: Array, work) -> None:
    """``D *= phi'(Z)`` in place (``A = phi(Z)``); relu's derivative ``Z > 0`` as a boolean
    array kept in `work` (times 1.0 or 0.0, as its float form: the same bits)."""
    if act.name == "relu":
        D *= np.greater(Z, 0, out=work("mask", Z.shape[1], np.bool_))
    else:
        D *= act.df(Z, A)
