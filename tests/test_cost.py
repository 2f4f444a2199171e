"""lessons_lib.cost: operation counts, traced memory, timing records, log-log fits, path lengths.

Nothing here asserts how fast anything runs: timings only have their structure checked.
"""

import tracemalloc

import numpy as np
import pytest

from lessons_lib import causal_mask, chunked_attention, scaled_dot_product_attention
from lessons_lib import cost


# ---------------------------------------------------------------- counts


def test_visible_pairs_by_hand():
    assert cost.visible_pairs(4) == 16
    assert cost.visible_pairs(4, causal=True) == 1 + 2 + 3 + 4
    assert cost.visible_pairs(2, 3, causal=True) == 2 + 3  # aligned to the last keys


@pytest.mark.parametrize("n_q, n_k", [(1, 1), (5, 5), (3, 7), (7, 7), (6, 4)])
def test_visible_pairs_matches_the_causal_mask(n_q, n_k):
    expected = int(np.tril(np.ones((n_q, n_k), bool), k=n_k - n_q).sum())
    assert cost.visible_pairs(n_q, n_k, causal=True) == expected
    if n_q <= n_k:
        assert cost.visible_pairs(n_q, n_k, causal=True) == int(causal_mask(n_q, n_k).sum())


def test_attention_flops_by_hand():
    # n = 4, d = 2: scores 16 pairs · 2 multiply-adds, weighted sum the same; 2 flops per multiply-add
    assert cost.attention_flops(4, d_k=2) == 2 * 16 * 2 + 2 * 16 * 2
    assert cost.attention_flops(4, d_k=2, causal=True) == 2 * 10 * 2 + 2 * 10 * 2
    assert cost.attention_flops(3, 5, d_k=4, d_v=1) == 2 * 15 * 4 + 2 * 15 * 1
    assert cost.attention_flops(1024, d_k=64) == 4 * 1024**2 * 64


def test_attention_flops_grow_as_n_squared():
    ratios = [cost.attention_flops(2 * n) / cost.attention_flops(n) for n in (16, 64, 256)]
    assert ratios == [4.0, 4.0, 4.0]
    # causal costs about half, approaching exactly half as n grows
    half = [cost.attention_flops(n, causal=True) / cost.attention_flops(n) for n in (8, 64, 1024)]
    assert half[0] > half[1] > half[2] > 0.5 and half[2] - 0.5 < 1e-3


def test_weights_bytes():
    assert cost.weights_bytes(1000) == 1000 * 1000 * 4
    assert cost.weights_bytes(3, 5, dtype=np.float64, heads=2) == 3 * 5 * 8 * 2


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda: cost.visible_pairs(0), ValueError),
        (lambda: cost.visible_pairs(2.5), TypeError),
        (lambda: cost.visible_pairs(4, causal=1), TypeError),
        (lambda: cost.attention_flops(4, d_k=0), ValueError),
        (lambda: cost.weights_bytes(4, heads=-1), ValueError),
    ],
)
def test_counts_reject_bad_input(call, exc):
    with pytest.raises(exc):
        call()


# ---------------------------------------------------------------- memory


def test_peak_memory_sees_a_numpy_temporary_and_returns_the_result():
    def make_and_sum():
        big = np.ones(1_000_000)  # 8 MB, freed before returning
        return float(big.sum())

    result, peak = cost.peak_memory(make_and_sum)
    assert result == 1_000_000.0
    assert 8_000_000 <= peak < 8_000_000 + 200_000


def test_peak_memory_is_deterministic_and_leaves_tracemalloc_as_it_was():
    assert not tracemalloc.is_tracing()
    peaks = [cost.peak_memory(np.zeros, (500, 500))[1] for _ in range(3)]
    # the array's 2 MB every time; only a few bytes of Python bookkeeping may differ
    assert min(peaks) >= 500 * 500 * 8 and max(peaks) - min(peaks) < 1024, peaks
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        _, peak = cost.peak_memory(np.zeros, 100_000)
        assert tracemalloc.is_tracing() and peak >= 800_000
    finally:
        tracemalloc.stop()


def test_peak_memory_of_sdpa_holds_the_weights_and_chunked_does_not():
    n, d = 1024, 16
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    _, plain = cost.peak_memory(scaled_dot_product_attention, q, k, v)
    _, chunked = cost.peak_memory(chunked_attention, q, k, v, block_size=64)
    assert plain >= cost.weights_bytes(n)
    assert chunked < cost.weights_bytes(n) / 4


def test_peak_memory_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn must be callable"):
        cost.peak_memory(42)


# ---------------------------------------------------------------- timing (structure only)


def test_time_call_counts_calls_and_orders_its_statistics():
    calls = []
    timing = cost.time_call(calls.append, 1, repeat=4, number=3, warmup=2)
    assert len(calls) == 2 + 4 * 3
    assert len(timing.times) == 4 and timing.number == 3
    assert 0 <= timing.min <= timing.q25 <= timing.median <= timing.q75 <= timing.max
    assert timing.relative_spread >= 0
    assert "runs" in str(timing)


def test_time_call_picks_a_number_of_calls_for_short_functions():
    timing = cost.time_call(lambda: None, repeat=2, warmup=0, min_run_time=1e-4)
    assert timing.number > 1


@pytest.mark.parametrize(
    "kwargs, exc",
    [({"repeat": 0}, ValueError), ({"number": 0}, ValueError), ({"warmup": -1}, ValueError), ({"repeat": 1.5}, TypeError)],
)
def test_time_call_rejects_bad_arguments(kwargs, exc):
    with pytest.raises(exc):
        cost.time_call(lambda: None, **kwargs)


def test_timing_str_uses_a_readable_unit():
    assert str(cost.Timing(times=(0.002, 0.003, 0.004), number=1)).startswith("3 ms")
    assert str(cost.Timing(times=(2e-6,), number=10)).startswith("2 µs")


# ---------------------------------------------------------------- fits


def test_loglog_fit_recovers_a_power_law():
    x = np.array([64, 128, 256, 512, 1024])
    fit = cost.loglog_fit(x, 3.0 * x**2.0)
    assert fit.slope == pytest.approx(2.0, abs=1e-12)
    assert fit.coefficient == pytest.approx(3.0, rel=1e-10)
    np.testing.assert_allclose(fit(x), 3.0 * x**2.0, rtol=1e-10)


def test_loglog_fit_of_noisy_data_is_near_the_true_slope():
    rng = np.random.default_rng(0)
    x = 2.0 ** np.arange(6, 14)
    y = 1e-9 * x**2 * np.exp(rng.normal(scale=0.05, size=x.size))
    assert abs(cost.loglog_fit(x, y).slope - 2.0) < 0.05


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1, 2, 3], [1, 2], "same length"),
        ([1], [1], "at least 2"),
        ([1, 2], [1, 0], "positive"),
        ([0, 2], [1, 2], "positive"),
        ([2, 2], [1, 2], "two different"),
    ],
)
def test_loglog_fit_rejects_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        cost.loglog_fit(x, y)


def test_matmul_gflops_reports_a_positive_throughput():
    timing, gflops = cost.matmul_gflops(n=64, repeat=2)
    assert gflops > 0 and timing.min > 0


# ---------------------------------------------------------------- path length


def test_path_lengths_rnn_is_a_chain():
    np.testing.assert_array_equal(cost.path_lengths(5, "rnn"), [4, 3, 2, 1, 0])


def test_path_lengths_attention_is_one_step():
    np.testing.assert_array_equal(cost.path_lengths(5, "attention"), [1, 1, 1, 1, 0])


@pytest.mark.parametrize("n", [1, 2, 17, 100])
def test_first_token_is_n_minus_1_steps_away_in_an_rnn_and_one_in_attention(n):
    assert cost.path_lengths(n, "rnn")[0] == n - 1
    assert cost.path_lengths(n, "attention")[0] == min(1, n - 1)


def test_path_lengths_rejects_an_unknown_architecture():
    with pytest.raises(ValueError, match="architecture must be"):
        cost.path_lengths(4, "cnn")


# ---------------------------------------------------------------- a whole model, recurrence, memory


def test_transformer_flops_by_hand():
    # n = 2, d = 4, 2 heads, d_ff = 8: projections 4·2·2·16, feed-forward 2·2·2·4·8, core 2 heads · 4·n²·d_head
    flops = cost.transformer_flops(2, d_model=4, num_heads=2, d_ff=8)
    assert flops.linear == 4 * 2 * 2 * 16 + 2 * 2 * 2 * 4 * 8
    assert flops.attention_core == 2 * 4 * 2**2 * 2
    assert flops.total == flops.linear + flops.attention_core
    # d_ff = 4·d: the linear layers are exactly 24·n·d² per layer
    assert cost.transformer_flops(64, 768, 12, num_layers=3).linear == 3 * 24 * 64 * 768**2


def test_transformer_flops_gpt2_small_ratio():
    few, many = (cost.transformer_flops(n, 768, 12, 3072, num_layers=12) for n in (64, 1024))
    assert many.attention_core / few.attention_core == 256
    assert 18 < many.total / few.total < 20  # the linear layers dominate: far from 256
    assert many.linear / few.linear == 16
    causal = [cost.transformer_flops(n, 768, 12, 3072, causal=True) for n in (64, 1024)]
    assert causal[1].total < many.total / 12


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(n=8, d_model=10, num_heads=3), dict(n=8, d_ff=0)])
def test_transformer_flops_bad_input(kwargs):
    with pytest.raises(ValueError):
        cost.transformer_flops(**kwargs)


@pytest.mark.parametrize("n", [1, 2, 7, 300])
def test_sequential_steps(n):
    assert cost.sequential_steps(n, "rnn") == n
    assert cost.sequential_steps(n, "attention") == 1


def test_sequential_steps_is_not_path_length():
    # the RNN's longest path to the last token is n − 1 steps, its chain of work n steps;
    # attention's are 1 and 1: two different properties
    n = 10
    assert cost.path_lengths(n, "rnn").max() == n - 1 and cost.sequential_steps(n, "rnn") == n
    with pytest.raises(ValueError, match="architecture"):
        cost.sequential_steps(n, "transformer")


def test_context_memory():
    assert [cost.context_memory(n, 16, "rnn") for n in (1, 10, 1000)] == [16, 16, 16]
    assert [cost.context_memory(n, 16, "attention") for n in (1, 10, 1000)] == [32, 320, 32000]
    with pytest.raises(ValueError, match="architecture"):
        cost.context_memory(4, 16, "lstm")
    with pytest.raises(ValueError):
        cost.context_memory(0, 16, "rnn")


# ---------------------------------------------------------------- measuring growth


def test_measure_scaling_records_memory_deterministically():
    sizes = (32, 64, 128)
    first = cost.measure_scaling(scaled_dot_product_attention, sizes, d=8, repeat=2)
    second = cost.measure_scaling(scaled_dot_product_attention, sizes, d=8, repeat=2)
    assert first.sizes == sizes and len(first.timings) == 3 and first.d == 8
    assert first.peaks == second.peaks
    assert all(p >= cost.weights_bytes(n) for n, p in zip(sizes, first.peaks))
    assert first.median_times.shape == (3,) and (first.median_times > 0).all()
    low, high = first.time_slope()
    assert low <= high
    assert 1.3 < first.memory_fit(1).slope < 2.5  # n = 64 → 128: the n² weights not yet the whole story
    chunked = cost.measure_scaling(chunked_attention, sizes, d=8, repeat=2, block_size=16, num_threads=1)
    assert chunked.peaks[-1] < first.peaks[-1]


def test_measure_scaling_bad_input():
    with pytest.raises(TypeError):
        cost.measure_scaling("not a function", (8,))
    with pytest.raises(ValueError):
        cost.measure_scaling(scaled_dot_product_attention, ())
    with pytest.raises(ValueError):
        cost.measure_scaling(scaled_dot_product_attention, (8, 0))


def _timing(*times):
    return cost.Timing(times=tuple(times), number=1)


def test_slope_and_ratio_ranges_by_hand():
    fast, slow = _timing(1.0, 1.0, 1.0), _timing(4.0, 4.0, 4.0)
    assert cost.slope_range(fast, slow, 10, 20) == pytest.approx((2.0, 2.0))
    spread = _timing(3.0, 4.0, 5.0)  # quartiles 3.5 and 4.5
    low, high = cost.slope_range(fast, spread, 1, 2)
    assert low == pytest.approx(np.log2(3.5)) and high == pytest.approx(np.log2(4.5))
    assert cost.ratio_range(spread, fast) == pytest.approx((4.0, 3.5, 4.5))
    with pytest.raises(TypeError):
        cost.slope_range(1.0, slow, 1, 2)
    with pytest.raises(ValueError):
        cost.slope_range(fast, slow, 4, 4)
    with pytest.raises(TypeError):
        cost.ratio_range(fast, 2.0)


def test_compare():
    assert cost.compare((1.0, 1.5), 2) == "below"
    assert cost.compare((1.5, 2.5), 2) == "within"
    assert cost.compare((2.1, 3.0), 2) == "above"
    assert cost.compare((5.0, 6.0), (2, 4)) == "above"
    assert cost.compare((3.0, 6.0), (2, 4)) == "within"
    with pytest.raises(ValueError):
        cost.compare((3.0, 1.0), 2)


def test_peak_memory_counts_the_scratch_that_a_warm_call_would_reuse():
    """chunked_attention keeps scratch buffers between calls; a memory reading must not depend on that."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(512, 16)).astype(np.float32) for _ in range(3))
    chunked_attention(q, k, v, block_size=64, num_threads=2)  # first call: one-time imports and caches
    readings = []
    for warm_calls in (0, 1, 3):
        for _ in range(warm_calls):
            chunked_attention(q, k, v, block_size=64, num_threads=2)  # buffers now kept
        readings.append(cost.peak_memory(chunked_attention, q, k, v, block_size=64, num_threads=2)[1])
    tiles = 2 * 64 * 64 * 4  # at least one score tile per worker thread is counted
    assert min(readings) > tiles
    assert max(readings) - min(readings) < 0.01 * min(readings)  # a few bytes of thread bookkeeping vary
