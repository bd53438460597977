r"""Binary cross-entropy computed stably from the logits.

For a logit :math:`z` and label :math:`y \in \{0, 1\}`, with :math:`a = \sigma(z)`,

.. math::

    \ell(z, y) = -y \log a - (1-y)\log(1-a) = \max(z, 0) - z y + \log(1 + e^{-|z|}),

which is finite and correct in float64 even where :math:`a` rounds to exactly 0 or 1.
Its derivative with respect to :math:`z` is :math:`a - y`, the :math:`dZ_L = A_L - Y` of
back-propagation.
"""

from __future__ import annotations

import numpy as np


def bce_with_logits(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    r"""Mean binary cross-entropy over examples, per population member.

    Parameters
    ----------
    Z : ndarray, shape (K, 1, m) or (1, m)
        Output-layer pre-activations (logits).
    Y : ndarray, shape (1, m)
        Labels in {0, 1}.

    Returns
    -------
    ndarray, shape (K,) (or a 0-d array for 2-D `Z`)
        :math:`J = \frac{1}{m}\sum_i \ell(z_i, y_i)`.
    """
    losses = np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))
    return losses.mean(axis=(-2, -1))
