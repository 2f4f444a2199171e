"""Memory-efficient exact attention: online softmax over key blocks (the FlashAttention recurrence)."""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_bool, check_positive_int, check_scale
from .attention import _check_qkv, _check_rows_not_empty, _combined_mask

__all__ = ["chunked_attention", "DEFAULT_BLOCK_SIZE"]

DEFAULT_BLOCK_SIZE = 512


def chunked_attention(q, k, v, mask=None, scale=None, causal=False, block_size=DEFAULT_BLOCK_SIZE):
    """Same output as ``scaled_dot_product_attention`` without building the n_q × n_k matrix.

    Queries and keys are visited in blocks of ``block_size``; for each query block a running
    max ``m``, running sum ``l`` and un-normalised output ``acc`` are rescaled as each key block
    arrives. Key blocks hidden entirely by the causal mask are skipped. Returns the output only.
    """
    q, k, v, batch = _check_qkv(q, k, v)
    causal = check_bool("causal", causal)
    block_size = check_positive_int("block_size", block_size)
    n_q, d_k = q.shape[-2:]
    n_k, d_v = v.shape[-2:]
    scale = check_scale(scale, 1.0 / math.sqrt(d_k))
    scores_shape = batch + (n_q, n_k)
    user_mask = _combined_mask(mask, False, scores_shape)
    if user_mask is not None or causal:
        if user_mask is not None and causal:
            # Checking rows needs the combined pattern; mask is the caller's own array already.
            _check_rows_not_empty(np.logical_and(user_mask, _causal_block(0, n_q, 0, n_k, n_k - n_q)), scores_shape)
        elif user_mask is not None:
            _check_rows_not_empty(user_mask, scores_shape)
        elif n_q > n_k:
            _check_rows_not_empty(_causal_block(0, n_q, 0, n_k, n_k - n_q), scores_shape)
    if user_mask is not None:
        user_mask = np.broadcast_to(user_mask, np.broadcast_shapes(user_mask.shape, scores_shape))
        batch = user_mask.shape[:-2]

    dtype = q.dtype
    offset = n_k - n_q  # causal alignment to the last positions
    q_scaled = q * dtype.type(scale)
    k_t = np.swapaxes(k, -1, -2)
    out = np.empty(batch + (n_q, d_v), dtype=dtype)
    for qs in range(0, n_q, block_size):
        qe = min(qs + block_size, n_q)
        q_blk = q_scaled[..., qs:qe, :]
        m = np.full(batch + (qe - qs, 1), -np.inf, dtype=dtype)
        l = np.zeros(batch + (qe - qs, 1), dtype=dtype)
        acc = np.zeros(batch + (qe - qs, d_v), dtype=dtype)
        k_stop = min(n_k, qe + offset) if causal else n_k  # keys beyond this are all in the future
        for ks in range(0, k_stop, block_size):
            ke = min(ks + block_size, n_k)
            s = np.matmul(q_blk, k_t[..., :, ks:ke])
            if s.shape[:-2] != batch:
                s = np.array(np.broadcast_to(s, batch + s.shape[-2:]))
            allowed = None
            if causal and ke - 1 > qs + offset:  # block straddles the diagonal
                allowed = _causal_block(qs, qe, ks, ke, offset)
            if user_mask is not None:
                blk = user_mask[..., qs:qe, ks:ke]
                allowed = blk if allowed is None else np.logical_and(blk, allowed)
            if allowed is not None:
                np.copyto(s, -np.inf, where=~allowed)
            m_new = np.maximum(m, s.max(axis=-1, keepdims=True))
            # Rows with nothing visible yet keep m = -inf; use 0 there so exp() stays 0 rather than NaN.
            m_safe = np.where(np.isneginf(m_new), dtype.type(0), m_new)
            s -= m_safe
            np.exp(s, out=s)
            correction = np.exp(m - m_safe)
            l *= correction
            l += s.sum(axis=-1, keepdims=True)
            acc *= correction
            acc += np.matmul(s, v[..., ks:ke, :])
            m = m_new
        out[..., qs:qe, :] = acc / l
    return out


def _causal_block(qs, qe, ks, ke, offset):
    return np.arange(ks, ke)[None, :] <= (np.arange(qs, qe)[:, None] + offset)
