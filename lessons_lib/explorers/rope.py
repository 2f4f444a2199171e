"""Chapter 8's explorer: rotate a query and a key by their positions (RoPE) and watch the score."""

from __future__ import annotations

import numpy as np
import traitlets

from ..positions import rope
from ._base import ExplorerBase, ExplorerValueError, as_index, as_lists, as_vector, bundle_esm

__all__ = ["RopeExplorer"]


class RopeExplorer(ExplorerBase):
    """One query vector at position m and one key vector at position n, rotated by :func:`lessons_lib.rope`.

    q, k: (d,) with d even; base as in ``rope``; positions run from 0 to ``max_position``.
    Synced traits, readable and settable from Python: ``query_position`` and ``key_position``.
    The page computes the rotation in JavaScript (``rope.js: ropeScore``); :meth:`score` does it with numpy.
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

    @traitlets.validate("query_position", "key_position")
    def _check_position(self, proposal):
        return as_index(proposal["trait"].name, proposal["value"], self.max_position + 1)

    def score(self) -> float:
        """q at ``query_position`` · k at ``key_position``, both rotated by ``lessons_lib.rope``."""
        q_rot = rope(np.array([self.q]), [self.query_position], base=self.base)
        k_rot = rope(np.array([self.k]), [self.key_position], base=self.base)
        return float((q_rot @ k_rot.T)[0, 0])
