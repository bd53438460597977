r"""Character-level data for the worked muP example: the Zen of Python, shipped with Python.

:func:`zen_text` reads the text of the standard library's ``this`` module from its source
file (ROT13-encoded there; importing the module would print it) and decodes it: 856
characters over 45 distinct ones on every Python 3 release since 2.2. :func:`char_batches`
cuts it into next-character prediction batches.
"""

from __future__ import annotations

import codecs
import importlib.util
import re
from collections.abc import Callable

import torch

from initlab._validation import InitlabError, check_number


def zen_text() -> str:
    """The Zen of Python (``import this``), read without printing it."""
    spec = importlib.util.find_spec("this")
    if spec is None or spec.origin is None:
        raise InitlabError("the standard library's 'this' module was not found")
    with open(spec.origin, encoding="utf-8") as f:
        found = re.search(r's = """(.*?)"""', f.read(), re.S)
    if found is None:
        raise InitlabError(f"{spec.origin} does not hold the Zen of Python as expected")
    return codecs.decode(found.group(1), "rot13")


def char_batches(
    text: str, context: int, batch: int, seed: int = 0
) -> tuple[list[str], Callable[[int], tuple[torch.Tensor, torch.Tensor]]]:
    r"""The vocabulary (sorted characters) and ``batches(t) -> (x, y)``.

    Step ``t`` draws `batch` windows of ``context + 1`` characters at offsets from
    ``torch.Generator().manual_seed(seed * 1_000_003 + t)``; ``x`` is each window's first
    `context` character ids ``(batch, context)``, ``y`` the next characters (the window
    shifted by one). The same ``t`` always gives the same batch.
    """
    context = int(check_number("context", context, low=1, integer=True))
    batch = int(check_number("batch", batch, low=1, integer=True))
    if len(text) <= context + 1:
        raise InitlabError(f"text of {len(text)} characters for a context of {context}")
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text])
    windows = ids.unfold(0, context + 1, 1)  # (len - context, context + 1)

    def batches(t: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + int(t))
        w = windows[torch.randint(0, windows.shape[0], (batch,), generator=g)]
        return w[:, :-1], w[:, 1:]

    return vocab, batches
