"""What training needs from torch beyond its optimisers: a sparse product as an autograd function,
row-sparse optimisers for a hidden layer's input weights, and a thread-count guard.

Each function takes the ``torch`` module (imported by the caller through
:func:`intentroute.optional.import_torch`,
only when training), so importing this module does not import torch. docs/architecture.md says
why each exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..optional import import_torch

__all__ = [
    "ROW_OPTIMIZERS",
    "RowAdam",
    "RowOptimizer",
    "RowRMSprop",
    "sparse_matmul",
    "torch_threads",
]

_SPMM: Any = None


def sparse_matmul(torch: Any) -> Any:
    """An autograd function ``(W, X) -> X @ W`` for a SciPy CSR batch ``X`` and a torch ``W``.

    SciPy's sparse products are several times faster here than ``embedding_bag``'s backward (which
    sorts indices every step) or torch's sparse tensors; torch still owns the parameters, the
    rest of the graph and the optimizer.
    """
    global _SPMM
    if _SPMM is None:

        class SparseMatmul(torch.autograd.Function):  # type: ignore[misc]
            @staticmethod
            def forward(ctx: Any, weight: Any, xb: sp.csr_matrix) -> Any:
                ctx.xb = xb
                return torch.from_numpy(np.asarray(xb @ weight.detach().numpy(), dtype=np.float32))

            @staticmethod
            def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
                g = np.asarray(ctx.xb.T @ grad.detach().numpy(), dtype=np.float32)
                return torch.from_numpy(g), None

        _SPMM = SparseMatmul
    return _SPMM


class RowOptimizer:
    """What both row optimisers share: ``step(index, rows)`` takes the gathered rows ``index`` of
    the weight matrix (a leaf tensor holding their gradient), adds ``weight_decay`` as L2, lets
    :meth:`_update` change the gathered copy in place and writes it back; the other rows, and
    their optimiser state, stay as they are."""

    def __init__(self, weight: Any, lr: float, weight_decay: float) -> None:
        self.weight, self.lr, self.weight_decay = weight, lr, weight_decay
        self.t = 0

    def step(self, index: Any, rows: Any) -> None:
        self.t += 1
        g = rows.grad
        w = rows.detach()  # the gathered copy of the rows: updated in place, then written back
        if self.weight_decay:
            g = g.add(w, alpha=self.weight_decay)
        self._update(index, g, w)
        self.weight.data.index_copy_(0, index, w)

    def _update(self, index: Any, g: Any, w: Any) -> None:
        raise NotImplementedError


class RowAdam(RowOptimizer):
    """Adam (with ``weight_decay`` as L2) for a weight matrix whose gradient touches few rows.

    ``step(index, rows)`` updates the rows ``index`` of the matrix from ``rows.grad``; the other
    rows and their moments stay as they are, and the bias correction counts all steps, as
    ``torch.optim.SparseAdam`` does (which takes no weight decay and, coalescing a sparse gradient
    every step, measured about twice as slow per step here).
    """

    def __init__(self, torch: Any, weight: Any, lr: float, weight_decay: float) -> None:
        super().__init__(weight, lr, weight_decay)
        self.m = torch.zeros_like(weight)
        self.v = torch.zeros_like(weight)
        self.beta1, self.beta2, self.eps = 0.9, 0.999, 1e-8

    def _update(self, index: Any, g: Any, w: Any) -> None:
        m = self.m.index_select(0, index).mul_(self.beta1).add_(g, alpha=1 - self.beta1)
        v = self.v.index_select(0, index).mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        self.m.index_copy_(0, index, m)
        self.v.index_copy_(0, index, v)
        denom = v.div_(1 - self.beta2**self.t).sqrt_().add_(self.eps)
        w.addcdiv_(m, denom, value=-self.lr / (1 - self.beta1**self.t))


class RowRMSprop(RowOptimizer):
    """RMSprop with one second-moment accumulator per row (row-wise, as embedding tables are
    trained), for a weight matrix whose gradient touches few rows; ``weight_decay`` as L2.

    Against :class:`RowAdam` it keeps no first moment and one number per row instead of one per
    weight, so a step reads and writes the batch's rows once: about half the time of an ``mlp``
    epoch here (docs/benchmarks.md). The accumulator is bias-corrected over all steps, as Adam's.
    """

    def __init__(self, torch: Any, weight: Any, lr: float, weight_decay: float) -> None:
        super().__init__(weight, lr, weight_decay)
        self.v = torch.zeros(weight.shape[0], dtype=weight.dtype)
        self.beta2, self.eps = 0.999, 1e-8
        self._vector_norm = torch.linalg.vector_norm

    def _update(self, index: Any, g: Any, w: Any) -> None:
        mean_sq = self._vector_norm(g, dim=1).square_().div_(g.shape[1])
        v = self.v.index_select(0, index).mul_(self.beta2).add_(mean_sq, alpha=1 - self.beta2)
        self.v.index_copy_(0, index, v)
        denom = v.div_(1 - self.beta2**self.t).sqrt_().add_(self.eps)
        w.addcdiv_(g, denom.unsqueeze(1), value=-self.lr)


ROW_OPTIMIZERS: dict[str, type[RowAdam] | type[RowRMSprop]] = {"adam": RowAdam, "rowwise_rmsprop": RowRMSprop}


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[Any]:
    torch = import_torch()
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield torch
    finally:
        torch.set_num_threads(before)
