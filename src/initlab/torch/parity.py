r"""``initlab verify``'s PyTorch claim: initlab's network trains as torch trains it.

The post's architecture on 64 features (scikit-learn's digits, odd vs even), Xavier weights
and biases :math:`N(0, 0.01)`, is copied into ``torch.nn`` (:func:`initlab.torch.from_network`)
and trained 200 steps of full-batch gradient descent at learning rate 0.1 by
``torch.optim.SGD`` on binary cross-entropy with logits, and by initlab's own loop
(:func:`initlab.nn.training.train`, the direct engine). Both are float64 and deterministic
(no chaos at this rate: the test suite holds the sample engine to the direct one to 1e-9
on such runs), so every cost must agree to :data:`TOLERANCE` relative.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from initlab.studies.verify import Claim

TOLERANCE = 1e-10
STEPS = 200


def torch_parity_claim() -> Claim:
    """The largest relative difference of the two cost histories, held to 1e-10."""
    from initlab import data as _data
    from initlab.init.build import init_network
    from initlab.nn.training import train
    from initlab.torch import from_network

    d = _data.load("digits")
    X, Y = d.X[:, :400], d.Y[:, :400]
    net = init_network([X.shape[0], 5, 5, 1], "xavier", activation="tanh", seed=1)
    rng = np.random.default_rng(0)
    net.biases = [b + 0.1 * rng.standard_normal(b.shape) for b in net.biases]
    model = from_network(net).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    Xt, Yt = torch.from_numpy(np.ascontiguousarray(X.T)), torch.from_numpy(Y.T.copy())
    ours = train(net, X, Y, learning_rate=0.1, iterations=STEPS, engine="direct")[1].costs[0]
    theirs = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(Xt), Yt)
        loss.backward()
        theirs.append(loss.item())
        opt.step()
    worst = float(np.max(np.abs(ours - np.array(theirs)) / np.abs(np.array(theirs))))
    return Claim(f"torch {torch.__version__.split('+')[0]}: {STEPS} GD steps of the post's "
                 "network on digits, costs vs torch.optim.SGD",
                 f"equal to {TOLERANCE:g}", f"largest rel. diff {worst:.1e}",
                 worst <= TOLERANCE)  # fmt: skip
