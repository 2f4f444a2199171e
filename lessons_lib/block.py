"""A transformer block from the course's parts: multi-head attention, LayerNorm/RMSNorm, a GELU feed-forward network.

Row-vector convention: a sequence is ``(..., n, d_model)`` and every linear map is ``x @ W + b``.

    pre-norm  (GPT-2, LLaMA):   h = x + MHA(LN1(x));   out = h + FFN(LN2(h))
    post-norm (original, BERT): h = LN1(x + MHA(x));   out = LN2(h + FFN(h))

with FFN(h) = GELU(h @ W_1 + b_1) @ W_2 + b_2 and the exact (erf) GELU.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_bool, check_positive_int, check_real
from .multi_head import init_multi_head_params, multi_head_attention

__all__ = [
    "erf",
    "gelu",
    "layer_norm",
    "rms_norm",
    "feed_forward",
    "init_block_params",
    "transformer_block",
    "transformer_block_stages",
    "BLOCK_PARAM_NAMES",
]

_ATTENTION_WEIGHTS = ("W_q", "W_k", "W_v", "W_o")
_ATTENTION_BIASES = ("b_q", "b_k", "b_v", "b_o")
#: The parameters a block needs besides attention's, with their shapes in terms of (d_model, d_ff).
_OWN_SHAPES = {
    "ln1_gamma": ("d_model",), "ln1_beta": ("d_model",),
    "W_1": ("d_model", "d_ff"), "b_1": ("d_ff",),
    "W_2": ("d_ff", "d_model"), "b_2": ("d_model",),
    "ln2_gamma": ("d_model",), "ln2_beta": ("d_model",),
}
BLOCK_PARAM_NAMES = _ATTENTION_WEIGHTS + _ATTENTION_BIASES + tuple(_OWN_SHAPES)


# --------------------------------------------------------------------------------------------
# Elementwise pieces: erf and GELU
# --------------------------------------------------------------------------------------------

_ERF_WIDTH = 0.5  # erf is tabulated as one polynomial per interval [i·w, (i+1)·w) of |x|
_ERF_DEGREE = 12
_ERF_END = 6.0  # 1 - erf(6) ≈ 2e-17: below double precision, so erf(x) = ±1 beyond
_erf_table = None

# float32: the rational approximation x·P(x²)/Q(x²) on [-4, 4] used by Eigen and XLA (erf(4) rounds to 1 in float32).
_ERF32_P = np.array([-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
                     -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02], dtype=np.float32)
_ERF32_Q = np.array([-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
                     -1.42647390514189e-02], dtype=np.float32)


def _erf_coefficients():
    """Power-basis coefficients (degree + 1, intervals) of the interpolants of ``math.erf``.

    Each interval's polynomial interpolates ``math.erf`` at Chebyshev points of the local variable
    u ∈ [-1, 1]; on that range its coefficients are all below 1 in size, so Horner's rule is stable.
    """
    global _erf_table
    if _erf_table is None:
        from numpy.polynomial import chebyshev

        columns = []
        for i in range(round(_ERF_END / _ERF_WIDTH)):
            left = i * _ERF_WIDTH

            def erf_on_interval(u, left=left):
                return np.array([math.erf(left + _ERF_WIDTH * (t + 1) / 2) for t in np.atleast_1d(u)])

            cheb = chebyshev.chebinterpolate(erf_on_interval, _ERF_DEGREE)
            power = chebyshev.cheb2poly(cheb)
            columns.append(np.pad(power, (0, _ERF_DEGREE + 1 - len(power))))
        _erf_table = np.ascontiguousarray(np.array(columns).T)
    return _erf_table


def _erf32(x):
    """erf of a float32 array, in float32 (error about 1e-7, the precision of float32 itself)."""
    z = np.asarray(np.minimum(x, np.float32(4.0)))  # an array even for a scalar: the next line works in place
    np.maximum(z, np.float32(-4.0), out=z)  # NaN stays NaN
    z2 = z * z
    p = z2 * _ERF32_P[0]  # Horner's rule, in place
    for c in _ERF32_P[1:-1]:
        p += c
        p *= z2
    p += _ERF32_P[-1]
    q = z2 * _ERF32_Q[0]
    for c in _ERF32_Q[1:-1]:
        q += c
        q *= z2
    q += _ERF32_Q[-1]
    p *= z
    p /= q
    return p


def erf(x):
    """The error function, elementwise and vectorised (numpy has none; ``math.erf`` is scalar).

    float64: piecewise polynomials that interpolate ``math.erf`` (degree 12 on intervals of width 0.5
    up to |x| = 6, then ±1), absolute error below 1e-14. float32: a rational approximation accurate to
    float32 precision (about 1e-7), computed in float32. Checked in the tests. Other input becomes float64.
    """
    x = np.asarray(x)
    if x.dtype == np.float32:
        return _erf32(x)
    table = _erf_coefficients()
    n_intervals = table.shape[1]
    ax = np.abs(x.astype(np.float64))
    # fmin (not minimum) sends NaN to the last interval instead of into an invalid int cast.
    interval = np.fmin(ax * (1.0 / _ERF_WIDTH), n_intervals - 1).astype(np.intp)
    u = ax * (2.0 / _ERF_WIDTH) - (2 * interval + 1)  # position inside the interval, in [-1, 1]
    result = table[-1][interval]
    for coefficients in table[-2::-1]:
        result *= u
        result += coefficients[interval]
    result = np.where(ax >= _ERF_END, 1.0, result)
    return np.copysign(result, x)


def gelu(x):
    """Exact GELU, ``x · Φ(x) = x · (1 + erf(x / √2)) / 2`` (not the tanh approximation); gelu(−∞) = 0.

    Same dtype as ``x`` for float32 and float64; other input becomes float64.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        x = x.astype(np.float64, copy=False)
    half = x * x.dtype.type(0.5)
    out = erf(x * x.dtype.type(1.0 / math.sqrt(2.0)))
    out += 1.0
    with np.errstate(invalid="ignore"):  # −∞ · 0 at x = −∞, replaced just below
        out *= half
    if out.ndim and np.isneginf(x).any():
        out[np.isneginf(x)] = 0.0  # −∞ · Φ(−∞) is the limit 0, not −∞ · 0 = NaN
    elif not out.ndim and np.isneginf(x):
        out = out.dtype.type(0.0)
    return out


# --------------------------------------------------------------------------------------------
# Norms
# --------------------------------------------------------------------------------------------


def _check_eps(eps) -> float:
    eps = check_real("eps", eps)
    if eps < 0:
        raise ValueError(f"eps must be finite and >= 0, got {eps}")
    return eps


def _check_norm_inputs(x, gains: dict):
    x = as_float_array("x", x, min_ndim=1)
    d = x.shape[-1]
    if d == 0:
        raise ValueError(f"x has an empty feature axis: shape {x.shape}")
    checked = []
    for name, value in gains.items():
        arr = as_float_array(name, value)
        if arr.shape != (d,):
            raise ValueError(f"{name} must have shape (d,) = ({d},) to match x of shape {x.shape}, got {arr.shape}")
        checked.append(arr.astype(x.dtype, copy=False))
    return x, checked


def layer_norm(x, gamma, beta, eps=1e-5):
    """LayerNorm over the last axis: ``(x − mean) / √(var + eps) · gamma + beta`` (biased variance).

    x: (..., d); gamma, beta: (d,). Same dtype as x.
    """
    x, (gamma, beta) = _check_norm_inputs(x, {"gamma": gamma, "beta": beta})
    eps = _check_eps(eps)
    centred = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    centred /= np.sqrt(var + x.dtype.type(eps))
    centred *= gamma
    centred += beta
    return centred


def rms_norm(x, gamma, eps=1e-6):
    """RMSNorm over the last axis: ``x / √(mean(x²) + eps) · gamma`` (no centring, no shift). Same dtype as x."""
    x, (gamma,) = _check_norm_inputs(x, {"gamma": gamma})
    eps = _check_eps(eps)
    mean_square = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(mean_square + x.dtype.type(eps)) * gamma


# --------------------------------------------------------------------------------------------
# The block
# --------------------------------------------------------------------------------------------


def init_block_params(d_model, num_heads, d_ff, seed=0):
    """Random parameters for :func:`transformer_block`, applied as ``x @ W + b``.

    ``init_multi_head_params(d_model, num_heads, seed, bias=True)``'s keys, plus ``ln1_gamma, ln1_beta,
    W_1 (d_model, d_ff), b_1 (d_ff,), W_2 (d_ff, d_model), b_2 (d_model,), ln2_gamma, ln2_beta``.
    Norm gains start at 1 and shifts at 0; W_1 and W_2 are Xavier-uniform, as in PyTorch.
    """
    d_ff = check_positive_int("d_ff", d_ff)
    params = init_multi_head_params(d_model, num_heads, seed=seed, bias=True)
    d_model = int(d_model)
    rng = np.random.default_rng(None if seed is None else [int(seed), 1])  # a stream apart from attention's

    def xavier(fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))

    params.update(
        ln1_gamma=np.ones(d_model), ln1_beta=np.zeros(d_model),
        W_1=xavier(d_model, d_ff), b_1=rng.normal(0.0, 0.02, size=d_ff),
        W_2=xavier(d_ff, d_model), b_2=rng.normal(0.0, 0.02, size=d_model),
        ln2_gamma=np.ones(d_model), ln2_beta=np.zeros(d_model),
    )
    return params


def _check_block_params(params, d_model: int, dtype) -> dict:
    """The block's own parameters, shape-checked and in ``dtype`` (attention's are checked by multi_head_attention)."""
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict like init_block_params returns, got {type(params).__name__}")
    missing = [name for name in _ATTENTION_WEIGHTS + tuple(_OWN_SHAPES) if name not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; a block needs {list(_ATTENTION_WEIGHTS + tuple(_OWN_SHAPES))}")
    arrays = {}
    for name in _OWN_SHAPES:
        value = params[name]
        if isinstance(value, (str, bytes)) or value is None:
            raise TypeError(f"params['{name}'] must be a numeric array, got {type(value).__name__}")
        arrays[name] = np.asarray(value)
        if arrays[name].dtype.kind not in "biuf":
            raise TypeError(f"params['{name}'] must be a numeric array, got dtype {arrays[name].dtype}")
    w_1 = arrays["W_1"]
    if w_1.ndim != 2 or w_1.shape[1] == 0:
        raise ValueError(f"params['W_1'] must have shape (d_model, d_ff) = ({d_model}, d_ff), got {w_1.shape}")
    sizes = {"d_model": d_model, "d_ff": w_1.shape[1]}
    for name, dims in _OWN_SHAPES.items():
        expected = tuple(sizes[dim] for dim in dims)
        if arrays[name].shape != expected:
            wanted = ", ".join(f"{dim}={sizes[dim]}" for dim in dims)
            raise ValueError(f"params['{name}'] must have shape ({wanted}) = {expected}, got {arrays[name].shape}")
        arrays[name] = arrays[name].astype(dtype, copy=False)
    return arrays


def _refuse_nonfinite(params: dict, where: str):
    """The output is not finite although x was: name the parameter that made it so."""
    for name in _OWN_SHAPES:
        if not np.all(np.isfinite(params[name])):
            raise ValueError(f"params['{name}'] contains non-finite values (NaN or inf)")
    raise ValueError(f"the {where} overflowed: its values are too large for their dtype (use float64 or smaller weights)")


def feed_forward(x, W_1, b_1, W_2, b_2):
    """Position-wise feed-forward network ``GELU(x @ W_1 + b_1) @ W_2 + b_2`` on the last axis (unchecked helper)."""
    hidden = x @ W_1
    hidden += b_1
    out = gelu(hidden) @ W_2
    out += b_2
    return out


def transformer_block(x, params, num_heads, *, causal=False, mask=None, norm_first=True, eps=1e-5):
    """One transformer block; returns ``(output, weights)``.

    x: (..., n, d_model); params: as :func:`init_block_params` returns; weights: (..., num_heads, n, n),
    the attention weights. ``norm_first=True`` is pre-norm, ``False`` post-norm (see the module docstring).
    ``causal`` and ``mask`` go to :func:`multi_head_attention`; ``eps`` to both LayerNorms. Agrees with
    ``torch.nn.TransformerEncoderLayer(..., dropout=0, activation="gelu", batch_first=True)`` given the same weights.
    """
    x = as_float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d_model), got shape {x.shape}")
    norm_first = check_bool("norm_first", norm_first)
    eps = _check_eps(eps)
    p = _check_block_params(params, x.shape[-1], x.dtype)

    def attend(h):
        return multi_head_attention(h, params, num_heads, mask=mask, causal=causal)

    def ffn(h):
        return feed_forward(h, p["W_1"], p["b_1"], p["W_2"], p["b_2"])

    if norm_first:
        attended, weights = attend(layer_norm(x, p["ln1_gamma"], p["ln1_beta"], eps))
        h = x + attended
        out = h + ffn(layer_norm(h, p["ln2_gamma"], p["ln2_beta"], eps))
    else:
        attended, weights = attend(x)
        h = layer_norm(x + attended, p["ln1_gamma"], p["ln1_beta"], eps)
        h2 = ffn(h)
        h2 += h
        if not np.all(np.isfinite(h2)):
            _refuse_nonfinite(p, "feed-forward network")
        out = layer_norm(h2, p["ln2_gamma"], p["ln2_beta"], eps)
    if not np.all(np.isfinite(out)):
        _refuse_nonfinite(p, "block")
    return out, weights


def transformer_block_stages(x, params, num_heads, *, causal=False, mask=None, norm_first=True, eps=1e-5):
    """Every intermediate vector of one block, for looking inside it; returns ``(names, stages, weights)``.

    names: the 7 stage labels; stages: (7, ..., n, d_model), from the input to the output (the last stage
    equals :func:`transformer_block`'s output); weights: the attention weights (..., num_heads, n, n).
    """
    out, weights = transformer_block(x, params, num_heads, causal=causal, mask=mask, norm_first=norm_first, eps=eps)
    x = as_float_array("x", x)
    p = _check_block_params(params, x.shape[-1], x.dtype)
    ffn_params = (p["W_1"], p["b_1"], p["W_2"], p["b_2"])
    if norm_first:
        names = ["x (input)", "LN1(x)", "MHA(LN1(x))", "h = x + MHA(LN1(x))", "LN2(h)", "FFN(LN2(h))", "out = h + FFN(LN2(h))"]
        a = layer_norm(x, p["ln1_gamma"], p["ln1_beta"], eps)
        attended = multi_head_attention(a, params, num_heads, mask=mask, causal=causal)[0]
        h = x + attended
        b = layer_norm(h, p["ln2_gamma"], p["ln2_beta"], eps)
        f = feed_forward(b, *ffn_params)
        stages = [x, a, attended, h, b, f, out]
    else:
        names = ["x (input)", "MHA(x)", "x + MHA(x)", "h = LN1(x + MHA(x))", "FFN(h)", "h + FFN(h)", "out = LN2(h + FFN(h))"]
        attended = multi_head_attention(x, params, num_heads, mask=mask, causal=causal)[0]
        r = x + attended
        h = layer_norm(r, p["ln1_gamma"], p["ln1_beta"], eps)
        f = feed_forward(h, *ffn_params)
        stages = [x, attended, r, h, f, h + f, out]
    return names, np.stack(stages), weights
