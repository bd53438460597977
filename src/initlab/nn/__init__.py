"""The core: activations, losses, population networks, engines and the training loop.

Imports nothing of initlab but :mod:`initlab._rng` and :mod:`initlab._validation`.
"""
