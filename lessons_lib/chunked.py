"""Memory-efficient exact attention: online softmax over key blocks (the FlashAttention recurrence).

The n_q × n_k score matrix is never built. Queries are taken a group at a time (the groups are
independent, so ``num_threads`` CPU cores can work on that many groups at once), and for each group the
keys are visited ``block_size`` at a time. A running max ``m``, running sum ``l`` and un-normalised output
``acc`` are rescaled as each key block arrives, which gives exactly the softmax-weighted sum.
Scratch memory is ``query_block × block_size`` numbers per worker thread, whatever n is.
:func:`lessons_lib.online_softmax.online_softmax_steps` is the same recurrence for one query, written
to be read rather than to be fast.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_bool, check_positive_int, check_qkv, check_scale, raise_scores_overflow
from ._parallel import blas_single_threaded, cpu_count, run_in_threads
from .masks import causal_block, check_rows_see_a_key, combine_masks, last_visible_key

__all__ = ["chunked_attention", "DEFAULT_BLOCK_SIZE"]

DEFAULT_BLOCK_SIZE = 4096
"""Keys per online-softmax step. Large enough that the rescaling is rare, small enough to stay flat in n."""

_SCRATCH_ELEMENTS = 1 << 18
"""Target size of one worker's score block (query_block × block_size): 1 MiB of float32, cache-sized."""

_MAX_QUERY_BLOCK = 512
_MIN_QUERY_BLOCK = 16
_PARALLEL_MIN_WORK = 1 << 22
"""Below about this many score entries, threads cost more than they save."""


def chunked_attention(q, k, v, mask=None, scale=None, causal=False, block_size=DEFAULT_BLOCK_SIZE, *, num_threads=None):
    """Same output as ``scaled_dot_product_attention`` without building the n_q × n_k matrix.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v); mask: bool, broadcastable to (..., n_q, n_k).
    ``block_size`` is the number of keys per step of the online softmax: for each group of queries a
    running max, running sum and un-normalised output are rescaled as each key block arrives. Key blocks
    that the causal mask hides entirely are never computed. Returns the output (..., n_q, d_v) only.

    ``num_threads`` (keyword only) is the most worker threads that share the query groups of a large
    input: ``None`` (the default) means the number of CPU cores this process may use (its CPU affinity,
    and a cgroup CPU quota when there is one); ``1`` runs everything in the calling thread. Small inputs
    always run in the calling thread, whatever ``num_threads`` says. Each worker thread holds its own
    scratch tile, so the peak memory depends on the number of threads: pass an explicit ``num_threads``
    to get the same memory on every machine. The output does not depend on it beyond rounding.
    """
    q, k, v, batch = check_qkv(q, k, v)
    causal = check_bool("causal", causal)
    block_size = check_positive_int("block_size", block_size)
    num_threads = None if num_threads is None else check_positive_int("num_threads", num_threads)
    n_q, d_k = q.shape[-2:]
    n_k, d_v = v.shape[-2:]
    scale = check_scale(scale, 1.0 / math.sqrt(d_k))
    scores_shape = batch + (n_q, n_k)
    user_mask = combine_masks(mask, False, scores_shape)
    if user_mask is not None:
        full_batch = np.broadcast_shapes(user_mask.shape, scores_shape)[:-2]
        _check_mask_rows(user_mask, causal, full_batch + (n_q, n_k), np.shape(mask))
        user_mask = np.broadcast_to(user_mask, full_batch + (n_q, n_k))
        batch = full_batch
    elif causal and last_visible_key(0, n_q, n_k) < 0:
        # The first queries see no key at all; report it without building the full pattern.
        rows_ok = (last_visible_key(np.arange(n_q), n_q, n_k) >= 0)[:, None]
        check_rows_see_a_key(rows_ok, scores_shape, causal=True)

    dtype = q.dtype
    # |q·k| <= d_k · max|q| · max|k|: when even that bound cannot overflow, no score needs checking.
    score_bound = abs(scale) * d_k * float(np.max(np.abs(q))) * float(np.max(np.abs(k)))
    call = _Call(
        q=np.broadcast_to(q * dtype.type(scale), batch + (n_q, d_k)),  # scale the n·d queries, not the n_q·n_k scores
        k_t=np.broadcast_to(np.ascontiguousarray(np.swapaxes(k, -1, -2)), batch + (d_k, n_k)),  # rows of kᵀ contiguous
        v=np.broadcast_to(v, batch + (n_k, d_v)),
        out=np.empty(batch + (n_q, d_v), dtype=dtype),
        mask=user_mask,
        causal=causal,
        block_size=block_size,
        check_overflow=not score_bound < float(np.finfo(dtype).max) / 4,
    )

    query_block = min(n_q, _MAX_QUERY_BLOCK, max(_MIN_QUERY_BLOCK, _SCRATCH_ELEMENTS // block_size))
    tasks = []  # (work, batch index, first query, end query)
    for b in np.ndindex(*batch):
        for qs in range(0, n_q, query_block):
            qe = min(qs + query_block, n_q)
            tasks.append(((qe - qs) * call.key_end(qe), b, qs, qe))
    total_work = sum(t[0] for t in tasks)
    parallel = total_work >= _PARALLEL_MIN_WORK and not call.check_overflow  # checking: in order, for a stable error
    workers = min(num_threads or cpu_count(), len(tasks)) if parallel else 1

    # Every worker's buffers are allocated here, up front: the peak memory is the same on every run.
    scratches = [_Scratch(query_block, min(block_size, n_k), dtype, causal, user_mask is not None) for _ in range(workers)]

    def run(task_iter, scratch):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected and reported by name
            for _, b, qs, qe in task_iter:
                overflow = _attend_query_block(call, b, qs, qe, scratch)
                if overflow is not None:
                    raise_scores_overflow(b + (qs + overflow[0], overflow[1]), scores_shape, dtype, q, k)

    if workers == 1:
        # One BLAS thread here too: many small products on a busy machine make BLAS threads wait on each
        # other. Tiny calls skip the switch, which costs more than they do.
        with blas_single_threaded() if total_work >= _PARALLEL_MIN_WORK // 8 else contextlib.nullcontext():
            run(tasks, scratches[0])
        return call.out
    tasks.sort(key=lambda t: -t[0])  # biggest first, so the last tasks to finish are short ones
    run_in_threads(run, tasks, scratches)
    return call.out


@dataclass(frozen=True)
class _Call:
    """What every query block of one call shares: checked arrays, broadcast to the full batch, and settings."""

    q: np.ndarray  # (*batch, n_q, d_k), already multiplied by the scale
    k_t: np.ndarray  # (*batch, d_k, n_k)
    v: np.ndarray  # (*batch, n_k, d_v)
    out: np.ndarray  # (*batch, n_q, d_v), written one query block at a time
    mask: np.ndarray | None  # (*batch, n_q, n_k) the caller's mask (True = may attend), or None
    causal: bool
    block_size: int
    check_overflow: bool  # True when some score might overflow: look for it block by block

    @property
    def n_q(self) -> int:
        return self.q.shape[-2]

    @property
    def n_k(self) -> int:
        return self.v.shape[-2]

    def key_end(self, qe) -> int:
        """Keys from here on are in the future of every query before ``qe``, so they are never visited."""
        if not self.causal:
            return self.n_k
        return min(self.n_k, last_visible_key(qe - 1, self.n_q, self.n_k) + 1)


class _Scratch:
    """One worker's reusable buffers, so no n_q × n_k (or even per-block) allocation repeats."""

    def __init__(self, rows, cols, dtype, causal, masked):
        self.scores = np.empty((rows, cols), dtype=dtype)
        # The causal triangle of a block is at most rows wide; a caller's mask can cover the whole block.
        self.hidden = np.empty((rows, cols if masked else min(rows, cols) if causal else 0), dtype=bool)
        # key column minus query row, to find a block's causal triangle with one comparison
        width = min(rows, cols) if causal else 0
        self.col_minus_row = (np.arange(width)[None, :] - np.arange(rows)[:, None]).astype(np.int32)


def _attend_query_block(call, b, qs, qe, scratch):
    """Write softmax(q kᵀ, masked) v for queries ``qs:qe`` of batch index ``b`` into ``call.out``, visiting keys
    ``call.block_size`` at a time.

    With ``call.check_overflow``, returns the (row, key) of the first visible score that overflowed, else None.
    """
    q_blk, k_t, v, out_blk = call.q[b][qs:qe], call.k_t[b], call.v[b], call.out[b][qs:qe]
    mask_rows = None if call.mask is None else call.mask[b][qs:qe]
    rows = qe - qs
    blocks = _key_blocks(call, qs, qe)
    m = l = acc = None
    overflows = []
    for ks, ke in blocks:
        s = scratch.scores[:rows, : ke - ks]
        np.matmul(q_blk, k_t[:, ks:ke], out=s)
        if call.check_overflow:
            bad = _visible_overflow(call, s, mask_rows, qs, ks, ke)
            if bad is not None:
                overflows.append((bad[0], ks + bad[1]))
                continue
        if mask_rows is not None:
            hidden = scratch.hidden[:rows, : ke - ks]
            np.logical_not(mask_rows[:, ks:ke], out=hidden)
            np.copyto(s, -np.inf, where=hidden)
        if call.causal:
            # Row r of this block sees column c when ks + c <= its last visible key, i.e. c - r <= shift.
            shift = last_visible_key(qs, call.n_q, call.n_k) - ks
            first_hidden_col = max(shift + 1, 0)
            width = ke - ks - first_hidden_col  # at most rows: the triangle below the diagonal
            if width > 0:
                hidden = scratch.hidden[:rows, :width]
                np.greater(scratch.col_minus_row[:rows, :width], shift - first_hidden_col, out=hidden)
                np.copyto(s[:, first_hidden_col:], -np.inf, where=hidden)
        block_max = s.max(axis=1, keepdims=True)
        if m is None and len(blocks) == 1 and not call.check_overflow:
            # One key block holds every visible key: a plain softmax, no rescaling needed.
            s -= block_max
            np.exp(s, out=s)
            np.matmul(s, v[ks:ke], out=out_blk)
            out_blk /= s.sum(axis=1, keepdims=True)
            return
        m_new = block_max if m is None else np.maximum(m, block_max)
        # A row with nothing visible yet keeps m = -inf; shift it by 0 so exp() gives 0, not NaN.
        m_safe = np.where(np.isneginf(m_new), 0, m_new).astype(s.dtype, copy=False)
        s -= m_safe
        np.exp(s, out=s)
        if m is None:
            l = s.sum(axis=1, keepdims=True)
            acc = np.matmul(s, v[ks:ke])
        else:
            correction = np.exp(m - m_safe)
            l *= correction
            l += s.sum(axis=1, keepdims=True)
            acc *= correction
            acc += np.matmul(s, v[ks:ke])
        m = m_new
    if overflows:
        return min(overflows)
    np.divide(acc, l, out=out_blk)
    return None


def _key_blocks(call, qs, qe):
    """The (start, end) key ranges that query rows qs … qe − 1 visit, in visiting order.

    Under a causal mask, keys after the last row's last visible key are never visited. Blocks are cut
    backwards from that end, so the diagonal block comes first and only it can be short or partly hidden.
    """
    block_size = call.block_size
    return [(max(0, ke - block_size), ke) for ke in range(call.key_end(qe), 0, -block_size)]


def _visible_overflow(call, s, mask_rows, qs, ks, ke):
    """(row, column) of the first non-finite score in block ``s`` that the masks leave visible, or None."""
    bad = ~np.isfinite(s)
    if not bad.any():
        return None
    if mask_rows is not None:
        bad &= mask_rows[:, ks:ke]
    if call.causal:
        bad &= causal_block(call.n_q, call.n_k, qs, qs + s.shape[0], ks, ke)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def _check_mask_rows(user_mask, causal, scores_shape, mask_shape):
    """Refuse query rows with no visible key, checking a few query rows at a time (never n_q × n_k at once)."""
    n_q, n_k = scores_shape[-2:]
    mask = np.broadcast_to(user_mask, scores_shape)
    rows_ok = np.empty(scores_shape[:-1], dtype=bool)
    step = max(1, (1 << 22) // max(1, n_k * max(1, math.prod(scores_shape[:-2]))))
    for qs in range(0, n_q, step):
        qe = min(qs + step, n_q)
        allowed = mask[..., qs:qe, :]
        if causal:
            allowed = np.logical_and(allowed, causal_block(n_q, n_k, qs, qe, 0, n_k))
        rows_ok[..., qs:qe] = allowed.any(axis=-1)
    if not rows_ok.all():
        check_rows_see_a_key(rows_ok[..., None], scores_shape, mask_shape=mask_shape, causal=causal)
