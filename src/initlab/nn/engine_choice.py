r"""Which first-layer engine a run takes, and why: the ``direct`` and ``sample`` engines'
estimated flops (:func:`flops`) and the choice they decide for ``engine = "auto"``
(:func:`choose`), which refuses ``sample`` for an optimizer that is not linear in past
gradients. The engines themselves, and the cost model's derivation, are in
:mod:`initlab.nn.engines`.
"""

from __future__ import annotations

import math

from initlab._validation import InitlabError, unknown_name

NAMES = ("direct", "sample")
"""The engines by name (the keys of :data:`initlab.nn.engines.ENGINES`)."""
CHOICES = ("auto", *NAMES)
"""Valid values of an ``engine`` argument or spec key."""


def flops(
    engine: str, n_features: int, m: int, K: int, n1: int, steps: int, batch: int | None = None
) -> float:
    """Estimated floating-point operations of the first layer over a run of `steps` steps
    on batches of `batch` columns (default m)."""
    B = m if batch is None else batch
    if engine == "direct":
        return 4.0 * K * n1 * n_features * B * steps
    if engine == "sample":
        setup = 2.0 * n_features * m * m + 2.0 * K * n1 * n_features * m
        final = 2.0 * K * n1 * m * n_features  # materializing W_1
        return setup + final + 2.0 * K * n1 * m * B * steps
    raise unknown_name("engine", engine, NAMES)


def choose(
    engine: str,
    n_features: int,
    m: int,
    K: int,
    n1: int,
    steps: int,
    *,
    batch: int | None = None,
    optimizer: object | None = None,
) -> tuple[str, str]:
    """Resolve ``"auto"`` and check the choice against the optimizer.

    Returns
    -------
    (name, reason)
        The engine, and why: ``"requested"``, the optimizer that rules ``sample`` out, or
        the :func:`flops` estimates that decided.

    Raises
    ------
    InitlabError
        For an unknown engine, or ``"sample"`` with an optimizer that is not linear.
    """
    if engine not in CHOICES:
        raise unknown_name("engine", engine, CHOICES)
    linear = getattr(optimizer, "linear", True)
    name = getattr(optimizer, "name", "gd")
    if not linear:
        why = (
            f"{name} is not a linear combination of past gradients (its sqrt(v) leaves the "
            "row space of X), so W1 = a W1(0) + C X^T does not hold"
        )
        if engine == "sample":
            raise InitlabError(f"engine 'sample' cannot train with {name}: {why}; use 'direct'")
        return "direct", why
    if engine != "auto":
        return engine, "requested"
    est = {e: flops(e, n_features, m, K, n1, steps, batch) for e in NAMES}
    best = min(est, key=est.__getitem__)
    detail = ", ".join(f"{e} {math.floor(est[e]):.3g}" for e in est)
    return best, f"fewer estimated first-layer flops ({detail})"
