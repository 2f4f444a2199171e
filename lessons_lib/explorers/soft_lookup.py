"""Chapter 1's explorer: drag a query point among labelled 2-D keys and watch the soft lookup."""

from __future__ import annotations

import numpy as np
import traitlets

from ..attention import soft_lookup
from ._base import ExplorerBase, ExplorerValueError, as_labels, as_lists, as_matrix, as_scale, as_vector, bundle_esm

__all__ = ["SoftLookupExplorer"]


class SoftLookupExplorer(ExplorerBase):
    """Soft lookup of a draggable 2-D query: weights = softmax(scale · keys @ query), output = weights @ values.

    keys: (n, 2); values: (n,) or (n, d_v); labels: n strings; query: (x, y); scale >= 0;
    ``axis_labels`` names the two key coordinates on the plot.
    Synced traits, readable and settable from Python: ``query`` ([x, y]) and ``scale``.
    The front-end computes the lookup in JavaScript (``math.js: softLookup``), so it stays live in
    the static book; :meth:`lookup` computes the same thing with numpy.
    """

    _esm = bundle_esm("soft_lookup.js")

    key_vectors = traitlets.List().tag(sync=True)  # (n, 2); not "keys": Widget.keys lists the synced traits
    value_vectors = traitlets.List().tag(sync=True)  # (n, d_v)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    query = traitlets.List(traitlets.Float()).tag(sync=True)  # [x, y], checked by _check_query
    scale = traitlets.Float(1.0).tag(sync=True)
    axis_labels = traitlets.List(traitlets.Unicode(), minlen=2, maxlen=2).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, keys, values, labels, query=(0.0, 0.0), scale=1.0, *, axis_labels=("x", "y"), title="",
                 **kwargs):
        keys = as_matrix("keys", keys)
        if keys.shape[1] != 2:
            raise ExplorerValueError(f"keys must be 2-D points, shape (n, 2), so they can be drawn; got shape {keys.shape}")
        n = keys.shape[0]
        values_arr = np.asarray(values) if not isinstance(values, (str, bytes)) else values
        if getattr(values_arr, "ndim", None) == 1:
            values = as_vector("values", values_arr, size=n)[:, None]
        else:
            values = as_matrix("values", values, rows=n, rows_from="key")
        labels = as_labels("labels", labels, n, what="keys")
        query = as_vector("query", query, size=2)
        scale = as_scale(scale, default=1.0, allow_zero=True)
        axis_labels = as_labels("axis_labels", axis_labels, 2, what="axes")
        super().__init__(
            key_vectors=as_lists(keys),
            value_vectors=as_lists(values),
            labels=labels,
            query=[float(x) for x in query],
            scale=scale,
            axis_labels=axis_labels,
            title=str(title),
            **kwargs,
        )

    @traitlets.validate("query")
    def _check_query(self, proposal):
        return [float(x) for x in as_vector("query", proposal["value"], size=2)]

    @traitlets.validate("scale")
    def _check_scale(self, proposal):
        return as_scale(proposal["value"], default=1.0, allow_zero=True)

    def lookup(self):
        """``(output, weights)`` of the current query and scale, computed by ``lessons_lib.soft_lookup``."""
        return soft_lookup(np.array(self.query), np.array(self.key_vectors), np.array(self.value_vectors), scale=self.scale)
