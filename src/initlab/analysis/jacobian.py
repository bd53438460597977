r"""Singular values of a deep network's input-output Jacobian at initialization.

Setup of Pennington, Schoenholz & Ganguli (2017), "Resurrecting the sigmoid in deep
learning through dynamical isometry", and (2018), "The emergence of spectral universality
in deep networks": :math:`L` layers of width :math:`N`, :math:`h^l = W_l x^{l-1} + b_l`,
:math:`x^l = \phi(h^l)`, the input chosen so that every layer sits at the variance fixed
point (:math:`h^0 \sim N(0, q^*)`, :math:`x^0 = \phi(h^0)`), and

.. math::

    J = \frac{\partial x^L}{\partial x^0} = \prod_{l=L}^{1} D_l W_l, \qquad
    D_l = \operatorname{diag}\!\left(\phi'(h^l)\right).

Weights are Gaussian, i.i.d. :math:`N(0, \sigma_w^2/N)`, or orthogonal,
:math:`\sigma_w Q` with :math:`Q` Haar; biases i.i.d. :math:`N(0, \sigma_b^2)`.

Theory (:math:`N \to \infty`). With :math:`\mu_k = E[\phi'(h)^{2k}]`, :math:`h \sim N(0, q^*)`,
and :math:`s_1` the first coefficient of the S-transform of :math:`W W^T / \sigma_w^2`,
:math:`S(z) = 1 + s_1 z + \dots` (Gaussian: :math:`s_1 = -1`, the Marchenko-Pastur law;
orthogonal: :math:`s_1 = 0`), the S-transform of :math:`J J^T` is the product of its
layers' (free independence), and its first two coefficients give the mean and variance of
the eigenvalues :math:`\lambda = \sigma^2` of :math:`J J^T` (the squared singular values):

.. math::

    m_1 = \chi^L, \quad \chi = \sigma_w^2 \mu_1, \qquad
    \sigma^2_{JJ^T} = m_2 - m_1^2 = \chi^{2L}\, L \left(\frac{\mu_2}{\mu_1^2} - 1 - s_1\right)

(Pennington et al. 2017, eq. 17 at :math:`\chi = 1`; 2018, sec. 3, for any :math:`\chi`).
Derivation in short: a law with moments :math:`m_1, m_2` has
:math:`S(z) = m_1^{-1}\,(1 + z (m_1^2 - m_2)/m_1^2 + O(z^2))`; the product over
:math:`L` layers of :math:`\sigma_w^{-2}(1 + s_1 z)\,\mu_1^{-1}(1 + (1 - \mu_2/\mu_1^2) z)`
is :math:`\chi^{-L}(1 + L(s_1 + 1 - \mu_2/\mu_1^2) z + \dots)`.

Linear networks have exact laws: with orthogonal weights every singular value is
:math:`\sigma_w^L`; with Gaussian weights at :math:`\sigma_w^2 = 1` the squared singular
values follow the Fuss-Catalan law of order :math:`L` (:func:`fuss_catalan_density`), with
moments :math:`\frac{1}{Lk+1}\binom{(L+1)k}{k}`: mean 1, variance :math:`L`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import lapack as _lapack
from scipy.special import comb
from threadpoolctl import threadpool_limits

from initlab._rng import child_seeds, make_rng
from initlab._validation import InitlabError, check_number
from initlab.analysis import theory as theory
from initlab.analysis.correlation import ActivationLike
from initlab.nn import activations as _activations

Array = np.ndarray

WEIGHTS = {"gaussian": -1.0, "orthogonal": 0.0}
RESOLUTION = 1e-15
"""Singular values below ``RESOLUTION * s_max`` of their matrix are float64 rounding noise."""
r"""Weight distributions and their :math:`s_1`."""


def _check_weights(weights: str) -> str:
    if weights not in WEIGHTS:
        raise InitlabError(f"weights must be one of {', '.join(WEIGHTS)}; got {weights!r}")
    return weights


@dataclass(frozen=True)
class SpectrumMoments:
    r"""Theoretical mean and variance of the eigenvalues of :math:`J J^T` at one depth.

    Attributes
    ----------
    depth : int
    mean : float
        :math:`m_1 = \chi^L`.
    variance : float
        :math:`\chi^{2L} L (\mu_2/\mu_1^2 - 1 - s_1)`.
    chi, mu1, mu2, s1, q_star : float
        The ingredients.
    """

    depth: int
    mean: float
    variance: float
    chi: float
    mu1: float
    mu2: float
    s1: float
    q_star: float


def _q_input(act: _activations.Activation, w2: float, b2: float) -> float:
    """q*; 1e-20 (its limit) if q* = 0; 1 if q* is infinite (linear units, ReLU-type units
    at sigma_b = 0, whose spectra do not depend on q)."""
    q = float(theory.fixed_point(act, w2, b2))
    return 1e-20 if q == 0 else (q if q < math.inf else 1.0)


def spectrum_moments(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float,
    depth: int,
    weights: str = "gaussian",
) -> SpectrumMoments:
    r"""Mean and variance of the squared singular values of :math:`J` (module docstring).

    :math:`\mu_1, \mu_2` by :func:`initlab.analysis.theory.gaussian_expectation` at :math:`q^*`
    (at :math:`10^{-20}` if :math:`q^* = 0`, its limit; at 1 if :math:`q^*` is infinite,
    which happens only for linear and ReLU-type units, whose :math:`\mu_k` do not depend
    on :math:`q`).
    """
    act = _activations.get(act)
    w2 = float(check_number("sigma_w2", sigma_w2, low=0, low_open=True))
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    L = int(check_number("depth", depth, low=1, integer=True))
    s1 = WEIGHTS[_check_weights(weights)]
    q = _q_input(act, w2, b2)
    mu1 = float(theory.gaussian_expectation(lambda u: act.df(u, act.f(u)) ** 2, q))
    mu2 = float(theory.gaussian_expectation(lambda u: act.df(u, act.f(u)) ** 4, q))
    chi = w2 * mu1
    excess = mu2 / mu1**2 - 1  # >= 0 (Cauchy-Schwarz); 0 for linear units, to rounding
    excess = 0.0 if abs(excess) < 1e-12 else excess
    variance = chi ** (2 * L) * L * (excess - s1)
    return SpectrumMoments(L, chi**L, variance, chi, mu1, mu2, s1, q)


def fuss_catalan_moment(k: int, depth: int) -> float:
    r""":math:`k`-th moment of the Fuss-Catalan law of order :math:`L`:
    :math:`\frac{1}{Lk+1}\binom{(L+1)k}{k}` (L = 1: the Catalan numbers, Marchenko-Pastur)."""
    return float(comb((depth + 1) * k, k, exact=True)) / (depth * k + 1)


def fuss_catalan_density(depth: int, n: int = 400) -> tuple[Array, Array]:
    r"""The Fuss-Catalan density of order :math:`L`, as points :math:`(x, \rho(x))`.

    The law of the squared singular values of a product of :math:`L` independent
    :math:`N \times N` Gaussian matrices with entries of variance :math:`1/N`, as
    :math:`N \to \infty`; support :math:`[0, (L+1)^{L+1}/L^L]`. Parametrized by
    :math:`\varphi \in (0, \pi/(L+1))` (Haagerup & Möller 2012; Neuschel 2014):

    .. math::

        x = \frac{\sin^{L+1}((L+1)\varphi)}{\sin\varphi\, \sin^{L}(L\varphi)}, \qquad
        \rho(x) = \frac{1}{\pi x}\,
                  \frac{\sin^2\varphi\, \sin^{L-1}(L\varphi)\, x}{\sin^{L}((L+1)\varphi)} .

    For :math:`L = 1` this is Marchenko-Pastur, :math:`\sqrt{4/x - 1}/(2\pi)`; the tests
    hold it to the moments of :func:`fuss_catalan_moment`.

    Returns
    -------
    x, density : ndarray (n,)
        Increasing in :math:`x`.
    """
    L = int(check_number("depth", depth, low=1, integer=True))
    phi = np.linspace(0, math.pi / (L + 1), n + 2)[1:-1]
    s, sL, sL1 = np.sin(phi), np.sin(L * phi), np.sin((L + 1) * phi)
    x = sL1 ** (L + 1) / (s * sL**L)
    density = s**2 * sL ** (L - 1) / (math.pi * sL1**L)
    return x[::-1], density[::-1]


@dataclass(frozen=True)
class JacobianSpectra:
    r"""Singular values of :math:`J` measured at several depths of the same networks.

    Attributes
    ----------
    activation, weights : str
    sigma_w2, sigma_b2, q_star : float
    depths : tuple of int
    singular_values : ndarray (K, len(depths), N)
        Member k's singular values of :math:`J` after ``depths[j]`` layers, descending.
    width, seed : int
    """

    activation: str
    weights: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    depths: tuple[int, ...]
    singular_values: Array
    width: int
    seed: int

    def squared_moments(self) -> tuple[Array, Array]:
        r"""Per member and depth: mean and variance of :math:`\sigma^2`, each (K, len(depths))."""
        lam = self.singular_values**2
        return lam.mean(axis=-1), lam.var(axis=-1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "weights": self.weights,
            "sigma_w2": self.sigma_w2,
            "sigma_b2": self.sigma_b2,
            "q_star": self.q_star,
            "depths": list(self.depths),
            "singular_values": self.singular_values.tolist(),
            "width": self.width,
            "seed": self.seed,
        }


def spectra_from_dict(data: dict[str, Any]) -> JacobianSpectra:
    """Rebuild :class:`JacobianSpectra` from :meth:`JacobianSpectra.as_dict` (stored JSON)."""
    return JacobianSpectra(
        data["activation"],
        data["weights"],
        data["sigma_w2"],
        data["sigma_b2"],
        data["q_star"],
        tuple(int(d) for d in data["depths"]),
        np.asarray(data["singular_values"], dtype=float),
        int(data["width"]),
        int(data["seed"]),
    )


_BLOCK = 64
"""Block size of the orthogonal draws' Householder QR (LAPACK ``geqrt``, then ``gemqrt``):
measured together at N = 400, 48..80 tie, 32 and 100..128 are 3-8% slower (any block size
gives the same matrix, by other roundings)."""


def _scale(weights: str, w2: float, N: int) -> float:
    """W = scale * A (Gaussian) or scale * Q S (orthogonal): the catalogue's ``normal(0,
    sqrt(w2 / N))`` and ``orthogonal(sqrt(w2))``."""
    return math.sqrt(w2) if weights == "orthogonal" else math.sqrt(w2 / N)


def _spectra(act, weights, w2, q, b2, depths, N, members, seed) -> np.ndarray:
    """Singular values of each member's :math:`J` at each depth, ``(members, len(depths), N)``."""
    chains = [_chain(act, weights, w2, q, b2, depths, N, c) for c in child_seeds(seed, members)]
    return np.stack(chains)


class _Layers:
    r"""One chain's products :math:`W [J \mid x]` up to the scalar :func:`_scale`, in
    ``(N, N + 1)`` buffers reused layer after layer (fresh arrays of this size cost their
    page faults at every layer): the Gaussian :math:`A [J \mid x]`, or the orthogonal
    :math:`Q S [J \mid x]` from the Householder QR :math:`A = QR`,
    :math:`S = \operatorname{diag}(\operatorname{sign} R_{ii})` (0 taken as +1, the
    catalogue's sign correction), applied as reflectors (LAPACK ``geqrt`` then ``gemqrt``,
    :math:`4N^3/3 + 2N^3` flops) without forming :math:`Q` (``orgqr`` and a product:
    :math:`4N^3/3` more). At the first layer :math:`J = I`: no product."""

    def __init__(self, weights: str, N: int) -> None:
        self.orthogonal, self.N = weights == "orthogonal", N
        self.A = np.empty((N, N))  # the layer's normals
        # Fortran order: LAPACK's (in place), and J's rows scaled along contiguous columns
        self.C = [np.empty((N, N + 1), order="F") for _ in range(1 if self.orthogonal else 2)]
        self.R = np.empty((N, N), order="F") if self.orthogonal else None

    def __call__(self, C: Array | None, x: Array) -> Array:
        """``W [C | x]`` (C: J before this layer, None at the first) into a buffer."""
        A, N = self.A, self.N
        if not self.orthogonal:
            if C is None:
                C = self.C[0]
                C[:, :N] = A
                np.matmul(A, x, out=C[:, N])
                return C
            return np.matmul(A, C, out=self.C[1] if C is self.C[0] else self.C[0])
        self.R[...] = A
        V, T, _ = _lapack.dgeqrt(min(_BLOCK, N), self.R, overwrite_a=1)  # reflectors below R
        s = np.where(np.diagonal(V) < 0, -1.0, 1.0)
        if C is None:
            C = self.C[0]
            C[...] = 0.0
            C[np.arange(N), np.arange(N)] = s
            np.multiply(s, x, out=C[:, N])
        else:
            C *= s[:, None]
        return _lapack.dgemqrt(V, T, C, overwrite_c=1)[0]


def _chain(act, weights, w2, q, b2, depths, N, child: int) -> np.ndarray:
    r"""One member's chain (drawn from seed `child`): its singular values ``(len(depths), N)``.

    Per layer: :math:`A` (N x N normals), the bias noise :math:`\xi`, then
    :math:`[J \mid x] \leftarrow` :class:`_Layers`, :math:`h = c\,(\cdot)_{:, N} +
    \sigma_b \xi`, :math:`J \leftarrow \operatorname{diag}(c\,\phi'(h))\,(\cdot)_{:, :N}`
    with :math:`c` = :func:`_scale` (one pass over :math:`J`)."""
    out = np.empty((len(depths), N))
    rng = make_rng(child)
    x = act.f(math.sqrt(q) * rng.standard_normal(N))
    c, b = _scale(weights, w2, N), math.sqrt(b2)
    product, C = _Layers(weights, N), None  # C: [J | x], (N, N + 1)
    for l in range(1, depths[-1] + 1):
        rng.standard_normal(out=product.A)  # the catalogue's draw's normals, in its order
        noise = rng.standard_normal(N)
        C = product(C, x)
        h = c * C[:, N] + b * noise
        x = act.f(h)
        C[:, :N] *= (c * act.df(h, x))[:, None]
        C[:, N] = x
        if l in depths:
            out[depths.index(l)] = _singular_values(C[:, :N])
    return out


def _singular_values(J: Array) -> Array:
    """J's singular values, descending (LAPACK ``gesdd``, as ``np.linalg.svd``); raises
    ``np.linalg.LinAlgError`` as NumPy does where they do not exist (J not finite: overflow)."""
    s, _, info = _lapack.dgesdd(J, compute_uv=0)[1:]
    if info != 0 or not np.isfinite(s).all():
        raise np.linalg.LinAlgError("SVD did not converge")
    return s


def _checked(act, sigma_w2, sigma_b2, depths, width, weights) -> tuple:
    """``(act, w2, b2, depths, N, weights, q)``: the arguments checked (depths sorted, without
    repeats), and the input's :math:`q^*`."""
    act = _activations.get(act)
    w2 = float(check_number("sigma_w2", sigma_w2, low=0, low_open=True))
    b2 = float(check_number("sigma_b2", sigma_b2, low=0))
    depths = tuple(sorted({int(check_number("depths", d, low=1, integer=True)) for d in depths}))
    N = int(check_number("width", width, low=1, integer=True))
    return act, w2, b2, depths, N, _check_weights(weights), _q_input(act, w2, b2)


def jacobian_spectra(
    act: ActivationLike,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    *,
    depths: Sequence[int] = (1, 4, 16, 64),
    width: int = 400,
    weights: str = "gaussian",
    members: int = 2,
    seed: int = 0,
) -> JacobianSpectra:
    r"""Singular values of :math:`J = \prod D_l W_l` at each of `depths` (module docstring).

    One chain of ``max(depths)`` layers per member; :math:`J` is accumulated as
    :math:`J \leftarrow D_l (W_l J)` (from :math:`J = D_1 W_1`) and its singular values
    taken (LAPACK ``gesdd``) when the depth is in `depths`. The weights are the catalogue's
    draws (``normal(0, sigma_w / sqrt(N))``, ``orthogonal(sigma_w)``: the same normals in
    the same order), an orthogonal one applied as the Householder reflectors of its QR,
    never formed (:class:`_Layers`). Cost: ``max(depths)`` products of :math:`N \times N`
    matrices (orthogonal: a QR and the reflectors' product, 5/3 as many flops) and one SVD
    per depth, per member (N = 400, depth 64: a third of a second Gaussian, half a second
    orthogonal). The products and SVDs run on one BLAS thread (``threadpoolctl``, NumPy's
    and SciPy's), as training's do, so a seed gives the same bits at any thread count.

    Float64 resolves a singular value only down to about :data:`RESOLUTION` times the
    largest of the same :math:`J`: smaller values (ill-conditioned :math:`J`, e.g. deep
    saturating networks off criticality) are rounding noise, not measurements of the true
    :math:`s_{\min}`. They are stored as computed; ``initlab theory jacobian`` prints
    such an :math:`s_{\min}` as ``< 1e-15 s_max``.

    Parameters
    ----------
    act : str or Activation
    sigma_w2, sigma_b2 : float
        Weight scale :math:`\sigma_w^2` (Gaussian variance times N, or orthogonal gain
        squared) and bias variance.
    depths : sequence of int
        Depths at which to take the spectrum.
    width : int
        N.
    weights : {"gaussian", "orthogonal"}
    members : int
        Independent networks (child seeds of `seed`).
    """
    act, w2, b2, depths, N, weights, q = _checked(act, sigma_w2, sigma_b2, depths, width, weights)
    members = int(check_number("members", members, low=1, integer=True))
    seed = int(check_number("seed", seed, low=0, integer=True))
    with threadpool_limits(limits=1, user_api="blas"):  # same bits at any thread count
        out = _spectra(act, weights, w2, q, b2, depths, N, members, seed)
    return JacobianSpectra(theory._describe(act), weights, w2, b2, q, depths, out, N, seed)


def member_spectra(
    act: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, *,
    depths: Sequence[int] = (1, 4, 16, 64), width: int = 400, weights: str = "gaussian",
    seed: int = 0, member: int = 0,
) -> tuple[float, Array]:  # fmt: skip
    r"""Member `member` of :func:`jacobian_spectra` alone: its input's :math:`q^*` and its
    singular values ``(len(depths), N)``, the same bits as row `member` of
    ``jacobian_spectra(..., members > member).singular_values`` (member k's chain is drawn
    from ``child_seeds(seed, .)[k]``, whatever the number of members)."""
    act, w2, b2, depths, N, weights, q = _checked(act, sigma_w2, sigma_b2, depths, width, weights)
    k = int(check_number("member", member, low=0, integer=True))
    with threadpool_limits(limits=1, user_api="blas"):
        return q, _chain(act, weights, w2, q, b2, depths, N, child_seeds(seed, k + 1)[k])
