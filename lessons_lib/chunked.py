"""Memory-efficient exact attention: softmax over key blocks, never the n_q × n_k score matrix.

Queries are taken a group at a time (the groups are independent, so ``num_threads`` CPU cores can work on
that many groups at once; small heads are grouped several to a task), and for each group the keys are
visited ``block_size`` at a time. Two ways keep the result exactly the softmax-weighted sum:

- **A fixed shift per row** (the fast path). Softmax does not change when every score of a row is shifted
  by the same number; the row's maximum is only the safest choice. Each row is shifted by its score with
  one key it can see (its own position under ``causal=True``, else the last key), so no block needs its
  maximum and nothing is ever rescaled: per key block, one product for the shifted scores (the shift rides
  along as an extra column of q against a row of ones under kᵀ), one ``exp``, and one product that gives the
  weighted values and the row sums at once (a column of ones appended to v). ``exp`` can only overflow when
  a score exceeds that row's shift by about 88 (float32; 709 in float64); such a row's sum is not finite,
  which is checked, and the row is redone the second way.
- **A running maximum** (the online softmax of FlashAttention): a running max ``m``, running sum ``l`` and
  un-normalised output ``acc`` are rescaled as each key block arrives. Used with a caller's mask, and for
  the rows the shift does not suit.

Scratch memory is a few ``query_block × block_size`` tiles per worker thread, whatever n is; small ones
are kept for the next call (a fresh buffer costs a page fault per 4 KiB, more than a small call's work).
:func:`lessons_lib.online_softmax.online_softmax_steps` is the running-maximum recurrence for one query,
written to be read rather than to be fast.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ._checks import check_bool, check_positive_int, check_qkv, check_scale, raise_scores_overflow
from ._parallel import WorkspacePool, blas_single_threaded, cpu_count, run_in_threads
from .masks import causal_block, check_rows_see_a_key, combine_masks, last_visible_key

__all__ = ["chunked_attention", "DEFAULT_BLOCK_SIZE"]

DEFAULT_BLOCK_SIZE = 512
"""Keys per step: a query group's score tile (query_block × block_size) then stays in the CPU's cache."""

_SCRATCH_ELEMENTS = 1 << 17
"""Target size of one worker's score tile (heads × query_block × block_size): 512 KiB of float32."""

_SCRATCHES = WorkspacePool(max_kept=4, max_bytes=4 << 20)
"""Workers' scratch buffers, kept between calls (16 MiB at most): fresh ones cost more than a small call's work."""

_MAX_QUERY_BLOCK = 256
_MIN_QUERY_BLOCK = 16
_MIN_PARALLEL_QUERY_BLOCK = 64
"""Query groups are split for more workers down to this size; smaller ones use the CPU poorly."""
_TASKS_PER_WORKER = 2
"""At least this many tasks per worker, so that a worker slowed by other processes gets fewer."""
_PARALLEL_MIN_WORK = 1 << 19
"""Below about this many visible scores, handing tasks to other threads costs more than it saves."""


def chunked_attention(q, k, v, mask=None, scale=None, causal=False, block_size=DEFAULT_BLOCK_SIZE, *, num_threads=None):
    """Same output as ``scaled_dot_product_attention`` without building the n_q × n_k matrix.

    q: (..., n_q, d_k); k: (..., n_k, d_k); v: (..., n_k, d_v); mask: bool, broadcastable to (..., n_q, n_k).
    ``block_size`` is the number of keys per step: for each group of queries the keys are visited one
    block at a time, and the softmax is kept exact across blocks (see the module's docstring). Key blocks
    that the causal mask hides entirely are never computed. Returns the output (..., n_q, d_v) only.

    ``num_threads`` (keyword only) is the most worker threads that share the query groups of a large
    input: ``None`` (the default) means the number of CPU cores this process may use (its CPU affinity,
    and a cgroup CPU quota when there is one); ``1`` runs everything in the calling thread. Small inputs
    always run in the calling thread, whatever ``num_threads`` says. Each worker thread holds its own
    scratch tiles, so the peak memory depends on the number of threads: pass an explicit ``num_threads``
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
    heads = math.prod(batch)  # every leading (batch, head) position, flattened
    # Packed once per call: kᵀ over a row of ones (the shift's partner), v beside a column of ones (the sums).
    k_t = np.empty((heads, d_k + 1, n_k), dtype=dtype)
    k_t[:, :d_k] = np.swapaxes(np.broadcast_to(k, batch + (n_k, d_k)).reshape(heads, n_k, d_k), 1, 2)
    k_t[:, d_k] = 1
    v_1 = np.empty((heads, n_k, d_v + 1), dtype=dtype)
    v_1[..., :d_v] = np.broadcast_to(v, batch + (n_k, d_v)).reshape(heads, n_k, d_v)
    v_1[..., d_v] = 1
    out = np.empty(batch + (n_q, d_v), dtype=dtype)
    # With a mask, the running maximum checks every block for overflow unless even the bound
    # |q·k| <= d_k · max|q| · max|k| cannot overflow; without one, it only redoes the rows the shift failed.
    check_overflow = user_mask is None or not (
        abs(scale) * d_k * float(np.max(np.abs(q))) * float(np.max(np.abs(k))) < float(np.finfo(dtype).max) / 4
    )
    call = _Call(
        q=np.broadcast_to(q, batch + (n_q, d_k)).reshape(heads, n_q, d_k),
        k_t=k_t,
        v_1=v_1,
        out=out.reshape(heads, n_q, d_v),
        scale=dtype.type(scale),
        batch=batch,
        mask=user_mask,
        causal=causal,
        block_size=block_size,
        check_overflow=check_overflow,
    )
    plan = _plan(call, num_threads)

    def run(task_iter, scratch):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected, and reported by name
            for _, h0, h1, qs, qe in task_iter:
                if call.mask is None:
                    redo = [(h0 + h, qs + r, qs + r + 1) for h, r in _attend_shifted(call, h0, h1, qs, qe, scratch)]
                else:
                    redo = [(h, qs, qe) for h in range(h0, h1)]
                for h, first, end in redo:  # the running maximum
                    overflow = _attend_query_block(call, h, first, end, scratch)
                    if overflow is not None:
                        index = np.unravel_index(h, batch) + (first + overflow[0], overflow[1])
                        raise_scores_overflow(index, scores_shape, dtype, q, k)

    masked = user_mask is not None
    key = (plan.query_block, plan.key_block, plan.heads_per_task, d_k, d_v, dtype, causal, masked)
    with _SCRATCHES.borrow(key, plan.workers, lambda: _Scratch(plan, d_k, d_v, dtype, causal, masked)) as scratches:
        if plan.workers == 1:
            # One BLAS thread here too: BLAS's own threads, woken for each of many small products, wait on
            # each other (badly so on a busy machine).
            with blas_single_threaded():
                run(plan.tasks, scratches[0])
        else:
            run_in_threads(run, plan.tasks, scratches)
    return out


@dataclass(frozen=True)
class _Call:
    """What every task of one call shares: checked arrays, flattened over the leading axes, and settings."""

    q: np.ndarray  # (heads, n_q, d_k), not yet scaled
    k_t: np.ndarray  # (heads, d_k + 1, n_k): kᵀ above a row of ones
    v_1: np.ndarray  # (heads, n_k, d_v + 1): v beside a column of ones
    out: np.ndarray  # (heads, n_q, d_v), written one task at a time
    scale: np.floating
    batch: tuple  # the leading axes that ``heads`` flattens
    mask: np.ndarray | None  # (*batch, n_q, n_k) the caller's mask (True = may attend), or None
    causal: bool
    block_size: int
    check_overflow: bool  # the running maximum looks for overflowing scores block by block

    @property
    def n_q(self) -> int:
        return self.q.shape[-2]

    @property
    def n_k(self) -> int:
        return self.v_1.shape[-2]

    def key_end(self, qe) -> int:
        """Keys from here on are in the future of every query before ``qe``, so they are never visited."""
        if not self.causal:
            return self.n_k
        return min(self.n_k, last_visible_key(qe - 1, self.n_q, self.n_k) + 1)


@dataclass(frozen=True)
class _Plan:
    """How one call splits its work: tasks of ``heads_per_task`` heads × ``query_block`` queries, and how many workers."""

    query_block: int
    key_block: int
    heads_per_task: int
    tasks: list  # (visible scores, first head, end head, first query, end query), biggest first
    workers: int


def _plan(call, num_threads):
    """Choose the strategy by size: tiles that fit the cache, several small heads per task, and threads
    only when the work pays for them (small inputs: one task, in the calling thread)."""
    heads, n_q, n_k = call.q.shape[0], call.n_q, call.n_k
    key_block = min(call.block_size, n_k)
    query_block = min(n_q, _MAX_QUERY_BLOCK, max(_MIN_QUERY_BLOCK, _SCRATCH_ELEMENTS // key_block))
    if call.causal:
        query_block = min(query_block, key_block)  # so every causally hidden key of a group is in its first block
    heads_per_task = 1 if call.mask is not None else max(1, min(heads, _SCRATCH_ELEMENTS // (query_block * key_block)))
    work = heads * sum((min(qs + query_block, n_q) - qs) * call.key_end(min(qs + query_block, n_q)) for qs in range(0, n_q, query_block))
    workers = 1 if work < _PARALLEL_MIN_WORK else (num_threads or cpu_count())
    if workers > 1:
        # Enough tasks that every worker gets some, and the last ones to finish are short.
        def task_count():
            return math.ceil(heads / heads_per_task) * math.ceil(n_q / query_block)

        while heads_per_task > 1 and task_count() < _TASKS_PER_WORKER * workers:
            heads_per_task = math.ceil(heads_per_task / 2)
        while query_block >= 2 * _MIN_PARALLEL_QUERY_BLOCK and task_count() < _TASKS_PER_WORKER * workers:
            query_block //= 2
    tasks = []
    for h0 in range(0, heads, heads_per_task):
        h1 = min(h0 + heads_per_task, heads)
        for qs in range(0, n_q, query_block):
            qe = min(qs + query_block, n_q)
            tasks.append(((h1 - h0) * (qe - qs) * call.key_end(qe), h0, h1, qs, qe))
    tasks.sort(key=lambda t: -t[0])
    return _Plan(query_block, key_block, heads_per_task, tasks, min(workers, len(tasks)))


class _Scratch:
    """One worker's reusable buffers, so no n_q × n_k (or even per-block) allocation repeats."""

    def __init__(self, plan, d_k, d_v, dtype, causal, masked):
        rows, cols, heads = plan.query_block, plan.key_block, plan.heads_per_task
        self.tile = np.empty(heads * rows * cols, dtype=dtype)  # one key block's scores, for every head of a task
        self.shifted_q = np.empty((heads, rows, d_k + 1), dtype=dtype)  # [q · scale | −shift]
        self.acc = np.empty((heads, rows, d_v + 1), dtype=dtype)  # [Σ p·v | Σ p]
        self.part = np.empty((heads, rows, d_v + 1), dtype=dtype)
        # The running maximum's buffers: the causal triangle of a block is at most rows wide; a mask covers it all.
        self.hidden = np.empty((rows, cols if masked else min(rows, cols) if causal else 0), dtype=bool)
        self.col_minus_row = _col_minus_row(rows, min(rows, cols) if causal else 0)

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.tile, self.shifted_q, self.acc, self.part, self.hidden))

    def scores(self, heads, rows, cols):
        return self.tile[: heads * rows * cols].reshape(heads, rows, cols)


@functools.lru_cache(maxsize=8)
def _causal_bias(rows, cols, first_hidden, dtype):
    """Added to a causal group's first key block: 0 where row r sees column c (c < first_hidden + r), else −inf.

    Read-only and kept between calls: building it costs more than a small call's whole work.
    """
    bias = np.zeros((rows, cols), dtype=dtype)
    for r in range(rows):
        bias[r, first_hidden + r :] = -np.inf
    bias.flags.writeable = False
    return bias


@functools.lru_cache(maxsize=8)
def _col_minus_row(rows, width):
    """Key column minus query row, to find a block's causal triangle with one comparison (read-only, kept)."""
    table = (np.arange(width)[None, :] - np.arange(rows)[:, None]).astype(np.int32)
    table.flags.writeable = False
    return table


def _attend_shifted(call, h0, h1, qs, qe, scratch):
    """Heads ``h0:h1``, queries ``qs:qe``: each row shifted by one visible score, no maximum, no rescaling.

    Writes the output and returns the (head, row) pairs, relative to ``h0`` and ``qs``, whose sum is not finite
    (a score exceeded its row's shift by too much for ``exp``, or overflowed itself) or too small: those rows
    are to be redone with the running maximum. Each row's result depends on that row alone.
    """
    heads, rows = h1 - h0, qe - qs
    d_k, d_v = call.q.shape[-1], call.out.shape[-1]
    shifted_q = scratch.shifted_q[:heads, :rows]
    np.multiply(call.q[h0:h1, qs:qe], call.scale, out=shifted_q[..., :d_k])
    shift = shifted_q[..., d_k]  # (heads, rows)
    if call.causal:  # each row's score with its own position's key, which it always sees
        first = last_visible_key(qs, call.n_q, call.n_k)
        np.einsum("hrd,hdr->hr", shifted_q[..., :d_k], call.k_t[h0:h1, :d_k, first : first + rows], out=shift)
    else:  # with the last key
        np.matmul(shifted_q[..., :d_k], call.k_t[h0:h1, :d_k, -1:], out=shifted_q[..., d_k:])
    shift *= -1  # (not np.negative(shift, out=shift): numpy 2.4.6 gets that wrong for some float32 strides)
    acc, part = scratch.acc[:heads, :rows], scratch.part[:heads, :rows]
    for i, (ks, ke) in enumerate(_key_blocks(call, qs, qe)):
        s = scratch.scores(heads, rows, ke - ks)
        np.matmul(shifted_q, call.k_t[h0:h1, :, ks:ke], out=s)  # q·kᵀ·scale − shift
        if i == 0 and call.causal:
            # Row r of this (diagonal) block sees its columns c < first_hidden + r.
            first_hidden = last_visible_key(qs, call.n_q, call.n_k) - ks + 1
            if first_hidden < ke - ks:  # the first row, at least, has hidden columns here
                np.add(s, _causal_bias(rows, ke - ks, first_hidden, s.dtype), out=s)
        np.exp(s, out=s)
        np.matmul(s, call.v_1[h0:h1, ks:ke], out=acc if i == 0 else part)  # [Σ p·v | Σ p]
        if i:
            acc += part
    np.divide(acc[..., :d_v], acc[..., d_v:], out=call.out[h0:h1, qs:qe])
    # Each row's own shift key adds exp(0) = 1 to its sum; a sum below 1/2 means the scores were too large
    # for q·k − shift to come out right (rounding in the cancellation), a non-finite one that exp overflowed.
    if np.isfinite(acc.sum()) and acc[..., d_v].min() >= 0.5:  # (one quick look first: the usual case)
        return ()
    refused = ~np.isfinite(acc).all(axis=-1)
    refused |= ~(acc[..., d_v] >= 0.5)
    return np.argwhere(refused)


def _attend_query_block(call, h, qs, qe, scratch):
    """Write softmax(q kᵀ, masked) v for queries ``qs:qe`` of head ``h`` into ``call.out``, visiting keys
    ``call.block_size`` at a time with a running maximum.

    With ``call.check_overflow``, returns the (row, key) of the first visible score that overflowed, else None.
    """
    d_k, d_v = call.q.shape[-1], call.out.shape[-1]
    q_blk, k_t, v, out_blk = call.q[h, qs:qe] * call.scale, call.k_t[h, :d_k], call.v_1[h, :, :d_v], call.out[h, qs:qe]
    mask_rows = None if call.mask is None else call.mask[np.unravel_index(h, call.batch)][qs:qe]
    rows = qe - qs
    blocks = _key_blocks(call, qs, qe)
    m = l = acc = None
    overflows = []
    for ks, ke in blocks:
        s = scratch.scores(1, rows, ke - ks)[0]
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
