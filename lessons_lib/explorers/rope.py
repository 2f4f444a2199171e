"""Chapter 8's explorer: rotate a query and a key by their positions (RoPE) and watch the score."""

from __future__ import annotations

import numpy as np
import traitlets

from ..positions import rope
from ._base import ExplorerBase, ExplorerValueError, as_index, as_lists, as_vector, bundle_esm, check_size
from ._fallback import label, one_line, svg_picture

__all__ = ["RopeExplorer"]

MAX_FEATURES = 64
"""RopeExplorer draws one dial per pair of features: made for up to 16 features, refused past this."""


class RopeExplorer(ExplorerBase):
    """One query vector at position m and one key vector at position n, rotated by :func:`lessons_lib.rope`.

    q, k: (d,) with d even; base as in ``rope``; positions run from 0 to ``max_position``.
    Synced traits, readable and settable from Python: ``query_position`` and ``key_position``.
    The page computes the rotation in JavaScript (``rope.js: ropeScore``); :meth:`score` does it with numpy.

    Size: made for up to 16 features (8 dials); more than :data:`MAX_FEATURES` features are refused.
    """

    _esm = bundle_esm("rope.js")

    q = traitlets.List().tag(sync=True)
    k = traitlets.List().tag(sync=True)
    base = traitlets.Float(10000.0).tag(sync=True)
    max_position = traitlets.Int(63).tag(sync=True)
    query_position = traitlets.Int(0).tag(sync=True)
    key_position = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, q, k, query_position=0, key_position=0, *, base=10000.0, max_position=63, title="", **kwargs):
        q = as_vector("q", q)
        k = as_vector("k", k, size=q.size)
        check_size("features of q", q.size, MAX_FEATURES, "16 features")
        if q.size % 2:
            raise ExplorerValueError(f"q and k must have an even number of features (rotated in pairs), got {q.size}")
        if isinstance(max_position, (bool, np.bool_)) or not isinstance(max_position, (int, np.integer)) or max_position < 1:
            raise ExplorerValueError(f"max_position must be a positive integer, got {max_position!r}")
        try:
            rope(q[None], base=base)  # the library's checks on base
        except (TypeError, ValueError) as exc:
            raise ExplorerValueError(str(exc)) from None
        super().__init__(
            q=as_lists(q), k=as_lists(k), base=float(base), max_position=int(max_position),
            query_position=as_index("query_position", query_position, int(max_position) + 1),
            key_position=as_index("key_position", key_position, int(max_position) + 1),
            title=str(title), **kwargs,
        )
        self._data_set = True

    @traitlets.validate("q", "k", "base", "max_position", "title")
    def _keep_data(self, proposal):
        """The data is computed and checked once, in the constructor: a page may not replace it."""
        name = proposal["trait"].name
        if getattr(self, "_data_set", False) and proposal["value"] != getattr(self, name):
            raise ExplorerValueError(f"{name} is fixed when the explorer is made; create a new explorer instead")
        return proposal["value"]

    @traitlets.validate("query_position", "key_position")
    def _check_position(self, proposal):
        return as_index(proposal["trait"].name, proposal["value"], self.max_position + 1)

    def score(self) -> float:
        """q at ``query_position`` · k at ``key_position``, both rotated by ``lessons_lib.rope``."""
        q_rot = rope(np.array([self.q]), [self.query_position], base=self.base)
        k_rot = rope(np.array([self.k]), [self.key_position], base=self.base)
        return float((q_rot @ k_rot.T)[0, 0])

    def _summary(self) -> str:
        return one_line(f"RopeExplorer: {len(self.q)} features, query at position {self.query_position}, key at "
                        f"position {self.key_position} (offset {self.query_position - self.key_position}), "
                        f"score {self.score():.4f}", 200)

    def _fallback_svg(self) -> str:
        half = len(self.q) // 2
        q_rot = rope(np.array([self.q]), [self.query_position], base=self.base)[0]
        k_rot = rope(np.array([self.k]), [self.key_position], base=self.base)[0]
        size, radius = 92, 38
        parts = []
        for i in range(half):
            cx, cy = 8 + size * i + size / 2, 8 + size / 2
            scale = max(np.hypot(q_rot[i], q_rot[i + half]), np.hypot(k_rot[i], k_rot[i + half]), 1e-12)
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="none" stroke="#c4c8cc"/>')
            for vec, colour, dash in ((k_rot, "#3b5b92", ' stroke-dasharray="5 2"'), (q_rot, "#d9480f", "")):
                x2, y2 = cx + radius * vec[i] / scale, cy - radius * vec[i + half] / scale
                parts.append(f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                             f'stroke-width="3"{dash}/>')
            parts.append(f'<text x="{cx:.1f}" y="{8 + size + 6:.1f}" text-anchor="middle">{label(f"pair {i}")}</text>')
        caption = (f"q at m = {self.query_position} (solid), k at n = {self.key_position} (dashed): "
                   f"score {self.score():.4f}")
        return svg_picture("".join(parts), width=16 + size * half, height=size + 24, caption=caption,
                           description="RoPE: each pair of features of the query and the key, rotated by its position")
