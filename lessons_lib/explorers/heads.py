"""Chapters 5 and 7's explorer: every head's attention weights side by side; click one to enlarge it."""

from __future__ import annotations

import numpy as np
import traitlets

from .._checks import as_float_array
from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, bundle_esm, explorer_errors

__all__ = ["HeadsExplorer"]

_ROW_SUM_TOLERANCE = 1e-3  # float32 weights from a real model sum to 1 only to about 1e-6


class HeadsExplorer(ExplorerBase):
    """Attention weights of several heads (and layers) as small multiples, one enlarged.

    tokens: n strings; weights: (heads, n, n) or (layers, heads, n, n), each row a distribution
    (non-negative, summing to 1). Synced traits, readable and settable from Python:
    ``selected_head``, ``query_index`` and ``layer``.
    """

    _esm = bundle_esm("heads.js")

    tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    weights = traitlets.List().tag(sync=True)  # always (layers, heads, n, n); one layer when 3-D was given
    head_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    layer_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    has_layers = traitlets.Bool(False).tag(sync=True)
    selected_head = traitlets.Int(0).tag(sync=True)
    query_index = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tokens, weights, head_labels=None, layer_labels=None, selected_head=0, query_index=0,
                 layer=0, *, title="", **kwargs):
        tokens = as_labels("tokens", tokens)
        n = len(tokens)
        with explorer_errors():
            w = as_float_array("weights", weights)
        if w.ndim not in (3, 4):
            raise ExplorerValueError(
                f"weights must have shape (heads, n, n) or (layers, heads, n, n), got shape {w.shape}"
            )
        has_layers = w.ndim == 4
        w4 = w if has_layers else w[None]
        layers, heads = w4.shape[:2]
        if layers == 0 or heads == 0:
            raise ExplorerValueError(f"weights has no heads or no layers: shape {w.shape}")
        if w4.shape[2:] != (n, n):
            raise ExplorerValueError(
                f"weights must be (…, n, n) with n = {n} tokens, got shape {w.shape}"
            )
        if (w4 < 0).any():
            bad = tuple(int(i) for i in np.argwhere(w4 < 0)[0])
            raise ExplorerValueError(f"weights must be non-negative; found {w4[bad]} at index {bad} of shape {w4.shape}")
        row_error = np.abs(w4.sum(axis=-1) - 1.0)
        if (row_error > _ROW_SUM_TOLERANCE).any():
            bad = tuple(int(i) for i in np.argwhere(row_error > _ROW_SUM_TOLERANCE)[0])
            raise ExplorerValueError(
                f"each row of weights must sum to 1 (a softmax output); the row at index {bad} of shape "
                f"{w4.shape} sums to {w4[bad].sum():.6g}"
            )
        head_labels = (
            [f"head {h}" for h in range(heads)] if head_labels is None else as_labels("head_labels", head_labels, heads, what="heads")
        )
        layer_labels = (
            [f"layer {i}" for i in range(layers)]
            if layer_labels is None
            else as_labels("layer_labels", layer_labels, layers, what="layers")
        )
        super().__init__(
            tokens=tokens,
            weights=as_lists(w4),
            head_labels=head_labels,
            layer_labels=layer_labels,
            has_layers=has_layers,
            selected_head=as_index("selected_head", selected_head, heads),
            query_index=as_index("query_index", query_index, n),
            layer=as_index("layer", layer, layers),
            title=str(title),
            **kwargs,
        )

    @property
    def num_layers(self) -> int:
        return len(self.layer_labels)

    @property
    def num_heads(self) -> int:
        return len(self.head_labels)

    @traitlets.validate("selected_head")
    def _check_head(self, proposal):
        return as_index("selected_head", proposal["value"], self.num_heads)

    @traitlets.validate("query_index")
    def _check_query_index(self, proposal):
        return as_index("query_index", proposal["value"], len(self.tokens))

    @traitlets.validate("layer")
    def _check_layer(self, proposal):
        return as_index("layer", proposal["value"], self.num_layers)

    def selected_weights(self) -> np.ndarray:
        """The (n,) weights of the selected query in the selected head and layer."""
        return np.array(self.weights[self.layer][self.selected_head][self.query_index])
