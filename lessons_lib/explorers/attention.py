"""Chapters 2–4's explorer: click a token to make it the query and follow its attention step by step."""

from __future__ import annotations

import math

import numpy as np
import traitlets

from .._checks import is_integer
from ..attention import scaled_dot_product_attention
from ..masks import MASK_MODES, explorer_mask
from ._fallback import labelled_heatmap, one_line, svg_picture
from ._base import (
    ExplorerBase,
    ExplorerValueError,
    as_index,
    as_labels,
    as_lists,
    as_matrix,
    as_scale,
    as_text,
    bundle_esm,
    check_scores_finite,
    check_size,
    check_sums_finite,
    synced,
)

__all__ = ["AttentionExplorer", "MASK_MODES", "CONTROLS", "MAX_TOKENS"]

CONTROLS = ("scale", "mask")
"""The control groups an :class:`AttentionExplorer` can show: the scale slider and the mask settings."""


MAX_TOKENS = 128
"""AttentionExplorer is made for sentences of up to 64 tokens (one click under 16 ms); it refuses more than this."""
MAX_DIM = 256
"""The longest q, k or v vector an AttentionExplorer accepts (the page stores every number)."""
SLIDER_RANGE = 100.0
"""The page's scale slider reaches default_scale × SLIDER_RANGE: scores there must not overflow either."""


class AttentionExplorer(ExplorerBase):
    """Self-attention of one sentence, one query token at a time, with scale and mask controls.

    tokens: n strings; q, k: (n, d_k); v: (n, d_v). ``scale`` defaults to 1/√d_k.
    Synced traits, readable and settable from Python: ``query_index``, ``scale``, ``mask_mode``
    (one of :data:`MASK_MODES`), ``padding_length`` (None = n) and ``masked_cells`` (a list of
    ``[query, key]`` pairs hidden in ``custom`` mode). Clicking a heatmap cell in the page switches to
    ``custom`` mode, starting from the cells the current mode hides, and toggles that cell.
    ``controls`` (synced) chooses which control groups the page shows, from :data:`CONTROLS`:
    ``("scale", "mask")`` by default, ``("scale",)`` for the slider alone, ``()`` for neither (the
    token picker stays). Without the mask controls, clicking a heatmap row makes it the query instead.
    The front-end does the maths in JavaScript (``math.js: attentionRow``); :meth:`attention`
    computes the same weights with numpy.

    Size: made for up to 64 tokens; more than :data:`MAX_TOKENS` tokens, or vectors longer than
    :data:`MAX_DIM`, are refused (``ValueError``). Every synced trait is checked like the constructor's
    arguments, including q·k scores that would overflow at any scale the slider reaches.
    """

    _esm = bundle_esm("attention.js")

    tokens = synced([])
    q = synced([])
    k = synced([])
    v = synced([])
    default_scale = synced(1.0)
    scale = synced(1.0)
    query_index = synced(0)
    mask_mode = synced("none")
    padding_length = synced(None)
    masked_cells = synced([])
    controls = synced(list(CONTROLS))
    title = synced("")

    def __init__(self, tokens, q, k, v, scale=None, query_index=0, mask_mode=None, padding_length=None,
                 masked_cells=(), *, controls=CONTROLS, title="", **kwargs):
        tokens = as_labels("tokens", tokens)
        q_arr = as_matrix("q", q)
        default_scale = 1.0 / math.sqrt(q_arr.shape[1])
        data = _checked_data(tokens, q_arr, k, v, default_scale, as_scale(scale, default=default_scale, allow_zero=False))
        n = len(tokens)
        masked_cells = _as_cells(masked_cells, n)
        if mask_mode is None:
            mask_mode = "custom" if masked_cells else "none"
        super().__init__(
            **data,
            query_index=as_index("query_index", query_index, n),
            mask_mode=_as_mode(mask_mode),
            padding_length=_as_padding(padding_length, n),
            masked_cells=masked_cells,
            controls=_as_controls(controls),
            title=as_text("title", title),
            **kwargs,
        )

    def _summary(self) -> str:
        return one_line(
            f"AttentionExplorer: {len(self.tokens)} tokens, d_k = {len(self.q[0])}, query “{self.tokens[self.query_index]}”, "
            f"scale {self.scale:.4g}, mask {self.mask_mode}",
            200,
        )

    def _fallback_svg(self) -> str:
        allowed = self.mask()
        seeing = allowed.any(axis=1)
        mask = allowed | ~seeing[:, None]  # rows with every key hidden are drawn grey, not computed
        _, weights = scaled_dot_product_attention(np.array(self.q), np.array(self.k), np.array(self.v), mask=mask, scale=self.scale)
        rows = [w if ok else None for w, ok in zip(weights, seeing)]
        body, width, height = labelled_heatmap(rows, ~allowed, self.tokens, self.tokens, highlight_row=self.query_index)
        description = f"Attention weights of every query (rows) over every key (columns), scale {self.scale:.3g}, mask {self.mask_mode}"
        return svg_picture(body, width=width, height=height, description=description,
                           caption=f"Weights at scale {self.scale:.3g}, mask {self.mask_mode}. Static picture: the live explorer needs JavaScript.")

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

    # -- validation of settings, from Python or from the page: the constructor's checks ------------

    @traitlets.validate("tokens", "q", "k", "v", "default_scale", "scale")
    def _check_data(self, proposal):
        fields = {name: getattr(self, name) for name in ("tokens", "q", "k", "v", "default_scale", "scale")}
        name = proposal["trait"].name
        fields[name] = proposal["value"]
        fields["tokens"] = as_labels("tokens", fields["tokens"])
        fields["default_scale"] = as_scale(fields["default_scale"], default=1.0, allow_zero=False)
        fields["scale"] = as_scale(fields["scale"], default=fields["default_scale"], allow_zero=False)
        return _checked_data(**fields)[name]

    @traitlets.validate("query_index")
    def _check_query_index(self, proposal):
        return as_index("query_index", proposal["value"], len(self.tokens))

    @traitlets.validate("mask_mode")
    def _check_mask_mode(self, proposal):
        return _as_mode(proposal["value"])

    @traitlets.validate("padding_length")
    def _check_padding_length(self, proposal):
        return _as_padding(proposal["value"], len(self.tokens))

    @traitlets.validate("masked_cells")
    def _check_masked_cells(self, proposal):
        return _as_cells(proposal["value"], len(self.tokens))

    @traitlets.validate("title")
    def _check_title(self, proposal):
        return as_text("title", proposal["value"])

    @traitlets.validate("controls")
    def _check_controls(self, proposal):
        return _as_controls(proposal["value"])

    # -- the same maths in numpy ------------------------------------------------------------------

    def mask(self) -> np.ndarray:
        """The current boolean (n, n) mask, True = may attend."""
        return explorer_mask(self.mask_mode, len(self.tokens), self.padding_length, self.masked_cells)

    def attention(self):
        """``(output, weights)`` for every query under the current scale and mask (``scaled_dot_product_attention``)."""
        return scaled_dot_product_attention(
            np.array(self.q), np.array(self.k), np.array(self.v), mask=self.mask(), scale=self.scale
        )


def _checked_data(tokens: list[str], q, k, v, default_scale: float, scale: float) -> dict:
    """The constructor's checks of the data, also run for every update of a data trait."""
    n = len(tokens)
    check_size("the number of tokens", n, MAX_TOKENS, "up to 64 tokens")
    q = as_matrix("q", q, rows=n, rows_from="token")
    k = as_matrix("k", k, rows=n, rows_from="token")
    v = as_matrix("v", v, rows=n, rows_from="token")
    if q.shape[1] != k.shape[1]:
        raise ExplorerValueError(f"q and k must have the same d_k: q has shape {q.shape}, k has shape {k.shape}")
    check_size("the length of the q, k and v vectors", max(q.shape[1], v.shape[1]), MAX_DIM, "d_k, d_v of up to 64")
    with np.errstate(over="ignore", invalid="ignore"):
        scores = q @ k.T
        check_scores_finite(scores, "the scores q·k")
        check_scores_finite(scores * max(scale, SLIDER_RANGE * default_scale), "the scaled scores scale × q·k")
    check_sums_finite("v", v)
    return dict(tokens=tokens, q=as_lists(q), k=as_lists(k), v=as_lists(v), default_scale=default_scale, scale=scale)


def _as_mode(mode) -> str:
    if mode not in MASK_MODES:
        raise ExplorerValueError(f"mask_mode must be one of {', '.join(MASK_MODES)}; got {mode!r}")
    return str(mode)


def _as_controls(controls) -> list[str]:
    """A list of distinct control names from CONTROLS, in CONTROLS' order."""
    if isinstance(controls, (str, bytes)) or not isinstance(controls, (list, tuple)):
        raise ExplorerValueError(
            f"controls must be a tuple of names from {CONTROLS} (e.g. ('scale',) or ()), got {controls!r}"
        )
    for name in controls:
        if name not in CONTROLS:
            raise ExplorerValueError(f"controls may contain only {', '.join(CONTROLS)}; got {name!r}")
    if len(set(controls)) != len(controls):
        raise ExplorerValueError(f"controls must not repeat a name, got {list(controls)}")
    return [name for name in CONTROLS if name in controls]


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
