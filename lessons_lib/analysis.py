"""Measurements of attention weights and scores: entropy, the softmax Jacobian, dot-product statistics.

Row-vector convention, as in the rest of ``lessons_lib``: a distribution or a score vector lies
along the last axis unless an ``axis`` argument says otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_integer, check_positive_int, check_real
from .attention import softmax

__all__ = [
    "entropy",
    "softmax_jacobian",
    "sample_dot_products",
    "expected_dot_product_variance",
]


_FLOAT64_MAX = float(np.finfo(np.float64).max)


def _check_normal(d_k: int, std, mean, *, variance: bool) -> tuple[float, float]:
    """The std and mean of N(mean, std²) entries of q and k: finite, std >= 0, and small enough that the
    dot products of d_k of them (or, with ``variance``, their variance) stay finite in float64."""
    std = check_real("std", std)
    if std < 0:
        raise ValueError(f"std must be non-negative, got {std}")
    mean = check_real("mean", mean)
    what = "the variance of q·k" if variance else "the dot products q·k"
    try:  # Python floats raise OverflowError where numpy would give inf
        if variance:
            largest = d_k * (std**4 + 2.0 * mean**2 * std**2)
        else:  # normal draws stay within 40 std of the mean: |q·k| <= d_k (|mean| + 40 std)²
            largest = d_k * (abs(mean) + 40.0 * std) ** 2
    except OverflowError:
        largest = math.inf
    if not largest < _FLOAT64_MAX:
        raise ValueError(
            f"std={std:g} and mean={mean:g} are too large for d_k={d_k}: {what} would overflow float64; "
            "choose a smaller std or mean"
        )
    return std, mean


def entropy(weights, axis=-1, base=None):
    """Shannon entropy −Σ p log p of distributions along ``axis`` (nats; bits with ``base=2``); 0·log 0 = 0.

    weights: (..., n) non-negative, each slice summing to 1; returns (...), the shape without ``axis``.
    """
    p = as_float_array("weights", weights, min_ndim=1)
    axis = check_integer("axis", axis)
    if not -p.ndim <= axis < p.ndim:
        raise ValueError(f"axis={axis} is out of range for weights of shape {p.shape}")
    axis %= p.ndim
    if p.shape[axis] == 0:
        raise ValueError(f"weights has an empty axis {axis}: shape {p.shape}")
    if (p < 0).any():
        bad = tuple(int(i) for i in np.argwhere(p < 0)[0])
        raise ValueError(f"weights must be non-negative, got {p[bad]} at index {bad} of shape {p.shape}")
    tol = 1e-4 if p.dtype.itemsize <= 4 else 1e-8
    totals = p.sum(axis=axis)
    if not np.allclose(totals, 1.0, rtol=0.0, atol=tol * p.shape[axis]):
        worst = float(np.max(np.abs(totals - 1.0)))
        raise ValueError(
            f"weights must sum to 1 along axis {axis} (shape {p.shape}); the worst slice is off by {worst:.3g}"
        )
    if base is not None:
        base = check_real("base", base, positive=True)
        if base == 1.0:
            raise ValueError("base must not be 1 (log base 1 is undefined)")
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    h = -np.sum(p * logs, axis=axis)
    h = np.maximum(h, 0.0)  # rounding can leave -0.0 or -1e-17 for a one-hot slice
    if base is not None:
        h = h / np.log(base)
    return h.astype(p.dtype, copy=False)


def softmax_jacobian(x):
    """Analytic Jacobian of ``softmax(x)`` over the last axis: J[..., i, j] = ∂p_i/∂x_j = p_i (δ_ij − p_j).

    x: (..., n) scores; returns (..., n, n). Each row and each column sums to zero.
    """
    x = as_float_array("x", x, min_ndim=1, allow_nonfinite=True)
    p = softmax(x, axis=-1)  # validates x: no NaN or +inf, no slice entirely -inf
    jac = -p[..., :, None] * p[..., None, :]
    diagonal = np.einsum("...ii->...i", jac)  # a writable view onto the diagonal
    diagonal += p
    return jac


def sample_dot_products(d_k, n_samples, std=1.0, mean=0.0, seed=0):
    """``n_samples`` dot products q·k of independent q, k in R^d_k with i.i.d. N(mean, std²) entries.

    Returns shape (n_samples,). Deterministic for a given ``seed``; memory stays bounded for large d_k.
    """
    d_k = check_positive_int("d_k", d_k)
    n_samples = check_positive_int("n_samples", n_samples)
    std, mean = _check_normal(d_k, std, mean, variance=False)
    rng = np.random.default_rng(check_integer("seed", seed, minimum=0))
    out = np.empty(n_samples)
    chunk = max(1, 2_000_000 // d_k)  # about 16 MB per operand
    for start in range(0, n_samples, chunk):
        stop = min(start + chunk, n_samples)
        q = rng.normal(mean, std, size=(stop - start, d_k))
        k = rng.normal(mean, std, size=(stop - start, d_k))
        out[start:stop] = np.einsum("sd,sd->s", q, k)
    return out


def expected_dot_product_variance(d_k, std=1.0, mean=0.0):
    """Exact Var(q·k) = d_k (σ⁴ + 2 μ² σ²) for independent q, k with i.i.d. N(μ, σ²) entries."""
    d_k = check_positive_int("d_k", d_k)
    std, mean = _check_normal(d_k, std, mean, variance=True)
    return float(d_k * (std**4 + 2.0 * mean**2 * std**2))
