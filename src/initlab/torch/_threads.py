r"""One thread for initlab's own measurements of torch modules, as for NumPy's BLAS.

A reduction split over several threads adds its partial sums in another order, so a
variance, a norm or a forward pass measured by :func:`initlab.torch.lsuv` or the
:class:`initlab.torch.Recorder` could change in its last bits with the machine's thread
count. Inside :func:`one_thread` torch's intra-op pool (``torch.set_num_threads``) and
NumPy's BLAS (``threadpoolctl``) use one thread; both are restored on exit, even on an
error, so the caller's training loop keeps its own setting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the body with one torch intra-op thread and one BLAS thread; restore both after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
