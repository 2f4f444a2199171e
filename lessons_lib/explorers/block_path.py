"""Chapter 9's explorer: one token's path through a transformer block, pre-norm or post-norm."""

from __future__ import annotations

import numpy as np
import traitlets

from ..block import transformer_block_stages
from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, as_matrix, bundle_esm

__all__ = ["BlockPathExplorer"]


class BlockPathExplorer(ExplorerBase):
    """The length of one token's vector after each step of a block, and its attention in every head.

    tokens: n strings; x: (n, d_model); params: as :func:`lessons_lib.init_block_params` returns. Both norm
    orders are computed here with :func:`lessons_lib.block.transformer_block_stages` and sent to the page.
    Synced traits, readable and settable from Python: ``norm_first`` and ``token_index``.
    """

    _esm = bundle_esm("block_path.js")

    tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    pre_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    post_names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    pre_stages = traitlets.List().tag(sync=True)  # (stages, n, d_model)
    post_stages = traitlets.List().tag(sync=True)
    pre_weights = traitlets.List().tag(sync=True)  # (heads, n, n)
    post_weights = traitlets.List().tag(sync=True)
    norm_first = traitlets.Bool(True).tag(sync=True)
    token_index = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tokens, x, params, num_heads, *, causal=False, eps=1e-5, norm_first=True, token_index=0,
                 title="", **kwargs):
        tokens = as_labels("tokens", tokens)
        x = as_matrix("x", x, rows=len(tokens), rows_from="token")
        if not isinstance(norm_first, (bool, np.bool_)):
            raise ExplorerValueError(f"norm_first must be True or False, got {norm_first!r}")
        computed = {}
        for order, flag in (("pre", True), ("post", False)):
            try:
                names, stages, weights = transformer_block_stages(x, params, num_heads, causal=causal, norm_first=flag, eps=eps)
            except (TypeError, ValueError) as exc:
                raise ExplorerValueError(str(exc)) from None
            computed[f"{order}_names"] = names
            computed[f"{order}_stages"] = as_lists(stages)
            computed[f"{order}_weights"] = as_lists(weights)
        super().__init__(
            tokens=tokens, norm_first=bool(norm_first), token_index=as_index("token_index", token_index, len(tokens)),
            title=str(title), **computed, **kwargs,
        )

    @traitlets.validate("token_index")
    def _check_token_index(self, proposal):
        return as_index("token_index", proposal["value"], len(self.tokens))

    def path(self):
        """``(names, norms, attention)`` for the current token and norm order, computed with numpy."""
        order = "pre" if self.norm_first else "post"
        stages = np.array(getattr(self, f"{order}_stages"))
        weights = np.array(getattr(self, f"{order}_weights"))
        norms = np.linalg.norm(stages[:, self.token_index], axis=-1)
        return list(getattr(self, f"{order}_names")), norms, weights[:, self.token_index]
