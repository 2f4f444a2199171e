"""Scaled dot-product attention and its pieces, in numpy.

Row-vector convention, as in ``Z = softmax(Q Kᵀ / √d_k) V``:
``q`` is ``(..., n_q, d_k)``, ``k`` is ``(..., n_k, d_k)``, ``v`` is ``(..., n_k, d_v)``.
Leading axes broadcast. Boolean masks: True = may attend.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_bool, check_integer, check_nonempty, check_qkv, check_scale
from ._checks import raise_scores_overflow
from .masks import check_rows_see_a_key, combine_masks

__all__ = ["softmax", "hard_lookup", "soft_lookup", "scaled_dot_product_attention"]


def softmax(x, axis=-1):
    """Numerically stable softmax along ``axis``; ``-inf`` entries get weight exactly 0."""
    x = as_float_array("x", x, allow_nonfinite=True)
    if np.isnan(x).any():
        raise ValueError(f"x contains NaN (shape {x.shape})")
    if np.isposinf(x).any():
        raise ValueError(f"x contains +inf (shape {x.shape}); softmax is undefined there")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a scalar (shape ())")
    axis = check_integer("axis", axis)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis} is out of range for x of shape {x.shape}")
    if x.shape[axis] == 0:
        raise ValueError(f"x has an empty axis {axis}: shape {x.shape}")
    x_max = np.max(x, axis=axis, keepdims=True)
    if np.isneginf(x_max).any():
        bad = np.argwhere(np.isneginf(np.squeeze(x_max, axis=axis)))
        where = tuple(int(i) for i in bad[0]) if bad.size else ()
        raise ValueError(
            f"a slice of x along axis {axis} is entirely -inf (first at index {where} of shape {x.shape}): "
            "softmax has nothing to normalise"
        )
    with np.errstate(over="ignore"):  # finite - max can only overflow towards -inf, whose exp is exactly 0
        e = np.exp(x - x_max)
    return e / np.sum(e, axis=axis, keepdims=True)


def _keys_equal(a, b) -> bool:
    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        return a == b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or isinstance(a, (list, tuple)):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        return a_arr.shape == b_arr.shape and bool(np.all(a_arr == b_arr))
    return a == b


def hard_lookup(query, keys, values):
    """Exact-match lookup, like ``dict(zip(keys, values))[query]``; a missing key raises ``KeyError``.

    ``keys`` may be strings, numbers or vectors (compared element by element).
    """
    keys, values = list(keys), list(values)
    if len(keys) != len(values):
        raise ValueError(f"keys and values must have the same length, got {len(keys)} keys and {len(values)} values")
    for key, value in zip(keys, values):
        if _keys_equal(key, query):
            return value
    raise KeyError(f"query {query!r} matches none of the {len(keys)} keys")


def soft_lookup(query, keys, values, scale=1.0):
    """Soft lookup of one query among the rows of ``keys``; returns ``(output, weights)``.

    query: (d,); keys: (n, d); values: (n,) or (n, d_v). weights = softmax(scale · keys @ query).
    """
    query = as_float_array("query", query)
    keys = as_float_array("keys", keys)
    values = as_float_array("values", values)
    if query.ndim != 1:
        raise ValueError(f"query must be one vector of shape (d,), got shape {query.shape}")
    if keys.ndim != 2:
        raise ValueError(f"keys must be a matrix of shape (n, d), got shape {keys.shape}")
    if values.ndim not in (1, 2):
        raise ValueError(f"values must have shape (n,) or (n, d_v), got shape {values.shape}")
    check_nonempty("keys", keys, {0: "n (number of keys)", 1: "d"})
    if values.ndim == 2:
        check_nonempty("values", values, {1: "d_v (feature)"})
    if keys.shape[1] != query.shape[0]:
        raise ValueError(f"query has d={query.shape[0]} but keys have d={keys.shape[1]}: shapes {query.shape} and {keys.shape}")
    if values.shape[0] != keys.shape[0]:
        raise ValueError(
            f"values must have one row per key: keys {keys.shape} has n={keys.shape[0]}, values {values.shape} has {values.shape[0]}"
        )
    scale = check_scale(scale, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below, by name
        scores = scale * (keys @ query)
    undefined = np.isnan(scores) | np.isposinf(scores)  # -inf is a weight of exactly 0, as in softmax
    if undefined.any():
        raise_scores_overflow(np.argwhere(undefined)[0], scores.shape, scores.dtype, query, keys,
                              names=("query", "keys"), scale=scale)
    weights = softmax(scores)
    output = weights @ values
    dtype = np.result_type(query, keys, values)
    return np.asarray(output, dtype=dtype), weights.astype(dtype, copy=False)


def scaled_dot_product_attention(q, k, v, mask=None, scale=None, causal=False):
    """``softmax(q kᵀ · scale + mask) v``; returns ``(output, weights)``.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v); mask: bool, broadcastable to (..., n_q, n_k).
    output: (..., n_q, d_v); weights: (..., n_q, n_k), each row summing to 1.
    ``scale`` defaults to 1/√d_k. ``causal=True`` lets query i see keys j ≤ i (aligned to the last positions).
    """
    q, k, v, batch = check_qkv(q, k, v)
    causal = check_bool("causal", causal)
    n_q, d_k = q.shape[-2:]
    n_k = k.shape[-2]
    scale = check_scale(scale, 1.0 / math.sqrt(d_k))
    scores_shape = batch + (n_q, n_k)
    allowed = combine_masks(mask, causal, scores_shape)
    check_rows_see_a_key(allowed, scores_shape, None if mask is None else np.shape(mask), causal)
    return attention_kernel(q, k, v, allowed, scale)


def attention_kernel(q, k, v, allowed, scale):
    """The computation of :func:`scaled_dot_product_attention`, trusting its inputs.

    q, k, v: checked arrays of one float dtype; ``allowed``: a checked boolean mask in which every query
    row sees a key, or None; ``scale``: a float. Only the scores' overflow is checked here.

    The weights are computed a block of query rows at a time, each block's softmax done while its scores
    are still in the CPU's cache (and, for large inputs, blocks shared among the CPU cores): the same
    numbers as one whole-matrix softmax, row by row.
    """
    from ._parallel import cpu_count, run_in_threads  # speed machinery only

    n_q, n_k = q.shape[-2], k.shape[-2]
    scores_shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]) + (n_q, n_k)
    full_shape = scores_shape if allowed is None else np.broadcast_shapes(scores_shape, allowed.shape)
    batch = full_shape[:-2]
    weights = np.empty(full_shape, dtype=q.dtype)  # the only n_q × n_k array: scores, then weights, in place
    scale = q.dtype.type(scale)
    q_b = np.broadcast_to(q, batch + q.shape[-2:])
    k_t = np.broadcast_to(np.swapaxes(k, -1, -2), batch + (k.shape[-1], n_k))
    allowed_b = None if allowed is None else np.broadcast_to(allowed, full_shape)
    rows = max(1, min(n_q, (1 << 18) // n_k))  # a block of scores: about 1 MiB of float32
    blocks = [(b, r0, min(r0 + rows, n_q)) for b in np.ndindex(*batch) for r0 in range(0, n_q, rows)]
    # |q·k| <= d_k · max|q| · max|k|: when even that (times the scale) cannot overflow, no score needs checking.
    bound = k.shape[-1] * float(np.max(np.abs(q))) * float(np.max(np.abs(k)))
    check_overflow = not max(bound, bound * abs(float(scale))) < float(np.finfo(q.dtype).max) / 4

    def softmax_blocks(block_iter, hidden_buffer):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below, by name
            for b, r0, r1 in block_iter:
                scores = weights[b][r0:r1]
                np.matmul(q_b[b][r0:r1], k_t[b], out=scores)
                scores *= scale  # (after the product, as the formula reads; in the cache, so almost free)
                visible = None if allowed_b is None else allowed_b[b][r0:r1]
                if check_overflow and not np.isfinite(scores).all():
                    bad = ~np.isfinite(scores) if visible is None else ~np.isfinite(scores) & visible
                    if bad.any():
                        row, col = np.argwhere(bad)[0]
                        raise_scores_overflow(b + (r0 + row, col), full_shape, scores.dtype, q, k)
                if visible is not None:
                    hidden = np.logical_not(visible, out=hidden_buffer[: r1 - r0])
                    np.copyto(scores, -np.inf, where=hidden)
                scores -= scores.max(axis=-1, keepdims=True)
                np.exp(scores, out=scores)
                scores /= scores.sum(axis=-1, keepdims=True)

    workers = min(cpu_count(), len(blocks)) if math.prod(full_shape) >= 1 << 20 else 1
    hidden_buffers = [np.empty((rows, n_k) if allowed is not None else 0, dtype=bool) for _ in range(workers)]
    if workers == 1:
        softmax_blocks(blocks, hidden_buffers[0])
    else:
        run_in_threads(softmax_blocks, blocks, hidden_buffers)
    output = np.matmul(weights, v)
    return output, weights
