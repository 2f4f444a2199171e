"""Scaled dot-product attention and its pieces, in numpy.

Row-vector convention, as in ``Z = softmax(Q Kᵀ / √d_k) V``:
``q`` is ``(..., n_q, d_k)``, ``k`` is ``(..., n_k, d_k)``, ``v`` is ``(..., n_k, d_v)``.
Leading axes broadcast. Boolean masks: True = may attend.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_bool_mask, as_float_array, check_bool, check_nonempty, check_scale

__all__ = [
    "softmax",
    "hard_lookup",
    "soft_lookup",
    "scaled_dot_product_attention",
    "causal_mask",
    "padding_mask",
]


def softmax(x, axis=-1):
    """Numerically stable softmax along ``axis``; ``-inf`` entries get weight exactly 0."""
    x = as_float_array("x", x, allow_nonfinite=True)
    if np.isnan(x).any():
        raise ValueError(f"x contains NaN (shape {x.shape})")
    if np.isposinf(x).any():
        raise ValueError(f"x contains +inf (shape {x.shape}); softmax is undefined there")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension, got a scalar (shape ())")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer, got {type(axis).__name__}")
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
    scores = scale * (keys @ query)
    weights = softmax(scores)
    output = weights @ values
    dtype = np.result_type(query, keys, values)
    return np.asarray(output, dtype=dtype), weights.astype(dtype, copy=False)


def causal_mask(n_q, n_k=None):
    """Boolean ``(n_q, n_k)`` mask, True where query i may attend to key j (j ≤ i, aligned to the last positions)."""
    from ._checks import check_positive_int

    n_q = check_positive_int("n_q", n_q)
    n_k = n_q if n_k is None else check_positive_int("n_k", n_k)
    offset = n_k - n_q
    return np.arange(n_k)[None, :] <= (np.arange(n_q)[:, None] + offset)


def padding_mask(lengths, n):
    """Boolean ``(batch, 1, n)`` mask: True for the first ``lengths[b]`` key positions of sequence b."""
    from ._checks import check_positive_int

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


def _check_qkv(q, k, v):
    q = as_float_array("q", q)
    k = as_float_array("k", k)
    v = as_float_array("v", v)
    for name, arr in (("q", q), ("k", k), ("v", v)):
        if arr.ndim < 2:
            raise ValueError(f"{name} must have shape (..., n, d) with at least 2 dimensions, got shape {arr.shape}")
    check_nonempty("q", q, {-2: "n_q (sequence)", -1: "d_k (feature)"})
    check_nonempty("k", k, {-2: "n_k (sequence)", -1: "d_k (feature)"})
    check_nonempty("v", v, {-2: "n_k (sequence)", -1: "d_v (feature)"})
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share d_k: q has shape {q.shape}, k has shape {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of positions n_k: k has shape {k.shape}, v has shape {v.shape}")
    try:
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the leading (batch/head) axes of q {q.shape}, k {k.shape} and v {v.shape} do not broadcast"
        ) from None
    dtype = np.result_type(q, k, v)
    return q.astype(dtype, copy=False), k.astype(dtype, copy=False), v.astype(dtype, copy=False), batch


def _combined_mask(mask, causal, scores_shape):
    """Return a boolean mask broadcastable to ``scores_shape`` (or None), after checking it."""
    n_q, n_k = scores_shape[-2:]
    allowed = None
    if mask is not None:
        allowed = as_bool_mask(mask, scores_shape)
    if causal:
        tri = causal_mask(n_q, n_k)
        allowed = tri if allowed is None else np.logical_and(allowed, tri)
    return allowed


def _check_rows_not_empty(allowed, scores_shape, mask_shape=None, causal=False):
    """A query row whose every key is masked has no softmax: refuse it clearly.

    ``mask_shape`` (the caller's mask, if any) and ``causal`` only make the message name the culprit.
    """
    if allowed is None:
        return
    row_ok = np.broadcast_to(allowed, np.broadcast_shapes(allowed.shape, scores_shape)).any(axis=-1)
    if not row_ok.all():
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


def _check_scores_finite(scores, allowed, q, k):
    """Finite q and k can still overflow in q·kᵀ: refuse that instead of returning NaN."""
    if np.isfinite(scores).all():
        return
    bad = ~np.isfinite(scores)
    if allowed is not None:
        bad &= allowed
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"the scores q·kᵀ·scale overflow {scores.dtype} (first at index {idx} of scores shape {scores.shape}); "
            f"q has shape {q.shape} and max |q| = {float(np.max(np.abs(q))):.3g}, "
            f"k has shape {k.shape} and max |k| = {float(np.max(np.abs(k))):.3g}: rescale them"
            + (" or use float64" if scores.dtype != np.float64 else "")
        )


def scaled_dot_product_attention(q, k, v, mask=None, scale=None, causal=False):
    """``softmax(q kᵀ · scale + mask) v``; returns ``(output, weights)``.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v); mask: bool, broadcastable to (..., n_q, n_k).
    output: (..., n_q, d_v); weights: (..., n_q, n_k), each row summing to 1.
    ``scale`` defaults to 1/√d_k. ``causal=True`` lets query i see keys j ≤ i (aligned to the last positions).
    """
    q, k, v, batch = _check_qkv(q, k, v)
    causal = check_bool("causal", causal)
    n_q, d_k = q.shape[-2:]
    n_k = k.shape[-2]
    scale = check_scale(scale, 1.0 / math.sqrt(d_k))
    scores_shape = batch + (n_q, n_k)
    allowed = _combined_mask(mask, causal, scores_shape)
    _check_rows_not_empty(allowed, scores_shape, None if mask is None else np.shape(mask), causal)

    with np.errstate(over="ignore", invalid="ignore"):  # overflow is caught just below, by name
        scores = np.matmul(q, np.swapaxes(k, -1, -2))
        full_shape = scores_shape if allowed is None else np.broadcast_shapes(scores_shape, allowed.shape)
        if scores.shape != full_shape:  # v or the mask carries batch axes that q and k do not
            scores = np.array(np.broadcast_to(scores, full_shape))
        scores *= scores.dtype.type(scale)
    _check_scores_finite(scores, allowed, q, k)
    if allowed is not None:
        np.copyto(scores, -np.inf, where=~allowed)
    # In-place softmax: the weights matrix is the only n_q × n_k array kept.
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    weights = scores
    output = np.matmul(weights, v)
    return output, weights
