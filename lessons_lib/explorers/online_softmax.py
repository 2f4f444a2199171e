"""Chapter 6's explorer: one query's online softmax, one key block at a time, converging to the exact answer."""

from __future__ import annotations

import math

import numpy as np
import traitlets

from .._checks import check_positive_int
from ..attention import scaled_dot_product_attention
from ..online_softmax import online_softmax_steps
from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, as_matrix, as_scale, as_vector, bundle_esm
from ._base import explorer_errors

__all__ = ["OnlineSoftmaxExplorer"]


class OnlineSoftmaxExplorer(ExplorerBase):
    """Step through the key blocks of the online softmax for one query row.

    q: (d,); k: (n, d); v: (n, d_v); ``block_size`` keys per step; ``scale`` defaults to 1/√d.
    Synced trait ``step`` (0 = nothing processed yet … ``num_blocks`` = every block) is readable and
    settable from Python. The exact answer shown beside the running one is computed here by
    ``lessons_lib.scaled_dot_product_attention``; the running values by JavaScript
    (``math.js: onlineSoftmax``), which :func:`online_softmax_steps` repeats in numpy.
    """

    _esm = bundle_esm("online_softmax.js")

    q = traitlets.List().tag(sync=True)
    k = traitlets.List().tag(sync=True)
    v = traitlets.List().tag(sync=True)
    key_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    block_size = traitlets.Int().tag(sync=True)
    scale = traitlets.Float().tag(sync=True)
    exact_output = traitlets.List().tag(sync=True)
    exact_weights = traitlets.List().tag(sync=True)
    step = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, q, k, v, block_size, scale=None, *, step=0, key_labels=None, title="", **kwargs):
        q = as_vector("q", q)
        k = as_matrix("k", k, cols=q.shape[0])
        v = as_matrix("v", v, rows=k.shape[0], rows_from="key")
        with explorer_errors():
            block_size = check_positive_int("block_size", block_size)
        if block_size > k.shape[0]:
            raise ExplorerValueError(f"block_size ({block_size}) must not exceed the number of keys ({k.shape[0]})")
        scale = as_scale(scale, default=1.0 / math.sqrt(q.shape[0]), allow_zero=False)
        n = k.shape[0]
        key_labels = [f"k{j}" for j in range(n)] if key_labels is None else as_labels("key_labels", key_labels, n, what="keys")
        output, weights = scaled_dot_product_attention(q[None], k, v, scale=scale)
        if not np.isfinite(output).all():
            raise ExplorerValueError("the exact attention output is not finite; rescale q and k")
        num_blocks = -(-n // block_size)
        super().__init__(
            q=as_lists(q),
            k=as_lists(k),
            v=as_lists(v),
            key_labels=key_labels,
            block_size=block_size,
            scale=scale,
            exact_output=as_lists(output[0]),
            exact_weights=as_lists(weights[0]),
            step=as_index("step", step, num_blocks + 1),
            title=str(title),
            **kwargs,
        )

    @property
    def num_blocks(self) -> int:
        return -(-len(self.k) // self.block_size)

    @traitlets.validate("step")
    def _check_step(self, proposal):
        return as_index("step", proposal["value"], self.num_blocks + 1)

    def steps(self):
        """The recurrence in numpy (:func:`online_softmax_steps`) for this explorer's data."""
        return online_softmax_steps(self.q, self.k, self.v, self.block_size, self.scale)
