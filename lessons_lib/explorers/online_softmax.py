"""Chapter 6's explorer: one query's online softmax, one key block at a time, converging to the exact answer."""

from __future__ import annotations

import math

import numpy as np
import traitlets

from .._checks import check_positive_int
from ..attention import scaled_dot_product_attention
from ..online_softmax import online_softmax_steps
from ._fallback import label, svg_picture, text_on, weight_rgb
from ._base import (
    ExplorerBase,
    ExplorerValueError,
    as_index,
    as_labels,
    as_lists,
    as_matrix,
    as_scale,
    as_text,
    as_vector,
    bundle_esm,
    explorer_errors,
    check_scores_finite,
    check_size,
    check_sums_finite,
    synced,
)

__all__ = ["OnlineSoftmaxExplorer"]


MAX_KEYS = 256
"""OnlineSoftmaxExplorer is made for up to 64 keys (a table row per block); it refuses more than this."""
MAX_DIM = 64
_DATA = ("q", "k", "v", "key_labels", "block_size", "scale")  # the synced traits the constructor checks together


class OnlineSoftmaxExplorer(ExplorerBase):
    """Step through the key blocks of the online softmax for one query row.

    q: (d,); k: (n, d); v: (n, d_v); ``block_size`` keys per step; ``scale`` defaults to 1/√d.
    Synced trait ``step`` (0 = nothing processed yet … ``num_blocks`` = every block) is readable and
    settable from Python. The exact answer shown beside the running one is computed here by
    ``lessons_lib.scaled_dot_product_attention``; the running values by JavaScript
    (``math.js: onlineSoftmax``), which :func:`online_softmax_steps` repeats in numpy.

    Size: made for up to 64 keys; more than :data:`MAX_KEYS` keys, or vectors longer than
    :data:`MAX_DIM`, are refused. Every synced trait is checked like the constructor's arguments.
    """

    _esm = bundle_esm("online_softmax.js")

    q = synced([])
    k = synced([])
    v = synced([])
    key_labels = synced([])
    block_size = synced(1)
    scale = synced(1.0)
    exact_output = synced([])  # computed here from q, k, v and scale
    exact_weights = synced([])
    step = synced(0)
    title = synced("")

    def __init__(self, q, k, v, block_size, scale=None, *, step=0, key_labels=None, title="", **kwargs):
        q_arr = as_vector("q", q)
        scale = as_scale(scale, default=1.0 / math.sqrt(q_arr.shape[0]), allow_zero=False)
        if key_labels is None:
            key_labels = [f"k{j}" for j in range(np.shape(k)[0])] if np.ndim(k) == 2 else []
        data = _checked_data(q_arr, k, v, key_labels, block_size, scale)
        super().__init__(
            **data,
            step=as_index("step", step, _num_blocks(data) + 1),
            title=as_text("title", title),
            **kwargs,
        )

    @property
    def num_blocks(self) -> int:
        return -(-len(self.k) // self.block_size)

    @traitlets.validate(*_DATA, "exact_output", "exact_weights")
    def _check_data(self, proposal):
        fields = {name: getattr(self, name) for name in _DATA}
        name = proposal["trait"].name
        if name in fields:
            fields[name] = proposal["value"]
            checked = _checked_data(**fields)
        else:  # the exact answer is derived: it must be what q, k, v and scale give
            checked = _checked_data(**fields)
            if proposal["value"] != checked[name]:
                raise ExplorerValueError(f"{name} is computed from q, k, v and scale; set those instead")
        if self.step > _num_blocks(checked):
            raise ExplorerValueError(f"step {self.step} is past the last block ({_num_blocks(checked)}); set step first")
        return checked[name]

    @traitlets.observe(*_DATA)
    def _update_exact(self, change):
        checked = _checked_data(**{name: getattr(self, name) for name in _DATA})
        self.exact_output, self.exact_weights = checked["exact_output"], checked["exact_weights"]

    @traitlets.validate("step")
    def _check_step(self, proposal):
        return as_index("step", proposal["value"], self.num_blocks + 1)

    @traitlets.validate("title")
    def _check_title(self, proposal):
        return as_text("title", proposal["value"])

    def steps(self):
        """The recurrence in numpy (:func:`online_softmax_steps`) for this explorer's data."""
        return online_softmax_steps(self.q, self.k, self.v, self.block_size, self.scale)

    def _summary(self) -> str:
        return (f"OnlineSoftmaxExplorer: one query over {len(self.k)} keys in {self.num_blocks} blocks of "
                f"{self.block_size}, after {self.step} blocks")

    def _fallback_svg(self) -> str:
        scores = self.scale * (np.array(self.k) @ np.array(self.q))
        colours = weight_rgb(self.exact_weights)
        cell, gap, per_row = 44, 8, 12
        parts, x, y = [], 8, 8
        for start in range(0, len(scores), self.block_size):
            end = min(start + self.block_size, len(scores))
            width = (end - start) * cell
            if x + width > 8 + per_row * cell and x > 8:
                x, y = 8, y + cell + gap
            parts.append(f'<rect x="{x - 3}" y="{y - 3}" width="{width + 6}" height="{cell + 6}" fill="none" stroke="#888" stroke-dasharray="4 3"/>')
            for j in range(start, end):
                r, g, b = colours[j]
                fg = text_on(colours[j])
                parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="rgb({r},{g},{b})"/>'
                             f'<text x="{x + cell / 2 - 1:g}" y="{y + 17}" text-anchor="middle" font-size="11" fill="{fg}">{label(self.key_labels[j], 6)}</text>'
                             f'<text x="{x + cell / 2 - 1:g}" y="{y + 33}" text-anchor="middle" font-size="11" fill="{fg}">{scores[j]:.2f}</text>')
                x += cell
            x += gap + 6
        y += cell + gap + 14
        shown = ", ".join(f"{v:.4f}" for v in self.exact_output[:4]) + (", …" if len(self.exact_output) > 4 else "")
        parts.append(f'<text x="8" y="{y}">exact softmax(scale · K q) V = ({shown})</text>')
        width = 8 + per_row * cell + 2 * (gap + 6) * min(per_row, self.num_blocks)
        description = f"The {len(scores)} keys in blocks of {self.block_size}, each with its score, coloured by its exact weight"
        return svg_picture("".join(parts), width=min(width, 720), height=y + 8, description=description,
                           caption=f"{len(scores)} keys in {self.num_blocks} blocks of {self.block_size}. Static picture: the live explorer needs JavaScript.")


def _num_blocks(data: dict) -> int:
    return -(-len(data["k"]) // data["block_size"])


def _checked_data(q, k, v, key_labels, block_size, scale) -> dict:
    """The constructor's checks, also run for every update of a synced data trait; adds the exact answer."""
    q = as_vector("q", q)
    k = as_matrix("k", k, cols=q.shape[0])
    v = as_matrix("v", v, rows=k.shape[0], rows_from="key")
    n = k.shape[0]
    check_size("the number of keys", n, MAX_KEYS, "up to 64 keys")
    check_size("the length of the q, k and v vectors", max(q.shape[0], v.shape[1]), MAX_DIM, "vectors of a few numbers")
    with explorer_errors():
        block_size = check_positive_int("block_size", block_size)
    if block_size > n:
        raise ExplorerValueError(f"block_size ({block_size}) must not exceed the number of keys ({n})")
    scale = as_scale(scale, default=1.0 / math.sqrt(q.shape[0]), allow_zero=False)
    key_labels = as_labels("key_labels", key_labels, n, what="keys")
    with np.errstate(over="ignore", invalid="ignore"):
        check_scores_finite(scale * (k @ q), "the scores scale × k · q")
    check_sums_finite("v", v)
    output, weights = scaled_dot_product_attention(q[None], k, v, scale=scale)
    if not np.isfinite(output).all():
        raise ExplorerValueError("the exact attention output is not finite; rescale q and k")
    return dict(q=as_lists(q), k=as_lists(k), v=as_lists(v), key_labels=key_labels, block_size=block_size, scale=scale,
                exact_output=as_lists(output[0]), exact_weights=as_lists(weights[0]))

