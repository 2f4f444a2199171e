"""chunked_attention's num_threads: same output for any thread count, memory set by it (not by the machine), bad values refused."""

import numpy as np
import pytest

from lessons_lib import _parallel, chunked, chunked_attention, cost, scaled_dot_product_attention

TOL = {np.float32: 1e-5, np.float64: 1e-12}


def random_qkv(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(dtype) for _ in range(3))


# ---------------------------------------------------------------- the same output for any thread count


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_one_or_three_threads_give_the_default_answer(dtype, causal):
    # n_q · n_k = 2048² reaches the size from which the function uses worker threads at all.
    q, k, v = random_qkv((2048, 16), dtype)
    default = chunked_attention(q, k, v, causal=causal, block_size=256)
    for num_threads in (1, 3):
        out = chunked_attention(q, k, v, causal=causal, block_size=256, num_threads=num_threads)
        assert out.dtype == default.dtype and out.shape == default.shape
        np.testing.assert_allclose(out, default, rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("num_threads", [1, 2, 3, 8])
def test_any_thread_count_matches_sdpa_with_a_mask_and_batch_axes(monkeypatch, num_threads):
    monkeypatch.setattr(chunked, "_PARALLEL_MIN_WORK", 0)  # use the worker threads even for this small input
    q, k, v = random_qkv((2, 3, 200, 8), np.float64, seed=1)
    mask = np.random.default_rng(2).random((3, 200, 200)) < 0.7
    mask[..., 0] = True
    for kwargs in ({}, {"causal": True}, {"mask": mask}):
        expected, _ = scaled_dot_product_attention(q, k, v, **kwargs)
        out = chunked_attention(q, k, v, block_size=32, num_threads=num_threads, **kwargs)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_num_threads_is_keyword_only():
    q, k, v = random_qkv((4, 2), np.float64)
    with pytest.raises(TypeError):
        chunked_attention(q, k, v, None, None, False, 4, 2)


# ---------------------------------------------------------------- the thread count sets the memory, the machine does not


def worker_count(monkeypatch):
    """Record how many worker threads (one scratch each) every call sets up: one entry per worker."""
    counts = []
    original = chunked._plan

    def spy(*args):
        plan = original(*args)
        counts.extend([1] * plan.workers)
        return plan

    monkeypatch.setattr(chunked, "_plan", spy)
    return counts


@pytest.mark.parametrize("cores", [1, 2, 8])
def test_num_threads_not_the_core_count_decides_the_workers(monkeypatch, cores):
    monkeypatch.setattr(chunked, "cpu_count", lambda: cores)
    q, k, v = random_qkv((2048, 8), np.float32)  # enough query groups (of 64 or more) for 16 workers
    for num_threads, expected in ((None, cores), (1, 1), (2, 2), (3, 3), (16, 16)):
        counts = worker_count(monkeypatch)
        chunked_attention(q, k, v, block_size=128, num_threads=num_threads)
        assert len(counts) == expected, (num_threads, cores)


def test_small_inputs_run_in_the_calling_thread_whatever_num_threads_says(monkeypatch):
    counts = worker_count(monkeypatch)
    q, k, v = random_qkv((64, 8), np.float64)
    chunked_attention(q, k, v, block_size=16, num_threads=4)
    assert len(counts) == 1


def test_peak_memory_with_explicit_num_threads_does_not_depend_on_the_core_count(monkeypatch):
    q, k, v = random_qkv((2048, 64), np.float32)
    chunked_attention(q, k, v, block_size=128, num_threads=2)  # warm up: one-time imports and caches
    peaks = {}

    def peak(num_threads):
        chunked._SCRATCHES.clear()  # no scratch kept from an earlier call: each call allocates its own
        return cost.peak_memory(chunked_attention, q, k, v, block_size=128, num_threads=num_threads)[1]

    for cores in (1, 2, 8):
        monkeypatch.setattr(chunked, "cpu_count", lambda cores=cores: cores)
        peaks[cores] = peak(2)
    tile = 256 * 128 * 4  # one worker's score tile, float32
    assert max(peaks.values()) - min(peaks.values()) < tile / 2, peaks
    one = peak(1)
    assert peaks[2] - one > tile / 2, "a second worker thread holds a second tile"


# ---------------------------------------------------------------- bad num_threads: one test per case

Q, K, V = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 5))


@pytest.mark.parametrize(
    "num_threads, exc",
    [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError), ("2", TypeError), (2.0, TypeError)],
)
def test_rejects_a_bad_num_threads(num_threads, exc):
    with pytest.raises(exc, match="num_threads must be"):
        chunked_attention(Q, K, V, num_threads=num_threads)


def test_accepts_a_numpy_integer_num_threads():
    out = chunked_attention(Q, K, V, num_threads=np.int64(2))
    np.testing.assert_array_equal(out, chunked_attention(Q, K, V))


# ---------------------------------------------------------------- the default thread count follows the cgroup quota


def test_a_quota_caps_the_default_thread_count(tmp_path, monkeypatch):
    path = tmp_path / "cpu.max"
    path.write_text("100000 100000\n")
    monkeypatch.setattr(_parallel, "CGROUP_CPU_MAX", str(path))
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert _parallel.cpu_count() == 1
    counts = worker_count(monkeypatch)
    q, k, v = random_qkv((2048, 8), np.float32)
    chunked_attention(q, k, v, block_size=128)
    assert len(counts) == 1


# ---------------------------------------------------------------- calls from several Python threads at once


def blas_threads():
    import threadpoolctl

    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


@pytest.mark.parametrize("causal", [False, True])
def test_calls_from_four_threads_at_once_leave_the_blas_thread_count_as_it_was(causal):
    # Overlapping "limit BLAS to 1 thread, then restore" sections must not restore each other's 1.
    import threading

    import threadpoolctl

    q, k, v = random_qkv((1024, 32), np.float32)
    expected = scaled_dot_product_attention(q, k, v, causal=causal)[0]
    errors = []
    start = threading.Barrier(4)

    def caller():
        try:
            start.wait()
            for _ in range(6):
                np.testing.assert_allclose(chunked_attention(q, k, v, causal=causal, num_threads=2), expected, rtol=0, atol=1e-5)
        except Exception as exc:  # reported below, in the test's own thread
            errors.append(exc)

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before and all(n == 2 for n in before)
        threads = [threading.Thread(target=caller) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = blas_threads()
    assert not errors, errors
    assert after == before


def test_scratch_is_kept_between_calls_but_never_shared_by_two_at_once():
    pool = _parallel.WorkspacePool(max_kept=2, max_bytes=1 << 20)
    made = []

    def make():
        made.append(np.zeros(10))
        return made[-1]

    with pool.borrow("a", 2, make) as first:
        with pool.borrow("a", 1, make) as second:  # both of "a"'s are lent out: a new one
            assert not any(second[0] is ws for ws in first)
    assert len(made) == 3
    with pool.borrow("a", 2, make) as again:
        assert len(made) == 3 and all(any(ws is m for m in made) for ws in again)
    with pool.borrow("b", 1, make):
        assert len(made) == 4  # another key: not reused
    assert len(pool._kept) == 2, "at most max_kept are kept"
    with pool.borrow("big", 1, lambda: np.zeros(1 << 18)):
        pass
    assert all(k != "big" for k, _ in pool._kept), "workspaces over max_bytes are not kept"
