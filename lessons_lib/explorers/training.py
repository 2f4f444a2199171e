"""Chapter 10's explorer: slide through training snapshots; the attention map at each step beside the loss curve."""

from __future__ import annotations

import numpy as np
import traitlets

from ._base import ExplorerBase, ExplorerValueError, as_index, as_labels, as_lists, as_vector, bundle_esm

__all__ = ["TrainingExplorer"]

_ROW_SUM_TOLERANCE = 1e-6


class TrainingExplorer(ExplorerBase):
    """Attention maps stored during training, one per snapshot, with the loss curve.

    tokens: n strings (the example whose attention is shown); snapshots: (S, heads, n, n) or (S, n, n)
    attention weights, each row a distribution; snapshot_steps: S non-decreasing training steps, the
    step each snapshot was taken after; losses: the loss at every step. Synced traits, readable and
    settable from Python: ``snapshot_index`` and ``head``.
    """

    _esm = bundle_esm("training.js")

    tokens = traitlets.List(traitlets.Unicode()).tag(sync=True)
    snapshots = traitlets.List().tag(sync=True)   # always (S, heads, n, n)
    snapshot_steps = traitlets.List(traitlets.Int()).tag(sync=True)
    losses = traitlets.List(traitlets.Float()).tag(sync=True)
    head_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    snapshot_index = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tokens, snapshots, snapshot_steps, losses, *, head_labels=None, snapshot_index=None, head=0,
                 title="", **kwargs):
        tokens = as_labels("tokens", tokens)
        n = len(tokens)
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
        if (w < 0).any() or (np.abs(w.sum(axis=-1) - 1.0) > _ROW_SUM_TOLERANCE).any():
            raise ExplorerValueError(f"every row of snapshots must be a distribution (>= 0, summing to 1); shape {w.shape}")
        steps = np.asarray(snapshot_steps)
        if steps.dtype.kind not in "iu" or steps.shape != (w.shape[0],):
            raise ExplorerValueError(
                f"snapshot_steps must be {w.shape[0]} integers (one per snapshot), got {steps.dtype} of shape {steps.shape}"
            )
        losses = as_vector("losses", losses)
        if (np.diff(steps) < 0).any() or steps[0] < 0 or steps[-1] > losses.size:
            raise ExplorerValueError(
                f"snapshot_steps must be non-decreasing, between 0 and len(losses) = {losses.size}; got {steps.tolist()}"
            )
        heads = w.shape[1]
        head_labels = ([f"head {h}" for h in range(heads)] if head_labels is None
                       else as_labels("head_labels", head_labels, heads, what="heads"))
        super().__init__(
            tokens=tokens,
            snapshots=as_lists(w),
            snapshot_steps=[int(s) for s in steps],
            losses=losses.tolist(),
            head_labels=head_labels,
            snapshot_index=as_index("snapshot_index", w.shape[0] - 1 if snapshot_index is None else snapshot_index, w.shape[0]),
            head=as_index("head", head, heads),
            title=str(title),
            **kwargs,
        )

    @traitlets.validate("snapshot_index")
    def _check_snapshot_index(self, proposal):
        return as_index("snapshot_index", proposal["value"], len(self.snapshot_steps))

    @traitlets.validate("head")
    def _check_head(self, proposal):
        return as_index("head", proposal["value"], len(self.head_labels))

    def shown_weights(self) -> np.ndarray:
        """The (n, n) attention map shown now: the selected snapshot and head."""
        return np.array(self.snapshots[self.snapshot_index][self.head])
