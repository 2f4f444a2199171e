"""Where a token is: sinusoidal positions, rotary embeddings (RoPE) and ALiBi score biases.

Attention by itself is permutation-equivariant (chapter 2); these are three ways to tell it where
each token sits. Row-vector convention: a sequence is ``(..., n, d)``.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_positive_int, check_real

__all__ = ["sinusoidal_positions", "rope", "alibi_slopes", "alibi_bias"]


def _check_base(base) -> float:
    base = check_real("base", base)
    if base <= 1.0:
        raise ValueError(f"base must be a finite number greater than 1, got {base}")
    return base


def _check_even(name: str, d) -> int:
    d = check_positive_int(name, d)
    if d % 2:
        raise ValueError(f"{name} must be even (features come in sin/cos or rotation pairs), got {name}={d}")
    return d


def _frequencies(d: int, base: float) -> np.ndarray:
    """(d/2,) angular frequencies base^(-2i/d), i = 0 … d/2 − 1: from one radian per step to very slow."""
    return base ** (-np.arange(0, d, 2, dtype=np.float64) / d)


def sinusoidal_positions(n, d, base=10000.0):
    """``(n, d)`` float64 table of the original transformer's positions (interleaved layout).

    Column 2i is sin(pos / base^(2i/d)) and column 2i+1 is cos(pos / base^(2i/d)), for pos = 0 … n−1.
    """
    n = check_positive_int("n", n)
    d = _check_even("d", d)
    base = _check_base(base)
    angles = np.arange(n, dtype=np.float64)[:, None] * _frequencies(d, base)[None, :]  # (n, d/2)
    table = np.empty((n, d), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return table


def _check_positions(positions, n: int) -> np.ndarray:
    if positions is None:
        return np.arange(n, dtype=np.float64)
    if isinstance(positions, (str, bytes)):
        raise TypeError(f"positions must be a sequence of numbers, got {type(positions).__name__}")
    arr = np.asarray(positions)
    if arr.dtype == np.bool_:
        raise TypeError("positions must be numbers (integers), got booleans")
    arr = as_float_array("positions", arr)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(
            f"positions must be a 1-D sequence with one position per row of x (n={n}), got shape {arr.shape}"
        )
    return arr.astype(np.float64)


def rope(x, positions=None, base=10000.0):
    """Rotary position embedding over the last axis of ``x`` (``(..., n, d)``, d even); same shape and dtype.

    "Rotate-half" layout (GPT-NeoX, LLaMA): feature i and feature i + d/2 form a pair, rotated by the
    angle pos · base^(−2i/d). ``positions`` (n,) defaults to 0 … n−1. Then q_m · k_n depends on m − n only.
    """
    x = as_float_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d) with at least 2 dimensions, got shape {x.shape}")
    n, d = x.shape[-2:]
    if n == 0:
        raise ValueError(f"x has an empty sequence axis: shape {x.shape}")
    if d == 0 or d % 2:
        raise ValueError(f"the last axis of x must have an even, non-zero length d (pairs are rotated), got shape {x.shape}")
    pos = _check_positions(positions, n)
    base = _check_base(base)
    angles = pos[:, None] * _frequencies(d, base)[None, :]  # (n, d/2), float64 whatever x is
    cos = np.cos(angles).astype(x.dtype)
    sin = np.sin(angles).astype(x.dtype)
    first, second = x[..., : d // 2], x[..., d // 2 :]
    # (x1, x2) -> (x1 cos − x2 sin, x2 cos + x1 sin): each pair turned by its angle.
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def alibi_slopes(num_heads):
    """``(num_heads,)`` ALiBi slopes: 2^(−8h/H) for h = 1 … H when H is a power of two.

    Otherwise, as in the paper's code: the slopes of the largest power of two below H, then every
    other slope of the next power of two, until there are H.
    """
    num_heads = check_positive_int("num_heads", num_heads)

    def power_of_two(h):
        return [2.0 ** (-8.0 * i / h) for i in range(1, h + 1)]

    if num_heads & (num_heads - 1) == 0:
        return np.array(power_of_two(num_heads))
    closest = 2 ** int(math.floor(math.log2(num_heads)))
    extra = power_of_two(2 * closest)[0::2][: num_heads - closest]
    return np.array(power_of_two(closest) + extra)


def alibi_bias(num_heads, n_q, n_k=None):
    """``(num_heads, n_q, n_k)`` additive score bias −m_h · |p_q − p_k| (float64).

    Query i sits at position i + n_k − n_q (aligned to the last key, like ``causal_mask``).
    """
    slopes = alibi_slopes(num_heads)
    n_q = check_positive_int("n_q", n_q)
    n_k = n_q if n_k is None else check_positive_int("n_k", n_k)
    query_positions = np.arange(n_q) + (n_k - n_q)
    distance = np.abs(query_positions[:, None] - np.arange(n_k)[None, :]).astype(np.float64)
    return -slopes[:, None, None] * distance[None]
