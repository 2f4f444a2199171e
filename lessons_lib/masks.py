"""Attention masks: which keys each query may see. Boolean, True = may attend.

The one home of the causal rule, of padding masks, of combining a caller's mask with ``causal=True``,
and of the check that every query row still sees at least one key. Every other module uses these.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_bool_mask, check_integer, check_positive_int

__all__ = ["causal_mask", "padding_mask", "explorer_mask", "MASK_MODES"]

MASK_MODES = ("none", "causal", "padding", "custom")
"""The explorers' mask modes. ``none``: every key visible; ``causal``: key j visible to query i when j <= i;
``padding``: only the first ``padding_length`` keys visible; ``custom``: every key visible except the
``masked_cells``."""


def last_visible_key(query, n_q, n_k):
    """The causal rule: key j is visible to query i iff j <= i + (n_k - n_q).

    Queries are aligned to the last keys (a decoder's new tokens come after the cached ones), so the
    last query sees every key. Works on integers and on arrays of query positions alike; a result
    below 0 means that query sees no key.
    """
    return query + (n_k - n_q)


def causal_block(n_q, n_k, q_start, q_end, k_start, k_end) -> np.ndarray:
    """Rows ``q_start:q_end`` and columns ``k_start:k_end`` of ``causal_mask(n_q, n_k)``, built on their own."""
    queries = np.arange(q_start, q_end)[:, None]
    return np.arange(k_start, k_end)[None, :] <= last_visible_key(queries, n_q, n_k)


def causal_mask(n_q, n_k=None):
    """Boolean ``(n_q, n_k)`` mask, True where query i may attend to key j (j ≤ i, aligned to the last positions)."""
    n_q = check_positive_int("n_q", n_q)
    n_k = n_q if n_k is None else check_positive_int("n_k", n_k)
    return causal_block(n_q, n_k, 0, n_q, 0, n_k)


def padding_mask(lengths, n):
    """Boolean ``(batch, 1, n)`` mask: True for the first ``lengths[b]`` key positions of sequence b."""
    n = check_positive_int("n", n)
    if isinstance(lengths, (str, bytes)):
        raise TypeError(f"lengths must be a sequence of integers, got {type(lengths).__name__}")
    lengths_arr = np.asarray(lengths)
    if lengths_arr.ndim == 0:
        lengths_arr = lengths_arr[None]
    if lengths_arr.ndim != 1:
        raise ValueError(f"lengths must be one-dimensional (one length per sequence), got shape {lengths_arr.shape}")
    if lengths_arr.size == 0:
        raise ValueError("lengths is empty: give one length per sequence in the batch")
    if lengths_arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {lengths_arr.dtype}")
    if (lengths_arr < 1).any() or (lengths_arr > n).any():
        raise ValueError(f"every length must be between 1 and n={n}, got {lengths_arr.tolist()}")
    return (np.arange(n)[None, :] < lengths_arr[:, None])[:, None, :]


def explorer_mask(mode, n, padding_length=None, masked_cells=()) -> np.ndarray:
    """The ``(n, n)`` mask that an explorer's mask ``mode`` (one of :data:`MASK_MODES`) means.

    ``padding_length`` (``padding`` mode; None = n) keeps the first keys; ``masked_cells`` (``custom``
    mode) lists the ``(query, key)`` pairs to hide. Each mode ignores the other mode's setting.
    """
    if mode not in MASK_MODES:
        raise ValueError(f"mode must be one of {', '.join(MASK_MODES)}; got {mode!r}")
    n = check_positive_int("n", n)
    if mode == "causal":
        return causal_mask(n)
    if mode == "padding":
        length = n if padding_length is None else check_integer("padding_length", padding_length)
        return np.broadcast_to(padding_mask([length], n)[0], (n, n)).copy()
    allowed = np.ones((n, n), dtype=bool)
    if mode == "custom":
        for i, j in masked_cells:
            allowed[i, j] = False
    return allowed


def combine_masks(mask, causal, scores_shape, *, name="mask"):
    """Check a caller's ``mask`` against ``scores_shape`` (..., n_q, n_k) and AND it with the causal mask.

    Returns a boolean array broadcastable to ``scores_shape``, or None when nothing is masked.
    """
    n_q, n_k = scores_shape[-2:]
    allowed = None if mask is None else as_bool_mask(mask, scores_shape, name=name)
    if causal:
        triangle = causal_mask(n_q, n_k)
        allowed = triangle if allowed is None else np.logical_and(allowed, triangle)
    return allowed


def check_rows_see_a_key(allowed, scores_shape, mask_shape=None, causal=False):
    """A query row whose every key is masked has no softmax: refuse it clearly.

    ``allowed`` broadcasts to ``scores_shape`` (None: nothing masked). ``mask_shape`` (the caller's
    mask, if any) and ``causal`` only make the message name the culprit.
    """
    if allowed is None:
        return
    row_ok = np.broadcast_to(allowed, np.broadcast_shapes(allowed.shape, scores_shape)).any(axis=-1)
    if row_ok.all():
        return
    idx = tuple(int(i) for i in np.argwhere(~row_ok)[0])
    n_q, n_k = scores_shape[-2:]
    culprits = []
    if mask_shape is not None:
        culprits.append(f"the mask of shape {tuple(mask_shape)}")
    if causal:
        culprits.append(f"causal=True (n_q={n_q}, n_k={n_k})")
    by = f" by {' combined with '.join(culprits)}" if culprits else ""
    hint = (
        f" With causal=True and n_q > n_k, the first n_q - n_k = {n_q - n_k} queries see no key."
        if causal and n_q > n_k
        else ""
    )
    raise ValueError(
        f"every key is masked{by} for query position {idx[-1]} (index {idx} of the scores' leading axes "
        f"and query axis, scores shape {tuple(scores_shape)}): that row has no softmax. "
        f"Check the mask (True = may attend) or drop that query.{hint}"
    )
