"""Chapters 2–4's explorer: click a token to make it the query and follow its attention step by step."""

from __future__ import annotations

import math

import numpy as np
import traitlets

from .._checks import is_integer
from ..attention import scaled_dot_product_attention
from ..masks import MASK_MODES, explorer_mask
from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, as_matrix, as_scale, bundle_esm

__all__ = ["AttentionExplorer", "MASK_MODES"]


class AttentionExplorer(ExplorerBase):
    """Self-attention of one sentence, one query token at a time, with scale and mask controls.

    tokens: n strings; q, k: (n, d_k); v: (n, d_v). ``scale`` defaults to 1/√d_k.
    Synced traits, readable and settable from Python: ``query_index``, ``scale``, ``mask_mode``
    (one of :data:`MASK_MODES`), ``padding_length`` (None = n) and ``masked_cells`` (a list of
    ``[query, key]`` pairs hidden in ``custom`` mode). Clicking a heatmap cell in the page switches to
    ``custom`` mode, starting from the cells the current mode hides, and toggles that cell.
    The front-end does the maths in JavaScript (``math.js: attentionRow``); :meth:`attention`
    computes the same weights with numpy.
    """

    _esm = bundle_esm("attention.js")

    tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    q = traitlets.List().tag(sync=True)
    k = traitlets.List().tag(sync=True)
    v = traitlets.List().tag(sync=True)
    default_scale = traitlets.Float().tag(sync=True)
    scale = traitlets.Float().tag(sync=True)
    query_index = traitlets.Int(0).tag(sync=True)
    mask_mode = traitlets.Unicode("none").tag(sync=True)
    padding_length = traitlets.Int(None, allow_none=True).tag(sync=True)
    masked_cells = traitlets.List().tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tokens, q, k, v, scale=None, query_index=0, mask_mode=None, padding_length=None,
                 masked_cells=(), *, title="", **kwargs):
        tokens = as_labels("tokens", tokens)
        n = len(tokens)
        q = as_matrix("q", q, rows=n, rows_from="token")
        k = as_matrix("k", k, rows=n, rows_from="token")
        v = as_matrix("v", v, rows=n, rows_from="token")
        if q.shape[1] != k.shape[1]:
            raise ExplorerValueError(f"q and k must have the same d_k: q has shape {q.shape}, k has shape {k.shape}")
        default_scale = 1.0 / math.sqrt(q.shape[1])
        masked_cells = _as_cells(masked_cells, n)
        if mask_mode is None:
            mask_mode = "custom" if masked_cells else "none"
        super().__init__(
            tokens=tokens,
            q=as_lists(q),
            k=as_lists(k),
            v=as_lists(v),
            default_scale=default_scale,
            scale=as_scale(scale, default=default_scale, allow_zero=False),
            query_index=as_index("query_index", query_index, n),
            mask_mode=_as_mode(mask_mode),
            padding_length=_as_padding(padding_length, n),
            masked_cells=masked_cells,
            title=str(title),
            **kwargs,
        )

    @classmethod
    def from_embeddings(cls, tokens, x, W_q, W_k, W_v, **kwargs):
        """Project embeddings ``x`` (n, d_model) with ``W_q``, ``W_k`` (d_model, d_k) and ``W_v`` (d_model, d_v)."""
        tokens = as_labels("tokens", tokens)
        x = as_matrix("x", x, rows=len(tokens), rows_from="token")
        d_model = x.shape[1]
        projections = {}
        for name, w in (("W_q", W_q), ("W_k", W_k), ("W_v", W_v)):
            w = as_matrix(name, w)
            if w.shape[0] != d_model:
                raise ExplorerValueError(
                    f"{name} must have d_model = {d_model} rows to multiply x of shape {x.shape}, got shape {w.shape}"
                )
            projections[name] = w
        return cls(tokens, x @ projections["W_q"], x @ projections["W_k"], x @ projections["W_v"], **kwargs)

    # -- validation of settings, from Python or from the page ------------------------------------

    @traitlets.validate("query_index")
    def _check_query_index(self, proposal):
        return as_index("query_index", proposal["value"], len(self.tokens))

    @traitlets.validate("scale")
    def _check_scale(self, proposal):
        return as_scale(proposal["value"], default=self.default_scale, allow_zero=False)

    @traitlets.validate("mask_mode")
    def _check_mask_mode(self, proposal):
        return _as_mode(proposal["value"])

    @traitlets.validate("padding_length")
    def _check_padding_length(self, proposal):
        return _as_padding(proposal["value"], len(self.tokens))

    @traitlets.validate("masked_cells")
    def _check_masked_cells(self, proposal):
        return _as_cells(proposal["value"], len(self.tokens))

    # -- the same maths in numpy ------------------------------------------------------------------

    def mask(self) -> np.ndarray:
        """The current boolean (n, n) mask, True = may attend."""
        return explorer_mask(self.mask_mode, len(self.tokens), self.padding_length, self.masked_cells)

    def attention(self):
        """``(output, weights)`` for every query under the current scale and mask (``scaled_dot_product_attention``)."""
        return scaled_dot_product_attention(
            np.array(self.q), np.array(self.k), np.array(self.v), mask=self.mask(), scale=self.scale
        )


def _as_mode(mode) -> str:
    if mode not in MASK_MODES:
        raise ExplorerValueError(f"mask_mode must be one of {', '.join(MASK_MODES)}; got {mode!r}")
    return str(mode)


def _as_padding(length, n: int):
    if length is None:
        return None
    if not is_integer(length):
        raise ExplorerValueError(f"padding_length must be an integer or None, got {type(length).__name__}")
    if not 1 <= int(length) <= n:
        raise ExplorerValueError(f"padding_length must be between 1 and the number of tokens ({n}), got {length}")
    return int(length)


def _as_cells(cells, n: int) -> list[list[int]]:
    """Sorted, de-duplicated ``[query, key]`` pairs, each index in range(n)."""
    if isinstance(cells, (str, bytes)):
        raise ExplorerValueError("masked_cells must be a sequence of (query, key) pairs, not a string")
    arr = np.asarray(list(cells), dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ExplorerValueError(f"masked_cells must be a sequence of (query, key) pairs, got shape {arr.shape}")
    out = set()
    for pair in arr:
        i = as_index("masked_cells query index", pair[0], n)
        j = as_index("masked_cells key index", pair[1], n)
        out.add((i, j))
    return [list(c) for c in sorted(out)]
