"""Multi-head attention: project, split into heads, attend per head, concatenate, project."""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_bool, check_integer, check_positive_int
from .attention import attention_kernel
from .masks import check_rows_see_a_key, combine_masks

__all__ = ["init_multi_head_params", "multi_head_attention", "split_heads", "merge_heads"]

_WEIGHTS = ("W_q", "W_k", "W_v", "W_o")
_BIASES = ("b_q", "b_k", "b_v", "b_o")


def init_multi_head_params(d_model, num_heads, seed=0, bias=False):
    """Random parameters for multi-head attention, applied as ``x @ W + b``.

    Returns a dict with ``W_q, W_k, W_v, W_o`` of shape (d_model, d_model) and, when ``bias``,
    ``b_q, b_k, b_v, b_o`` of shape (d_model,). Weights are Xavier-uniform, as in PyTorch.
    """
    d_model = check_positive_int("d_model", d_model)
    num_heads = check_positive_int("num_heads", num_heads)
    bias = check_bool("bias", bias)
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model} (each head gets d_model / num_heads features)")
    rng = np.random.default_rng(check_integer("seed", seed, minimum=0))
    limit = np.sqrt(6.0 / (d_model + d_model))
    params = {name: rng.uniform(-limit, limit, size=(d_model, d_model)) for name in _WEIGHTS}
    if bias:
        for name in _BIASES:
            params[name] = rng.normal(0.0, 0.02, size=(d_model,))
    return params


def split_heads(x, num_heads):
    """(..., n, d_model) → (..., num_heads, n, d_model / num_heads)."""
    num_heads = check_positive_int("num_heads", num_heads)
    if np.ndim(x) < 2:
        raise ValueError(f"x must have shape (..., n, d_model), got shape {np.shape(x)}")
    *lead, n, d_model = x.shape
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model} (x has shape {x.shape})")
    return np.swapaxes(x.reshape(*lead, n, num_heads, d_model // num_heads), -2, -3)


def merge_heads(x):
    """(..., num_heads, n, d_head) → (..., n, num_heads · d_head): the concatenation of heads."""
    *lead, h, n, d_head = x.shape
    return np.swapaxes(x, -2, -3).reshape(*lead, n, h * d_head)


def _check_params(params, d_model):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict like init_multi_head_params returns, got {type(params).__name__}")
    missing = [name for name in _WEIGHTS if name not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {list(_WEIGHTS)} (and optionally {list(_BIASES)})")
    checked = {}
    for name in _WEIGHTS:
        w = as_float_array(f"params['{name}']", params[name])
        if w.shape != (d_model, d_model):
            raise ValueError(f"params['{name}'] must have shape (d_model, d_model) = ({d_model}, {d_model}), got {w.shape}")
        checked[name] = w
    for name in _BIASES:
        b = params.get(name)
        if b is None:
            checked[name] = None
            continue
        b = as_float_array(f"params['{name}']", b)
        if b.shape != (d_model,):
            raise ValueError(f"params['{name}'] must have shape (d_model,) = ({d_model},), got {b.shape}")
        checked[name] = b
    return checked


def _project(x, w, b, dtype, name):
    """``x @ w + b`` in ``dtype``; finite inputs can still overflow, so that is refused by name."""
    with np.errstate(over="ignore", invalid="ignore"):  # reported just below
        out = x @ w.astype(dtype, copy=False)
        if b is not None:
            out += b.astype(dtype, copy=False)
    if not np.isfinite(out).all():
        raise ValueError(
            f"the projection {name} overflows {np.dtype(dtype)} (shape {out.shape}): rescale the input or the "
            "parameters" + (" or use float64" if np.dtype(dtype) != np.float64 else "")
        )
    return out


def multi_head_attention(x, params, num_heads, mask=None, causal=False, kv=None):
    """Multi-head (self- or cross-) attention; returns ``(output, weights)``.

    x: (..., n_q, d_model) queries' inputs; kv: (..., n_k, d_model) keys' and values' inputs (default x).
    mask: bool, broadcastable to (..., n_q, n_k) (shared by all heads) or to (..., num_heads, n_q, n_k).
    output: (..., n_q, d_model); weights: (..., num_heads, n_q, n_k).
    """
    x = as_float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d_model), got shape {x.shape}")
    kv_arr = x if kv is None else as_float_array("kv", kv)
    if kv_arr.ndim < 2:
        raise ValueError(f"kv must have shape (..., n_k, d_model), got shape {kv_arr.shape}")
    d_model = x.shape[-1]
    if kv_arr.shape[-1] != d_model:
        raise ValueError(f"kv must have the same d_model as x: x has shape {x.shape}, kv has shape {kv_arr.shape}")
    for name, arr in (("x", x), ("kv", kv_arr)):
        if arr.shape[-2] == 0 or arr.shape[-1] == 0:
            raise ValueError(f"{name} is empty: shape {arr.shape}")
    try:
        lead = np.broadcast_shapes(x.shape[:-2], kv_arr.shape[:-2])
    except ValueError:
        raise ValueError(
            f"the leading (batch) axes of x {x.shape} and kv {kv_arr.shape} do not broadcast"
        ) from None
    num_heads = check_positive_int("num_heads", num_heads)
    if d_model % num_heads != 0:
        raise ValueError(f"num_heads={num_heads} must divide d_model={d_model} (x has shape {x.shape})")
    causal = check_bool("causal", causal)
    p = _check_params(params, d_model)
    dtype = np.result_type(x, kv_arr)

    n_q, n_k = x.shape[-2], kv_arr.shape[-2]
    scores_shape = lead + (num_heads, n_q, n_k)
    if mask is not None and np.ndim(mask) <= len(lead) + 2:
        # One mask for every head: check it against (..., n_q, n_k), then give it a head axis.
        allowed = combine_masks(mask, causal, lead + (n_q, n_k))
        allowed = allowed[..., None, :, :] if allowed.ndim >= 2 else allowed
    else:
        allowed = combine_masks(mask, causal, scores_shape)  # mask None, or with a head axis already
    if mask is not None or (causal and n_q > n_k):
        # Checked here, against the caller's mask, so the message shows the shape they passed.
        check_rows_see_a_key(allowed, scores_shape, None if mask is None else np.shape(mask), causal)

    q = split_heads(_project(x, p["W_q"], p["b_q"], dtype, "q = x @ W_q + b_q"), num_heads)
    k = split_heads(_project(kv_arr, p["W_k"], p["b_k"], dtype, "k = kv @ W_k + b_k"), num_heads)
    v = split_heads(_project(kv_arr, p["W_v"], p["b_v"], dtype, "v = kv @ W_v + b_v"), num_heads)
    heads, weights = attention_kernel(q, k, v, allowed, 1.0 / math.sqrt(d_model // num_heads))
    output = _project(merge_heads(heads), p["W_o"], p["b_o"], dtype, "output = heads @ W_o + b_o")
    return output, weights
