r"""Recommended gains of nonlinearities, as ``torch.nn.init.calculate_gain`` defines them.

The gain :math:`g` multiplies the standard deviation of a variance-preserving weight
initialization (``kaiming_*``, ``xavier_*``, ``orthogonal``). PyTorch's table:

================================  =============================================
nonlinearity                      gain
================================  =============================================
linear, identity, conv*, sigmoid  :math:`1`
tanh                              :math:`5/3`
relu                              :math:`\sqrt{2}`
leaky_relu (slope :math:`a`)      :math:`\sqrt{2 / (1 + a^2)}`, default :math:`a = 0.01`
selu                              :math:`3/4`
erf (initlab's addition)          :math:`\sqrt\pi / 2 = 1/\operatorname{erf}'(0)`
================================  =============================================

Only relu (He et al. 2015) and leaky relu follow from a variance argument; 5/3 for tanh and
3/4 for selu are PyTorch's empirical choices, and 1 for sigmoid is a convention. PyTorch has
no erf; initlab's gain for it is the critical one at zero bias variance: with
:math:`\sigma_w^2 = g^2 = \pi/4`, :math:`\chi_1 = \sigma_w^2 \phi'(0)^2 = 1` (erf's
:math:`q^* = 0` there, so :math:`\chi_1` is taken at :math:`q \to 0`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from initlab._validation import InitlabError, check_number

LEAKY_RELU_DEFAULT_SLOPE = 0.01


def _one(param: float | None) -> float:
    return 1.0


def _leaky_relu(param: float | None) -> float:
    a = LEAKY_RELU_DEFAULT_SLOPE if param is None else check_number("negative_slope", param)
    return math.sqrt(2.0 / (1.0 + a * a))


_GAINS: dict[str, Callable[[float | None], float]] = {
    **dict.fromkeys(
        (
            "linear",
            "identity",
            "conv1d",
            "conv2d",
            "conv3d",
            "conv_transpose1d",
            "conv_transpose2d",
            "conv_transpose3d",
            "sigmoid",
        ),
        _one,
    ),
    "tanh": lambda param: 5.0 / 3.0,
    "relu": lambda param: math.sqrt(2.0),
    "leaky_relu": _leaky_relu,
    "selu": lambda param: 3.0 / 4.0,
    "erf": lambda param: math.sqrt(math.pi) / 2.0,
}


def nonlinearities() -> list[str]:
    """Names accepted by :func:`calculate_gain`."""
    return sorted(_GAINS)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""The recommended gain for `nonlinearity` (PyTorch's ``calculate_gain``).

    Parameters
    ----------
    nonlinearity : str
        One of :func:`nonlinearities`.
    param : float, optional
        The negative slope :math:`a` of ``leaky_relu`` (default 0.01); ignored by the others,
        as in PyTorch (``kaiming_*`` always passes its ``a``).

    Returns
    -------
    float
        E.g. ``calculate_gain("tanh") == 5/3``,
        ``calculate_gain("leaky_relu", 0.2) == sqrt(2 / 1.04)``.

    Raises
    ------
    InitlabError
        For an unknown name (the message lists the valid ones) or a non-numeric slope.
    """
    if not isinstance(nonlinearity, str) or nonlinearity not in _GAINS:
        raise InitlabError(
            f"unknown nonlinearity {nonlinearity!r}; valid nonlinearities are: "
            + ", ".join(nonlinearities())
        )
    return float(_GAINS[nonlinearity](param))
