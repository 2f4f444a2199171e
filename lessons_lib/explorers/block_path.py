"""Chapter 9's explorer: one token's path through a transformer block, pre-norm or post-norm."""

from __future__ import annotations

import numpy as np
import traitlets

from ..block import transformer_block_stages
from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, as_matrix, bundle_esm, check_size
from ._fallback import label, one_line, svg_picture

__all__ = ["BlockPathExplorer"]

MAX_TOKENS = 32
"""BlockPathExplorer prints a weight per token and head: made for up to 12 tokens, refused past this."""
MAX_FEATURES = 256
"""The widest d_model whose stage vectors a BlockPathExplorer stores in the page."""


class BlockPathExplorer(ExplorerBase):
    """The length of one token's vector after each step of a block, and its attention in every head.

    tokens: n strings; x: (n, d_model); params: as :func:`lessons_lib.init_block_params` returns. Both norm
    orders are computed here with :func:`lessons_lib.block.transformer_block_stages` and sent to the page.
    Synced traits, readable and settable from Python: ``norm_first`` and ``token_index``.

    Size: made for up to 12 tokens and d_model 64; more than :data:`MAX_TOKENS` tokens or
    :data:`MAX_FEATURES` features are refused.
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
        check_size("tokens", len(tokens), MAX_TOKENS, "12 tokens")
        x = as_matrix("x", x, rows=len(tokens), rows_from="token")
        check_size("features of x", x.shape[1], MAX_FEATURES, "d_model 64")
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
        self._data_set = True

    @traitlets.validate("tokens", "pre_names", "post_names", "pre_stages", "post_stages", "pre_weights", "post_weights", "title")
    def _keep_data(self, proposal):
        """The data is computed and checked once, in the constructor: a page may not replace it."""
        name = proposal["trait"].name
        if getattr(self, "_data_set", False) and proposal["value"] != getattr(self, name):
            raise ExplorerValueError(f"{name} is fixed when the explorer is made; create a new explorer instead")
        return proposal["value"]

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

    def _summary(self) -> str:
        names, norms, _ = self.path()
        order = "pre-norm" if self.norm_first else "post-norm"
        return one_line(f"BlockPathExplorer: {len(self.tokens)} tokens, {order}, following "
                        f"{self.tokens[self.token_index]!r}: length {norms[0]:.3g} in, {norms[-1]:.3g} out", 200)

    def _fallback_svg(self) -> str:
        names, norms, _ = self.path()
        longest = max(float(norms.max()), 1e-12)
        row, bar_width, text_width = 18, 160, 190
        parts = []
        for s, (name, length) in enumerate(zip(names, norms)):
            y = 8 + row * s
            parts.append(f'<text x="8" y="{y + 12}">{label(name)}</text>'
                         f'<rect x="{text_width}" y="{y + 3}" width="{bar_width * length / longest:.1f}" height="10" fill="#3b5b92"/>'
                         f'<text x="{text_width + bar_width + 6}" y="{y + 12}">{length:.2f}</text>')
        order = "pre-norm" if self.norm_first else "post-norm"
        caption = f"length of {self.tokens[self.token_index]!r} after each step ({order})"
        return svg_picture("".join(parts), width=text_width + bar_width + 60, height=16 + row * len(names),
                           caption=caption, description="One token's vector length through a transformer block")
