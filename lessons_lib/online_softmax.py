"""The online softmax, step by step, for one query: the readable reference for :func:`chunked_attention`.

:func:`lessons_lib.chunked_attention` runs this recurrence fast, on many queries at once; this version
keeps every intermediate value so that a reader (chapter 6) and the explorer can look at each one.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_float_array, check_nonempty, check_positive_int, check_scale, raise_scores_overflow

__all__ = ["online_softmax_steps"]


def online_softmax_steps(q, k, v, block_size, scale=None):
    """The online-softmax recurrence for one query, as a list with one dict per key block.

    q: (d,); k: (n, d); v: (n, d_v); ``block_size`` keys per block; ``scale`` defaults to 1/√d.
    Each dict holds the block's ``start``/``end`` key positions, its ``block_max`` score, the running
    max ``m``, the ``correction`` exp(m_old − m) applied to the old sums, the running sum ``l``, the
    un-normalised output ``acc`` and the normalised ``output`` = acc / l.
    The last ``output`` equals ``softmax(scale · k @ q) @ v``. Computed in float64.
    """
    q = as_float_array("q", q).astype(np.float64)
    k = as_float_array("k", k).astype(np.float64)
    v = as_float_array("v", v).astype(np.float64)
    if q.ndim != 1:
        raise ValueError(f"q must be one query vector of shape (d,), got shape {q.shape}")
    if k.ndim != 2:
        raise ValueError(f"k must be a matrix of keys of shape (n, d), got shape {k.shape}")
    if v.ndim != 2:
        raise ValueError(f"v must be a matrix of values of shape (n, d_v), got shape {v.shape}")
    check_nonempty("q", q, {0: "d (feature)"})
    check_nonempty("k", k, {0: "n (number of keys)"})
    if k.shape[1] != q.shape[0]:
        raise ValueError(f"q and k must share d: q has shape {q.shape}, k has shape {k.shape}")
    if v.shape[0] != k.shape[0]:
        raise ValueError(f"v must have one row per key: k has shape {k.shape}, v has shape {v.shape}")
    block_size = check_positive_int("block_size", block_size)
    scale = check_scale(scale, 1.0 / math.sqrt(q.shape[0]))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported just below, by name
        scores = scale * (k @ q)
    if not np.isfinite(scores).all():
        raise_scores_overflow(np.argwhere(~np.isfinite(scores))[0], scores.shape, scores.dtype, q, k)

    m, l, acc = -math.inf, 0.0, np.zeros(v.shape[1])
    steps = []
    for start in range(0, k.shape[0], block_size):
        end = min(start + block_size, k.shape[0])
        block_max = float(scores[start:end].max())
        m_new = max(m, block_max)
        correction = math.exp(m - m_new)  # exp(-inf) = 0 on the first block
        p = np.exp(scores[start:end] - m_new)
        l = l * correction + float(p.sum())
        acc = acc * correction + p @ v[start:end]
        m = m_new
        steps.append(dict(start=start, end=end, block_max=block_max, m=m, correction=correction, l=l,
                          acc=acc.copy(), output=acc / l))
    return steps
