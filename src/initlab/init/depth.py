r"""Depth's learning-rate rule for residual networks whose branches are scaled with depth
(:mod:`initlab.nn.residual`'s ``branch_scaling``), beside the width rules of
:mod:`initlab.init.parametrization` (which applies it with ``base_depth``).

The depth-muP (Tensor Programs VI) and CompleteP (Dey et al. 2025) rules, from
:func:`depth_lr_factor`'s exponents.
"""

from __future__ import annotations

from initlab._validation import InitlabError, check_number
from initlab.nn.residual import DEPTH_EXPONENTS


def depth_lr_factor(branch_scaling: str, depth: int, base_depth: int, optimizer: str) -> float:
    r"""Learning-rate factor of a block's parameters for depth :math:`L` against base depth
    :math:`L_0`, with branch multipliers :math:`\propto L^{-\alpha}`:

    .. math::

        m^{2\alpha - 1} \;(\text{SGD}), \qquad m^{\alpha - 1} \;(\text{Adam}), \qquad
        m = L / L_0,

    so that each block's output moves by :math:`\Theta(1/L)` per step (its update is
    multiplier² × lr under SGD, multiplier × lr under Adam): constant for depth-muP under SGD
    (:math:`\alpha = 1/2`, Tensor Programs VI) and for CompleteP under Adam (:math:`\alpha =
    1`, Dey et al. 2025). ``"constant"`` branches (:math:`\alpha = 0`) get 1 (SP in depth).
    """
    if branch_scaling not in DEPTH_EXPONENTS:
        raise InitlabError(f"a depth learning-rate rule needs branch_scaling in "
                           f"{', '.join(DEPTH_EXPONENTS)}; got {branch_scaling!r}")  # fmt: skip
    L0 = int(check_number("base_depth", base_depth, low=1, integer=True))
    a, m = DEPTH_EXPONENTS[branch_scaling], depth / L0
    e = (2 * a - 1) if optimizer == "sgd" else (a - 1)
    return 1.0 if a == 0 or e == 0 or m == 1 else float(m**e)
