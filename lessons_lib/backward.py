"""Backpropagation by hand: the gradients of attention and of every part of a transformer block.

Each ``*_backward`` function takes the forward pass's inputs and ``d_<output>``, the gradient of
some scalar loss with respect to the forward pass's output, and returns the gradients with respect
to the inputs and parameters (the chain rule, one layer at a time). Row-vector convention: a linear
layer is ``y = x @ W + b``. Everything is plain numpy, checked against finite differences and
torch autograd in the tests.

The block used for training is the pre-norm block of chapter 9,
``h = x + MHA(LN1(x))``, ``out = h + FFN(LN2(h))``, ``FFN(z) = GELU(z @ W_1 + b_1) @ W_2 + b_2``.
:func:`block_forward` returns, besides the output, a cache of what the backward pass needs, so that
training does not compute the forward pass twice.
"""

from __future__ import annotations

import math

import numpy as np

from .attention import scaled_dot_product_attention
from .multi_head import merge_heads, split_heads
from .block import BLOCK_PARAM_NAMES, erf

__all__ = [
    "attention_backward",
    "softmax_backward",
    "linear_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "gelu_forward",
    "gelu_backward",
    "multi_head_attention_backward",
    "block_forward",
    "block_backward",
    "transformer_block_backward",
]



# ----------------------------------------------------------------------------------------------
# Input checks (clear errors, never a bare numpy broadcasting error)


def _float_array(name, x):
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (NaN or inf): shape {arr.shape}")
    return arr


def _check_same_shape(name, arr, shape, what):
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of {what}, {tuple(shape)}; got {arr.shape}")


def _sum_to_shape(grad, shape):
    """Undo broadcasting: sum ``grad`` over the axes along which an input of ``shape`` was broadcast."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _lead_sum(x, d_y):
    """Σ over every leading (batch, position) axis of xᵀ d_y: the gradient of a weight matrix."""
    return x.reshape(-1, x.shape[-1]).T @ d_y.reshape(-1, d_y.shape[-1])


# ----------------------------------------------------------------------------------------------
# Attention


def softmax_backward(weights, d_weights, axis=-1):
    """Gradient through ``weights = softmax(scores)``: ``J dα = α ⊙ (dα − Σ_j α_j dα_j)``.

    This is the softmax Jacobian of chapter 3, ``J = diag(α) − α αᵀ``, applied without building it.
    """
    return weights * (d_weights - np.sum(d_weights * weights, axis=axis, keepdims=True))


def _attention_backward_from_weights(q, k, v, weights, d_out, scale):
    """dq, dk, dv given the forward pass's weights (shapes already broadcast together)."""
    d_v = np.swapaxes(weights, -1, -2) @ d_out                   # (..., n_k, d_v)
    d_weights = d_out @ np.swapaxes(v, -1, -2)                   # (..., n_q, n_k)
    d_scores = softmax_backward(weights, d_weights) * scale      # masked entries: weight 0, gradient 0
    d_q = d_scores @ k                                           # (..., n_q, d_k)
    d_k = np.swapaxes(d_scores, -1, -2) @ q                      # (..., n_k, d_k)
    return d_q, d_k, d_v


def attention_backward(q, k, v, d_out, mask=None, scale=None, causal=False):
    """Gradients ``(dq, dk, dv)`` of ``sum(d_out * out)``, where ``out = scaled_dot_product_attention(q, k, v, ...)[0]``.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v); d_out: the output's shape (..., n_q, d_v).
    Leading axes broadcast as in the forward pass; each gradient has the shape of its input (summed
    over the axes along which that input was broadcast). Masked scores get no gradient.
    """
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask, scale=scale, causal=causal)
    d_out = _float_array("d_out", d_out)
    if d_out.shape != out.shape:
        raise ValueError(
            f"d_out must have the shape of the attention output {out.shape} "
            f"(q {np.shape(q)}, k {np.shape(k)}, v {np.shape(v)}); got {d_out.shape}"
        )
    dtype = out.dtype
    q, k, v = (np.asarray(a, dtype=dtype) for a in (q, k, v))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    d_q, d_k, d_v = _attention_backward_from_weights(q, k, v, weights, d_out.astype(dtype, copy=False), float(scale))
    return (
        _sum_to_shape(d_q, q.shape).astype(dtype, copy=False),
        _sum_to_shape(d_k, k.shape).astype(dtype, copy=False),
        _sum_to_shape(d_v, v.shape).astype(dtype, copy=False),
    )


# ----------------------------------------------------------------------------------------------
# Linear, LayerNorm, GELU


def linear_backward(x, W, d_y):
    """For ``y = x @ W + b``: returns ``(dx, dW, db)``. x: (..., d_in); W: (d_in, d_out); d_y: (..., d_out)."""
    x, W, d_y = _float_array("x", x), _float_array("W", W), _float_array("d_y", d_y)
    if W.ndim != 2 or x.ndim < 1 or x.shape[-1] != W.shape[0]:
        raise ValueError(f"x (..., d_in) and W (d_in, d_out) do not fit: x {x.shape}, W {W.shape}")
    _check_same_shape("d_y", d_y, x.shape[:-1] + (W.shape[1],), "y = x @ W")
    return d_y @ W.T, _lead_sum(x, d_y), d_y.reshape(-1, d_y.shape[-1]).sum(axis=0)


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """LayerNorm over the last axis; returns ``(y, cache)`` with the normalised input and 1/σ for the backward pass."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    inv_std = 1.0 / np.sqrt(np.mean(centred * centred, axis=-1, keepdims=True) + eps)
    x_hat = centred * inv_std
    return x_hat * gamma + beta, (x_hat, inv_std, gamma)


def _layer_norm_backward_cached(d_y, cache):
    x_hat, inv_std, gamma = cache
    d_gamma = (d_y * x_hat).reshape(-1, x_hat.shape[-1]).sum(axis=0)
    d_beta = d_y.reshape(-1, d_y.shape[-1]).sum(axis=0)
    g = d_y * gamma                                              # gradient w.r.t. x_hat
    # x_hat = (x − mean)/σ: remove g's mean and its component along x_hat, then divide by σ.
    d_x = inv_std * (g - g.mean(axis=-1, keepdims=True) - x_hat * np.mean(g * x_hat, axis=-1, keepdims=True))
    return d_x, d_gamma, d_beta


def layer_norm_backward(x, gamma, d_y, eps=1e-5):
    """For ``y = LayerNorm(x) * gamma + beta`` over the last axis: returns ``(dx, dgamma, dbeta)``."""
    x, gamma, d_y = _float_array("x", x), _float_array("gamma", gamma), _float_array("d_y", d_y)
    if x.ndim < 1 or gamma.shape != x.shape[-1:]:
        raise ValueError(f"gamma must have shape (d,) = {x.shape[-1:]} for x of shape {x.shape}; got {gamma.shape}")
    _check_same_shape("d_y", d_y, x.shape, "x")
    _, cache = layer_norm_forward(x, gamma, np.zeros_like(gamma), eps)
    return _layer_norm_backward_cached(d_y, cache)


_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def gelu_forward(x):
    """Exact GELU ``x Φ(x)``; returns ``(y, Φ(x))``, the normal CDF being what the backward pass reuses."""
    cdf = 0.5 * (1.0 + erf(x * _INV_SQRT2))
    return x * cdf, cdf


def _gelu_backward_cached(x, cdf, d_y):
    return d_y * (cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x))   # d/dx x Φ(x) = Φ(x) + x φ(x)


def gelu_backward(x, d_y):
    """For the exact (erf) ``y = GELU(x) = x Φ(x)``: returns ``dx = d_y · (Φ(x) + x φ(x))``."""
    x, d_y = _float_array("x", x), _float_array("d_y", d_y)
    _check_same_shape("d_y", d_y, x.shape, "x")
    _, cdf = gelu_forward(x)
    return _gelu_backward_cached(x, cdf, d_y)


# ----------------------------------------------------------------------------------------------
# Multi-head attention and the block, with caches


def _check_x_and_heads(x, num_heads):
    """x as a float array of shape (..., n, d_model), and d_model, which num_heads must divide."""
    x = _float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d_model), got {x.shape}")
    d_model = x.shape[-1]
    if not isinstance(num_heads, (int, np.integer)) or isinstance(num_heads, bool) or num_heads <= 0 or d_model % num_heads:
        raise ValueError(f"num_heads={num_heads!r} must be a positive integer dividing d_model={d_model} (x {x.shape})")
    return x, d_model


def _check_block_params(params, names, d_model):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {list(names)}")
    for name in names:
        arr = _float_array(f"params['{name}']", params[name])
        want_rows = params["W_1"].shape[1] if name == "W_2" and "W_1" in params else d_model
        if name.startswith("W_") and (arr.ndim != 2 or arr.shape[0] != want_rows):
            raise ValueError(f"params['{name}'] must be a ({want_rows}, ·) matrix, got shape {arr.shape}")


def _mha_forward(x, p, num_heads, causal, mask, scale):
    """Multi-head self-attention ``(..., n, d_model)``; returns ``(out, weights, cache)``."""
    q = split_heads(x @ p["W_q"] + p["b_q"], num_heads)          # (..., h, n, d_head)
    k = split_heads(x @ p["W_k"] + p["b_k"], num_heads)
    v = split_heads(x @ p["W_v"] + p["b_v"], num_heads)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    heads, weights = scaled_dot_product_attention(q, k, v, mask=mask, scale=scale, causal=causal)
    concat = merge_heads(heads)                                  # (..., n, d_model)
    out = concat @ p["W_o"] + p["b_o"]
    return out, weights, (x, q, k, v, weights, concat, scale, num_heads)


def _mha_backward_cached(d_out, cache, p):
    x, q, k, v, weights, concat, scale, num_heads = cache
    grads = {"W_o": _lead_sum(concat, d_out), "b_o": d_out.reshape(-1, d_out.shape[-1]).sum(axis=0)}
    d_heads = split_heads(d_out @ p["W_o"].T, num_heads)
    d_q, d_k, d_v = _attention_backward_from_weights(q, k, v, weights, d_heads, scale)
    d_x = np.zeros_like(x)
    for name, d_h in (("q", d_q), ("k", d_k), ("v", d_v)):
        d_proj = merge_heads(d_h)                                # back to (..., n, d_model)
        grads[f"W_{name}"] = _lead_sum(x, d_proj)
        grads[f"b_{name}"] = d_proj.reshape(-1, d_proj.shape[-1]).sum(axis=0)
        d_x += d_proj @ p[f"W_{name}"].T
    return d_x, grads


def multi_head_attention_backward(x, params, num_heads, d_out, mask=None, causal=False):
    """Gradients of ``sum(d_out * multi_head_attention(x, params, num_heads, mask, causal)[0])``.

    Returns ``(dx, grads)`` with ``grads[name]`` for every ``W_*`` and ``b_*`` (zero biases when absent).
    """
    x, d_model = _check_x_and_heads(x, num_heads)
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict like init_multi_head_params returns, got {type(params).__name__}")
    p = {name: params.get(name, np.zeros(d_model)) if name.startswith("b_") else params.get(name)
         for name in ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")}
    _check_block_params(p, tuple(p), d_model)
    out, _, cache = _mha_forward(x, p, int(num_heads), causal, mask, None)
    d_out = _float_array("d_out", d_out)
    _check_same_shape("d_out", d_out, out.shape, "the attention output")
    return _mha_backward_cached(d_out, cache, p)


def block_forward(x, params, num_heads, *, causal=False, mask=None, eps=1e-5, scale=None):
    """The pre-norm transformer block; returns ``(out, weights, cache)``.

    ``h = x + MHA(LN1(x))``, ``out = h + GELU(LN2(h) @ W_1 + b_1) @ W_2 + b_2``. ``scale`` is the
    attention's score scale (default 1/√d_head); with the default it equals
    ``transformer_block(x, params, num_heads, norm_first=True, ...)`` (tested).
    """
    p = params
    a, ln1 = layer_norm_forward(x, p["ln1_gamma"], p["ln1_beta"], eps)
    attn, weights, mha_cache = _mha_forward(a, p, num_heads, causal, mask, scale)
    h = x + attn
    z, ln2 = layer_norm_forward(h, p["ln2_gamma"], p["ln2_beta"], eps)
    pre = z @ p["W_1"] + p["b_1"]                                # (..., n, d_ff)
    act, cdf = gelu_forward(pre)
    out = h + act @ p["W_2"] + p["b_2"]
    return out, weights, (ln1, mha_cache, ln2, z, pre, cdf, act)


def block_backward(d_out, cache, params):
    """The pre-norm block's backward pass from :func:`block_forward`'s cache; returns ``(dx, grads)``."""
    p = params
    ln1, mha_cache, ln2, z, pre, cdf, act = cache
    grads = {"W_2": _lead_sum(act, d_out), "b_2": d_out.reshape(-1, d_out.shape[-1]).sum(axis=0)}
    d_pre = _gelu_backward_cached(pre, cdf, d_out @ p["W_2"].T)
    grads["W_1"] = _lead_sum(z, d_pre)
    grads["b_1"] = d_pre.reshape(-1, d_pre.shape[-1]).sum(axis=0)
    d_h, grads["ln2_gamma"], grads["ln2_beta"] = _layer_norm_backward_cached(d_pre @ p["W_1"].T, ln2)
    d_h = d_h + d_out                                            # the residual passes d_out straight through
    d_a, mha_grads = _mha_backward_cached(d_h, mha_cache, p)
    grads.update(mha_grads)
    d_x, grads["ln1_gamma"], grads["ln1_beta"] = _layer_norm_backward_cached(d_a, ln1)
    return d_x + d_h, grads


def transformer_block_backward(x, params, num_heads, d_out, *, causal=False, mask=None, eps=1e-5):
    """Gradients of ``sum(d_out * transformer_block(x, params, num_heads, norm_first=True, ...)[0])``.

    Returns ``(dx, grads)``, with ``grads`` keyed like ``params`` (``init_block_params``'s keys).
    """
    x, d_model = _check_x_and_heads(x, num_heads)
    _check_block_params(params, BLOCK_PARAM_NAMES, d_model)
    out, _, cache = block_forward(x, params, int(num_heads), causal=causal, mask=mask, eps=eps)
    d_out = _float_array("d_out", d_out)
    _check_same_shape("d_out", d_out, out.shape, "the block output")
    return block_backward(d_out, cache, params)
