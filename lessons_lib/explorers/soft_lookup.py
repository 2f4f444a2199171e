"""Chapter 1's explorer: drag a query point among labelled 2-D keys and watch the soft lookup."""

from __future__ import annotations

import numpy as np
import traitlets

from ..attention import soft_lookup
from ._fallback import label, one_line, svg_picture, weight_rgb
from ._base import (
    ExplorerBase,
    ExplorerValueError,
    as_labels,
    as_lists,
    as_matrix,
    as_scale,
    as_text,
    as_vector,
    bundle_esm,
    check_scores_finite,
    check_size,
    check_sums_finite,
    synced,
)

__all__ = ["SoftLookupExplorer"]


MAX_KEYS = 32
"""SoftLookupExplorer is made for a handful of keys (up to 10, each labelled on the plot); it refuses more."""
MAX_VALUE_DIM = 64


class SoftLookupExplorer(ExplorerBase):
    """Soft lookup of a draggable 2-D query: weights = softmax(scale · keys @ query), output = weights @ values.

    keys: (n, 2); values: (n,) or (n, d_v); labels: n strings; query: (x, y); scale >= 0;
    ``axis_labels`` names the two key coordinates on the plot.
    Synced traits, readable and settable from Python: ``query`` ([x, y]) and ``scale``.
    The front-end computes the lookup in JavaScript (``math.js: softLookup``), so it stays live in
    the static book; :meth:`lookup` computes the same thing with numpy.

    Size: made for up to 10 keys; more than :data:`MAX_KEYS` keys, or values longer than
    :data:`MAX_VALUE_DIM`, are refused. Every synced trait is checked like the constructor's arguments,
    including scores that would overflow anywhere the query can be dragged, at any scale the slider reaches.
    """

    _esm = bundle_esm("soft_lookup.js")

    key_vectors = synced([])  # (n, 2); not "keys": Widget.keys lists the synced traits
    value_vectors = synced([])  # (n, d_v)
    labels = synced([])
    query = synced([0.0, 0.0])  # [x, y]
    scale = synced(1.0)
    axis_labels = synced(["x", "y"])
    title = synced("")

    def __init__(self, keys, values, labels, query=(0.0, 0.0), scale=1.0, *, axis_labels=("x", "y"), title="",
                 **kwargs):
        values_arr = np.asarray(values) if not isinstance(values, (str, bytes)) else values
        if getattr(values_arr, "ndim", None) == 1:
            values = as_vector("values", values_arr)[:, None]
        super().__init__(
            **_checked_data(keys, values, labels, query, scale, axis_labels, names=("keys", "values")),
            title=as_text("title", title),
            **kwargs,
        )

    @traitlets.validate("key_vectors", "value_vectors", "labels", "query", "scale", "axis_labels")
    def _check_data(self, proposal):
        fields = {name: getattr(self, name) for name in _DATA}
        name = proposal["trait"].name
        fields[name] = proposal["value"]
        return _checked_data(*fields.values())[name]

    @traitlets.validate("title")
    def _check_title(self, proposal):
        return as_text("title", proposal["value"])

    def lookup(self):
        """``(output, weights)`` of the current query and scale, computed by ``lessons_lib.soft_lookup``."""
        return soft_lookup(np.array(self.query), np.array(self.key_vectors), np.array(self.value_vectors), scale=self.scale)

    def _summary(self) -> str:
        return one_line(f"SoftLookupExplorer: {len(self.labels)} keys ({', '.join(self.labels)}), query "
                        f"({self.query[0]:g}, {self.query[1]:g}), scale {self.scale:g}", 200)

    def _fallback_svg(self) -> str:
        output, weights = self.lookup()
        keys, query = np.array(self.key_vectors), np.array(self.query)
        points = np.vstack([keys, query, [[0.0, 0.0]]])
        lo, hi = points.min(axis=0), points.max(axis=0)
        span = max(1.0, *(hi - lo)) * 1.3
        centre = (lo + hi) / 2
        size, pad = 320, 36

        def px(p):
            return (pad + (p[0] - centre[0] + span / 2) / span * (size - 2 * pad),
                    size - pad - (p[1] - centre[1] + span / 2) / span * (size - 2 * pad))

        qx, qy = px(query)
        colours = weight_rgb(weights)
        parts = [f'<rect x="{pad}" y="{pad}" width="{size - 2 * pad}" height="{size - 2 * pad}" fill="none" stroke="#c4c8cc"/>']
        for j, key in enumerate(keys):
            kx, ky = px(key)
            parts.append(f'<line x1="{qx:.1f}" y1="{qy:.1f}" x2="{kx:.1f}" y2="{ky:.1f}" stroke="#3b5b92" stroke-opacity="0.55" stroke-width="{0.5 + 7 * weights[j]:.2f}"/>')
        for j, key in enumerate(keys):
            kx, ky = px(key)
            r, g, b = colours[j]
            parts.append(f'<circle cx="{kx:.1f}" cy="{ky:.1f}" r="6" fill="rgb({r},{g},{b})" stroke="#1a1a1a"/>'
                         f'<text x="{kx:.1f}" y="{ky - 10:.1f}" text-anchor="middle">{label(self.labels[j], 16)} {weights[j]:.2f}</text>')
        parts.append(f'<path d="M{qx:.1f},{qy - 10:.1f} L{qx + 10:.1f},{qy:.1f} L{qx:.1f},{qy + 10:.1f} L{qx - 10:.1f},{qy:.1f} Z" fill="#d9480f" stroke="#1a1a1a"/>'
                     f'<text x="{qx:.1f}" y="{qy + 24:.1f}" text-anchor="middle">query</text>')
        parts.append(f'<text x="{size - pad}" y="{size - 6}" text-anchor="end">{label(self.axis_labels[0], 20)} →</text>'
                     f'<text x="{pad}" y="{pad - 8}">↑ {label(self.axis_labels[1], 20)}</text>')
        shown = ", ".join(f"{x:.3f}" for x in output[:4]) + (", …" if len(output) > 4 else "")
        parts.append(f'<text x="{pad}" y="{size + 12}">output = Σ weight × value = ({shown})</text>')
        description = "Soft lookup: the query among the keys, each key coloured and labelled with its weight"
        return svg_picture("".join(parts), width=size, height=size + 20, description=description,
                           caption=f"Query ({self.query[0]:g}, {self.query[1]:g}), scale {self.scale:g}. Static picture: the live explorer needs JavaScript.")


_DATA = ("key_vectors", "value_vectors", "labels", "query", "scale", "axis_labels")


def _checked_data(keys, values, labels, query, scale, axis_labels, *, names=("key_vectors", "value_vectors")) -> dict:
    """The constructor's checks, also run for every update of a synced trait."""
    keys = as_matrix(names[0], keys)
    if keys.shape[1] != 2:
        raise ExplorerValueError(f"{names[0]} must be 2-D points, shape (n, 2), so they can be drawn; got shape {keys.shape}")
    n = keys.shape[0]
    check_size("the number of keys", n, MAX_KEYS, "up to 10 keys")
    values = as_matrix(names[1], values, rows=n, rows_from="key")
    check_size("the length of the values", values.shape[1], MAX_VALUE_DIM, "values of a few numbers")
    labels = as_labels("labels", labels, n, what="keys")
    query = as_vector("query", query, size=2)
    scale = as_scale(scale, default=1.0, allow_zero=True)
    axis_labels = as_labels("axis_labels", axis_labels, 2, what="axes")
    # The page lets the reader drag the query across a plot about three times as wide as the points, with the
    # scale slider up to max(10, 2 × scale): the scores must stay finite everywhere there.
    with np.errstate(over="ignore", invalid="ignore"):
        reach = 3.0 * max(np.abs(keys).max(), np.abs(query).max(), 1.0)
        check_scores_finite(np.array([max(10.0, 2.0 * scale) * 2.0 * reach * reach]), f"the scores scale × {names[0]} · query")
    check_sums_finite(names[1], values)
    return dict(key_vectors=as_lists(keys), value_vectors=as_lists(values), labels=labels,
                query=[float(x) for x in query], scale=scale, axis_labels=axis_labels)
