"""Chapter 10's explorer: slide through training snapshots; the attention map at each step beside the loss curve."""

from __future__ import annotations

import numpy as np
import traitlets

from ._base import (
    ExplorerBase,
    ExplorerValueError,
    as_index,
    as_labels,
    as_lists,
    as_text,
    as_vector,
    bundle_esm,
    check_size,
    explorer_errors,
    synced,
)
from ._fallback import labelled_heatmap, one_line, svg_picture

__all__ = ["TrainingExplorer"]

_ROW_SUM_TOLERANCE = 1e-6
MAX_TOKENS = 24
"""TrainingExplorer prints every weight of the map in a table: made for up to 12 tokens, refused past this."""
MAX_WEIGHTS = 200_000
"""The most attention weights (all snapshots and heads) a TrainingExplorer stores in the page (about 4 MB)."""
MAX_STEPS = 20_000
"""The longest loss curve a TrainingExplorer stores (one number per step)."""
_DATA = ("tokens", "snapshots", "snapshot_steps", "losses", "head_labels")  # the synced traits checked together


class TrainingExplorer(ExplorerBase):
    """Attention maps stored during training, one per snapshot, with the loss curve.

    tokens: n strings (the example whose attention is shown); snapshots: (S, heads, n, n) or (S, n, n)
    attention weights, each row a distribution; snapshot_steps: S non-decreasing training steps, the
    step each snapshot was taken after; losses: the loss at every step. Synced traits, readable and
    settable from Python: ``snapshot_index`` and ``head``.

    Size: made for up to 12 tokens and a few hundred snapshots; more than :data:`MAX_TOKENS` tokens,
    :data:`MAX_WEIGHTS` weights in all or :data:`MAX_STEPS` losses are refused. Every synced trait is
    checked like the constructor's arguments.
    """

    _esm = bundle_esm("training.js")

    tokens = synced([])
    snapshots = synced([])  # always (S, heads, n, n)
    snapshot_steps = synced([])
    losses = synced([])
    head_labels = synced([])
    snapshot_index = synced(0)
    head = synced(0)
    title = synced("")

    def __init__(self, tokens, snapshots, snapshot_steps, losses, *, head_labels=None, snapshot_index=None, head=0,
                 title="", **kwargs):
        with explorer_errors():
            shape = np.shape(snapshots)
        heads = shape[1] if len(shape) == 4 else 1
        head_labels = [f"head {h}" for h in range(heads)] if head_labels is None else head_labels
        data = _checked_data(tokens, snapshots, snapshot_steps, losses, head_labels)
        count = len(data["snapshot_steps"])
        super().__init__(
            **data,
            snapshot_index=as_index("snapshot_index", count - 1 if snapshot_index is None else snapshot_index, count),
            head=as_index("head", head, len(data["head_labels"])),
            title=as_text("title", title),
            **kwargs,
        )

    @traitlets.validate(*_DATA)
    def _check_data(self, proposal):
        fields = {name: getattr(self, name) for name in _DATA}
        name = proposal["trait"].name
        fields[name] = proposal["value"]
        return _checked_data(**fields)[name]

    @traitlets.validate("snapshot_index")
    def _check_snapshot_index(self, proposal):
        return as_index("snapshot_index", proposal["value"], len(self.snapshot_steps))

    @traitlets.validate("head")
    def _check_head(self, proposal):
        return as_index("head", proposal["value"], len(self.head_labels))

    @traitlets.validate("title")
    def _check_title(self, proposal):
        return as_text("title", proposal["value"])

    def shown_weights(self) -> np.ndarray:
        """The (n, n) attention map shown now: the selected snapshot and head."""
        return np.array(self.snapshots[self.snapshot_index][self.head])

    def _summary(self) -> str:
        step = self.snapshot_steps[self.snapshot_index]
        return one_line(f"TrainingExplorer: {len(self.snapshot_steps)} snapshots of {len(self.head_labels)} head(s) over "
                        f"{len(self.tokens)} tokens, {len(self.losses)} training steps, showing step {step}", 200)

    def _fallback_svg(self) -> str:
        step = self.snapshot_steps[self.snapshot_index]
        body, width, height = labelled_heatmap(self.shown_weights(), None, self.tokens, self.tokens, max_size=240)
        # The loss curve beside the map: log10(loss) against the step, the shown step marked.
        losses = np.log10(np.maximum(np.array(self.losses), 1e-12))
        lo, hi = np.floor(losses.min()), np.ceil(losses.max())
        x0, plot_w, plot_h = width + 40, 240, height - 40
        xs = x0 + plot_w * np.arange(losses.size) / max(losses.size - 1, 1)
        ys = 10 + plot_h * (hi - losses) / max(hi - lo, 1.0)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        marker = x0 + plot_w * min(step, losses.size - 1) / max(losses.size - 1, 1)
        body += (f'<polyline points="{points}" fill="none" stroke="#3b5b92" stroke-width="1.2"/>'
                 f'<line x1="{x0}" y1="{10 + plot_h:g}" x2="{x0 + plot_w}" y2="{10 + plot_h:g}" stroke="#333"/>'
                 f'<line x1="{x0}" y1="10" x2="{x0}" y2="{10 + plot_h:g}" stroke="#333"/>'
                 f'<line x1="{marker:.1f}" y1="10" x2="{marker:.1f}" y2="{10 + plot_h:g}" stroke="#d9480f" stroke-dasharray="4 2"/>'
                 f'<text x="{x0 + plot_w / 2:g}" y="{plot_h + 28:g}" text-anchor="middle">training step (0 … {losses.size})</text>'
                 f'<text x="{x0 - 4}" y="16" text-anchor="end" font-size="10">1e{int(hi)}</text>'
                 f'<text x="{x0 - 4}" y="{10 + plot_h:g}" text-anchor="end" font-size="10">1e{int(lo)}</text>')
        description = f"Attention of {one_line(self.head_labels[self.head], 40)} after {step} training steps, beside the loss curve"
        return svg_picture(body, width=x0 + plot_w + 10, height=height, description=description,
                           caption=f"After {step} of {len(self.losses)} steps. Static picture: the live explorer needs JavaScript.")


def _checked_data(tokens, snapshots, snapshot_steps, losses, head_labels) -> dict:
    """The constructor's checks, also run for every update of a synced data trait; snapshots become (S, heads, n, n)."""
    tokens = as_labels("tokens", tokens)
    n = len(tokens)
    check_size("the number of tokens", n, MAX_TOKENS, "up to 12 tokens")
    if isinstance(snapshots, (str, bytes)):
        raise ExplorerValueError(f"snapshots must be a numeric array, got {type(snapshots).__name__}")
    try:
        w = np.asarray(snapshots, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ExplorerValueError(f"snapshots must be a numeric array: {exc}") from None
    if not np.isfinite(w).all():
        raise ExplorerValueError(f"snapshots contains non-finite values (NaN or inf): shape {w.shape}")
    if w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4 or w.shape[0] == 0 or w.shape[1] == 0 or w.shape[2:] != (n, n):
        raise ExplorerValueError(
            f"snapshots must have shape (S, heads, n, n) or (S, n, n) with n = {n} tokens, got shape {np.shape(snapshots)}"
        )
    check_size("the number of weights", w.size, MAX_WEIGHTS, "a few hundred snapshots of a small map")
    if (w < 0).any() or (np.abs(w.sum(axis=-1) - 1.0) > _ROW_SUM_TOLERANCE).any():
        raise ExplorerValueError(f"every row of snapshots must be a distribution (>= 0, summing to 1); shape {w.shape}")
    steps = np.asarray(snapshot_steps)
    if steps.dtype.kind not in "iu" or steps.shape != (w.shape[0],):
        raise ExplorerValueError(
            f"snapshot_steps must be {w.shape[0]} integers (one per snapshot), got {steps.dtype} of shape {steps.shape}"
        )
    losses = as_vector("losses", losses)
    check_size("the number of losses", losses.size, MAX_STEPS, "a few thousand training steps")
    if (np.diff(steps) < 0).any() or steps[0] < 0 or steps[-1] > losses.size:
        raise ExplorerValueError(
            f"snapshot_steps must be non-decreasing, between 0 and len(losses) = {losses.size}; got {steps.tolist()}"
        )
    heads = w.shape[1]
    return dict(
        tokens=tokens,
        snapshots=as_lists(w),
        snapshot_steps=[int(s) for s in steps],
        losses=losses.tolist(),
        head_labels=as_labels("head_labels", head_labels, heads, what="heads"),
    )
