"""Chapters 5 and 7's explorer: every head's attention weights side by side; click one to enlarge it."""

from __future__ import annotations

import numpy as np
import traitlets

from .._checks import as_float_array
from ._fallback import heatmap_image, label, one_line, svg_picture
from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, as_text, bundle_esm, check_size, explorer_errors, synced

__all__ = ["HeadsExplorer"]

_ROW_SUM_TOLERANCE = 1e-3  # float32 weights from a real model sum to 1 only to about 1e-6


MAX_TOKENS = 128
MAX_HEADS = 144
"""HeadsExplorer shows at most this many heads of all layers together (chapter 7's model has 6 × 12 = 72)."""
MAX_WEIGHTS = 200_000
"""The most attention weights a HeadsExplorer stores in the page (about 4 MB of page); more are refused."""


class HeadsExplorer(ExplorerBase):
    """Attention weights of several heads (and layers) as small multiples, one enlarged.

    tokens: n strings; weights: (heads, n, n) or (layers, heads, n, n), each row a distribution
    (non-negative, summing to 1). Synced traits, readable and settable from Python:
    ``selected_head``, ``query_index`` and ``layer``.

    Size: made for up to 64 tokens and 12 heads (or 6 layers × 12 heads at 16 tokens); refused past
    :data:`MAX_TOKENS` tokens, :data:`MAX_HEADS` heads in all, or :data:`MAX_WEIGHTS` weights in all.
    Every synced trait is checked like the constructor's arguments.
    """

    _esm = bundle_esm("heads.js")

    tokens = synced([])
    weights = synced([])  # always (layers, heads, n, n); one layer when 3-D was given
    head_labels = synced([])
    layer_labels = synced([])
    has_layers = synced(False)
    selected_head = synced(0)
    query_index = synced(0)
    layer = synced(0)
    title = synced("")

    def __init__(self, tokens, weights, head_labels=None, layer_labels=None, selected_head=0, query_index=0,
                 layer=0, *, title="", **kwargs):
        with explorer_errors():
            w = as_float_array("weights", weights)
        if w.ndim not in (3, 4):
            raise ExplorerValueError(
                f"weights must have shape (heads, n, n) or (layers, heads, n, n), got shape {w.shape}"
            )
        has_layers = w.ndim == 4
        w4 = w if has_layers else w[None]
        layers, heads = w4.shape[:2]
        head_labels = [f"head {h}" for h in range(heads)] if head_labels is None else head_labels
        layer_labels = [f"layer {i}" for i in range(layers)] if layer_labels is None else layer_labels
        data = _checked_data(tokens, w4, head_labels, layer_labels, has_layers, given_shape=w.shape)
        super().__init__(
            **data,
            selected_head=as_index("selected_head", selected_head, heads),
            query_index=as_index("query_index", query_index, len(data["tokens"])),
            layer=as_index("layer", layer, layers),
            title=as_text("title", title),
            **kwargs,
        )

    @property
    def num_layers(self) -> int:
        return len(self.layer_labels)

    @property
    def num_heads(self) -> int:
        return len(self.head_labels)

    @traitlets.validate("tokens", "weights", "head_labels", "layer_labels", "has_layers")
    def _check_data(self, proposal):
        fields = {name: getattr(self, name) for name in ("tokens", "weights", "head_labels", "layer_labels", "has_layers")}
        name = proposal["trait"].name
        fields[name] = proposal["value"]
        return _checked_data(*fields.values())[name]

    @traitlets.validate("selected_head")
    def _check_head(self, proposal):
        return as_index("selected_head", proposal["value"], self.num_heads)

    @traitlets.validate("query_index")
    def _check_query_index(self, proposal):
        return as_index("query_index", proposal["value"], len(self.tokens))

    @traitlets.validate("layer")
    def _check_layer(self, proposal):
        return as_index("layer", proposal["value"], self.num_layers)

    @traitlets.validate("title")
    def _check_title(self, proposal):
        return as_text("title", proposal["value"])

    def selected_weights(self) -> np.ndarray:
        """The (n,) weights of the selected query in the selected head and layer."""
        return np.array(self.weights[self.layer][self.selected_head][self.query_index])

    def _summary(self) -> str:
        layers = f"{self.num_layers} layers × " if self.has_layers else ""
        return one_line(f"HeadsExplorer: {layers}{self.num_heads} heads over {len(self.tokens)} tokens, showing "
                        f"{self.head_labels[self.selected_head]}", 200)

    def _fallback_svg(self) -> str:
        thumb, gap, per_row = 84, 10, 6
        heads = self.weights[self.layer]
        parts = []
        for h, matrix in enumerate(heads):
            x, y = 8 + (h % per_row) * (thumb + gap), 8 + (h // per_row) * (thumb + 24)
            parts.append(heatmap_image(_at_most(np.array(matrix), thumb // 2), x=x, y=y, width=thumb, height=thumb))
            if h == self.selected_head:
                parts.append(f'<rect x="{x - 2}" y="{y - 2}" width="{thumb + 4}" height="{thumb + 4}" fill="none" stroke="#1f4e79" stroke-width="2"/>')
            parts.append(f'<text x="{x + thumb / 2:g}" y="{y + thumb + 14}" text-anchor="middle" font-size="11">{label(self.head_labels[h], 14)}</text>')
        rows = -(-len(heads) // per_row)
        width = 8 + min(len(heads), per_row) * (thumb + gap)
        where = f"{self.layer_labels[self.layer]}, " if self.has_layers else ""
        description = f"Attention weights of every head ({where}{len(heads)} heads), one small heatmap each"
        return svg_picture("".join(parts), width=width, height=8 + rows * (thumb + 24), description=description,
                           caption=f"{one_line(self.layer_labels[self.layer], 30) + ', ' if self.has_layers else ''}{len(heads)} heads over {len(self.tokens)} tokens. Static picture: the live explorer needs JavaScript.")


def _at_most(matrix: np.ndarray, size: int) -> np.ndarray:
    """The matrix averaged over f × f blocks so that it has at most ``size`` rows (a thumbnail has few pixels)."""
    f = -(-matrix.shape[0] // size)
    if f == 1:
        return matrix
    starts = np.arange(0, matrix.shape[0], f)
    counts = np.diff(np.append(starts, matrix.shape[0]))
    sums = np.add.reduceat(np.add.reduceat(matrix, starts, axis=0), starts, axis=1)
    return sums / np.outer(counts, counts)


def _checked_data(tokens, weights, head_labels, layer_labels, has_layers, given_shape=None) -> dict:
    """The constructor's checks, also run for every update of a synced data trait; weights are (layers, heads, n, n)."""
    tokens = as_labels("tokens", tokens)
    n = len(tokens)
    check_size("the number of tokens", n, MAX_TOKENS, "up to 64 tokens")
    with explorer_errors():
        w4 = as_float_array("weights", weights)
    if w4.ndim != 4:
        raise ExplorerValueError(f"weights must be stored as (layers, heads, n, n), got shape {w4.shape}")
    layers, heads = w4.shape[:2]
    if layers == 0 or heads == 0:
        raise ExplorerValueError(f"weights has no heads or no layers: shape {w4.shape}")
    if w4.shape[2:] != (n, n):
        raise ExplorerValueError(f"weights must be (…, n, n) with n = {n} tokens, got shape {given_shape or w4.shape}")
    check_size("the number of heads (all layers)", layers * heads, MAX_HEADS, "12 heads, or 6 layers × 12 heads")
    check_size("the number of weights", w4.size, MAX_WEIGHTS, "12 heads over 64 tokens")
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
    if not isinstance(has_layers, (bool, np.bool_)):
        raise ExplorerValueError(f"has_layers must be True or False, got {type(has_layers).__name__}")
    has_layers = bool(has_layers)
    if not has_layers and layers != 1:
        raise ExplorerValueError(f"has_layers is False but weights has {layers} layers (shape {w4.shape})")
    return dict(
        tokens=tokens,
        weights=as_lists(w4),
        head_labels=as_labels("head_labels", head_labels, heads, what="heads"),
        layer_labels=as_labels("layer_labels", layer_labels, layers, what="layers"),
        has_layers=has_layers,
    )
