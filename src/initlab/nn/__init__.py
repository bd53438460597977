"""The core: activations, heads and losses, population networks, engines, optimizers, batch
schedules and the training loop.

Imports nothing of initlab but :mod:`initlab._rng` and :mod:`initlab._validation`.
"""
