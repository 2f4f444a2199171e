"""Every strategy chunked_attention can choose gives scaled_dot_product_attention's answer
(float32 within 1e-5, float64 within 1e-12), and each test checks that its strategy really ran.

Strategies: the fixed shift per row (one task for a small input, several heads per task, several key
blocks, worker threads), the running maximum (a caller's mask), and the running maximum redoing the rows
whose scores exceed their shift by too much for exp.
"""

import numpy as np
import pytest

from lessons_lib import chunked, chunked_attention, scaled_dot_product_attention

TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def random_qkv(shape_q, shape_k, d_v, dtype, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(shape_q).astype(dtype)
    k = rng.standard_normal(shape_k).astype(dtype)
    v = rng.standard_normal(shape_k[:-1] + (d_v,)).astype(dtype)
    return q, k, v


class Spy:
    """Records the plan and how many tasks each way of computing took."""

    def __init__(self, monkeypatch):
        self.plans, self.shifted, self.shift_refused, self.running_max, self.last_shifts = [], 0, 0, 0, []
        plan, shifted, running_max = chunked._plan, chunked._attend_shifted, chunked._attend_query_block

        def spy_plan(*args):
            self.plans.append(plan(*args))
            return self.plans[-1]

        def spy_shifted(call, h0, h1, qs, qe, scratch):
            refused = shifted(call, h0, h1, qs, qe, scratch)
            self.shifted += 1
            self.shift_refused += len(refused)
            self.last_shifts.append((call, h0, h1, qs, qe, scratch.shifted_q[: h1 - h0, : qe - qs, -1].copy()))
            return refused

        def spy_running_max(*args):
            self.running_max += 1
            return running_max(*args)

        monkeypatch.setattr(chunked, "_plan", spy_plan)
        monkeypatch.setattr(chunked, "_attend_shifted", spy_shifted)
        monkeypatch.setattr(chunked, "_attend_query_block", spy_running_max)


def check(out, q, k, v, dtype, **kwargs):
    expected, _ = scaled_dot_product_attention(q, k, v, **kwargs)
    assert out.dtype == dtype and out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_a_small_input_is_one_task_in_the_calling_thread(monkeypatch, dtype, causal):
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((1, 12, 40, 8), (1, 12, 40, 8), 8, dtype)
    check(chunked_attention(q, k, v, causal=causal, num_threads=4), q, k, v, dtype, causal=causal)
    (plan,) = spy.plans
    assert plan.workers == 1 and len(plan.tasks) == 1 and plan.heads_per_task == 12
    assert (spy.shifted, spy.running_max) == (1, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_several_heads_per_task_over_several_key_blocks(monkeypatch, dtype, causal):
    monkeypatch.setattr(chunked, "_MAX_QUERY_BLOCK", 16)
    monkeypatch.setattr(chunked, "_SCRATCH_ELEMENTS", 3 * 16 * 16)  # three heads of 16 queries × 16 keys per task
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((2, 5, 70, 8), (2, 5, 90, 8), 3, dtype, seed=1)
    check(chunked_attention(q, k, v, causal=causal, block_size=16, num_threads=1), q, k, v, dtype, causal=causal)
    (plan,) = spy.plans
    assert plan.heads_per_task == 3 and plan.key_block == 16
    assert spy.shifted == len(plan.tasks) > 1 and spy.running_max == 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("num_threads", [2, 3])
def test_worker_threads(monkeypatch, dtype, causal, num_threads):
    monkeypatch.setattr(chunked, "_PARALLEL_MIN_WORK", 0)
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((3, 300, 16), (3, 300, 16), 8, dtype, seed=2)
    check(chunked_attention(q, k, v, causal=causal, block_size=64, num_threads=num_threads), q, k, v, dtype, causal=causal)
    (plan,) = spy.plans
    assert plan.workers == num_threads
    assert spy.shifted == len(plan.tasks) and spy.running_max == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_causal_with_fewer_queries_than_keys_and_broadcast_heads(monkeypatch, dtype):
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((2, 1, 50, 8), (2, 3, 130, 8), 4, dtype, seed=3)
    check(chunked_attention(q, k, v, causal=True, block_size=32), q, k, v, dtype, causal=True)
    assert spy.shifted > 0 and spy.running_max == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_mask_uses_the_running_maximum(monkeypatch, dtype):
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((2, 60, 8), (2, 80, 8), 4, dtype, seed=4)
    mask = np.random.default_rng(5).random((2, 60, 80)) < 0.6
    mask[..., 7] = True
    for causal in (False, True):
        check(chunked_attention(q, k, v, mask=mask, causal=causal, block_size=16), q, k, v, dtype, mask=mask, causal=causal)
    assert spy.shifted == 0 and spy.running_max > 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
def test_rows_whose_scores_exceed_their_shift_by_too_much_are_redone_with_the_running_maximum(monkeypatch, dtype, causal):
    # Row 0's shift is its score with one key; another key scores far higher (by more than exp can take:
    # 88 in float32, 709 in float64), so its exp overflows and that task is redone.
    q, k, v = random_qkv((40, 4), (40, 4), 3, dtype, seed=6)
    gap = 200.0 if dtype == np.float32 else 1500.0
    q[:, 0] = 0.0
    q[5, 0] = 1.0
    k[:, 0] = 0.0
    k[2, 0] = 2 * gap  # scale 1/2: query 5 scores `gap` against key 2, ~0 against its shift key
    spy = Spy(monkeypatch)
    out = chunked_attention(q, k, v, causal=causal, block_size=8)
    check(out, q, k, v, dtype, causal=causal)
    np.testing.assert_allclose(out[5], v[2], rtol=0, atol=TOL[dtype])  # all its weight on key 2
    assert spy.shift_refused == spy.running_max == 1, "query 5 alone is redone"


def test_a_refused_shift_still_reports_a_real_overflow_by_name():
    big = np.full((3, 2), 1e20, np.float32)
    with pytest.raises(ValueError, match="overflow float32"):
        chunked_attention(big, big, np.ones((3, 1), np.float32), causal=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scores_far_from_zero_but_close_to_each_other(dtype):
    # Every score is about 1e4: the shift removes it, and the weights are those of the small differences.
    q, k, v = random_qkv((64, 8), (64, 8), 4, dtype, seed=7)
    q[:, 0] += 300.0
    k[:, 0] += 300.0
    out = chunked_attention(q, k, v, block_size=16)
    check(out, q, k, v, dtype)


def test_the_plan_uses_threads_only_for_enough_work(monkeypatch):
    monkeypatch.setattr(chunked, "cpu_count", lambda: 2)
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((1, 12, 128, 32), (1, 12, 128, 32), 32, np.float32)
    chunked_attention(q, k, v)  # 12 · 128 · 128 ≈ 200k scores: one worker
    q, k, v = random_qkv((1024, 64), (1024, 64), 64, np.float32)
    chunked_attention(q, k, v)  # 1M scores: both cores
    small, large = spy.plans
    assert small.workers == 1 and large.workers == 2
    assert len(large.tasks) >= 4, "enough tasks that both workers finish together"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d_k", [1, 3, 4, 7, 8, 15, 16, 64])
@pytest.mark.parametrize("lead", [(), (2, 3)])
def test_ordinary_inputs_never_need_the_running_maximum(monkeypatch, dtype, causal, d_k, lead):
    # Each row's own shift key adds 1 to its sum, so normal scores never fail the check. (numpy 2.4.6's
    # in-place np.negative got the shifts wrong for float32 rows of d_k + 1 = 4 numbers: every task was redone.)
    spy = Spy(monkeypatch)
    q, k, v = random_qkv(lead + (50, d_k), lead + (60, d_k), 5, dtype, seed=8)
    check(chunked_attention(q, k, v, causal=causal, block_size=16), q, k, v, dtype, causal=causal)
    assert spy.shifted > 0 and spy.shift_refused == 0 and spy.running_max == 0


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("d_k", [3, 8])
def test_each_rows_shift_is_its_score_with_its_own_key_or_the_last_key(monkeypatch, causal, d_k):
    spy = Spy(monkeypatch)
    q, k, v = random_qkv((2, 30, d_k), (2, 45, d_k), 2, np.float32, seed=9)
    chunked_attention(q, k, v, causal=causal, block_size=8)
    n_q, n_k = 30, 45
    for call, h0, h1, qs, qe, shifts in spy.last_shifts:
        rows = np.arange(qs, qe)
        keys = rows + (n_k - n_q) if causal else np.full(rows.shape, n_k - 1)
        scores = np.einsum("hrd,hrd->hr", q[h0:h1, qs:qe].astype(np.float64), k[h0:h1][:, keys].astype(np.float64)) / np.sqrt(d_k)
        np.testing.assert_allclose(-shifts, scores, rtol=1e-5, atol=1e-5)
