"""chunked_attention's cost contract, checked with deterministic measurements only.

Memory is measured with tracemalloc (every numpy allocation, from every thread), which gives the same
number on every run; the work done is measured by counting the (query, key) scores computed. Speed
itself is measured side by side with PyTorch in benchmarks/bench_attention.py, never asserted here.
"""

import numpy as np
import pytest

from lessons_lib import chunked, chunked_attention, scaled_dot_product_attention
from lessons_lib.cost import peak_memory, visible_pairs
from lessons_lib.masks import last_visible_key


def random_qkv(shape_q, shape_k, d_v, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(shape_q).astype(dtype)
    k = rng.standard_normal(shape_k).astype(dtype)
    v = rng.standard_normal(shape_k[:-1] + (d_v,)).astype(dtype)
    return q, k, v


@pytest.mark.parametrize("causal", [False, True])
def test_never_holds_an_n_by_n_array(causal):
    n, d = 4096, 64
    q, k, v = random_qkv((n, d), (n, d), d)
    out, peak = peak_memory(chunked_attention, q, k, v, causal=causal)
    score_matrix = n * n * q.itemsize  # 64 MiB
    assert peak < score_matrix / 8, f"peak {peak / 2**20:.1f} MiB vs a {score_matrix / 2**20:.0f} MiB score matrix"
    # and it is still the right answer
    expected, _ = scaled_dot_product_attention(q[-64:], k, v, causal=causal)
    np.testing.assert_allclose(out[-64:], expected, rtol=0, atol=1e-5)


def test_never_holds_an_n_by_n_array_per_head_either():
    batch, heads, n, d = 2, 3, 1024, 32
    q, k, v = random_qkv((batch, heads, n, d), (batch, heads, n, d), d)
    _, peak = peak_memory(chunked_attention, q, k, v, causal=True, block_size=256)
    all_heads_scores = batch * heads * n * n * q.itemsize  # 24 MiB
    inputs_and_output = 4 * q.nbytes
    assert peak < all_heads_scores / 4
    assert peak < inputs_and_output + 4 * 2**20, "beyond copies of the inputs, only a few MiB of scratch"


def test_memory_grows_linearly_in_n_for_a_fixed_block_size():
    d, block_size = 64, 256
    peaks = {}
    for n in (1024, 4096):
        q, k, v = random_qkv((n, d), (n, d), d)
        _, peaks[n] = peak_memory(chunked_attention, q, k, v, block_size=block_size)
    # Quadrupling n would multiply an n × n buffer by 16; inputs-sized buffers grow by 4, the scratch not at all.
    assert peaks[4096] / peaks[1024] < 4.5, peaks


def test_plain_attention_does_hold_the_n_by_n_weights():
    # The contrast the chapter draws: the same measurement on scaled_dot_product_attention.
    n, d = 1024, 64
    q, k, v = random_qkv((n, d), (n, d), d)
    _, peak = peak_memory(scaled_dot_product_attention, q, k, v)
    assert peak >= n * n * q.itemsize


def record_key_blocks(monkeypatch):
    visits = []
    original = chunked._key_blocks

    def spy(call, qs, qe):
        blocks = original(call, qs, qe)
        visits.append((qs, qe - qs, last_visible_key(qe - 1, call.n_q, call.n_k), blocks))
        return blocks

    monkeypatch.setattr(chunked, "_key_blocks", spy)
    return visits


@pytest.mark.parametrize("n_q, n_k, block_size", [(1000, 1000, 64), (300, 700, 50), (257, 257, 1000)])
def test_causal_skips_key_blocks_that_are_entirely_in_the_future(monkeypatch, n_q, n_k, block_size):
    visits = record_key_blocks(monkeypatch)
    q, k, v = random_qkv((n_q, 8), (n_k, 8), 4, dtype=np.float64)
    chunked_attention(q, k, v, causal=True, block_size=block_size)
    scored = 0
    covered = np.zeros(n_q, dtype=int)
    for qs, rows, last_key, blocks in visits:
        for ks, ke in blocks:
            assert ks <= last_key, "a key block that every query in the group is forbidden to see was computed"
            assert ke - ks <= block_size
            scored += rows * (ke - ks)
        covered[qs : qs + rows] += 1
        keys = sorted(j for ks, ke in blocks for j in range(ks, ke))
        assert keys == list(range(last_key + 1)), "each visible key is visited exactly once"
    assert (covered == 1).all(), "each query row is computed exactly once"
    # Work: the visible pairs plus at most the triangle of one diagonal block per query group.
    rows_per_group = visits[0][1]
    assert visible_pairs(n_q, n_k, causal=True) <= scored <= visible_pairs(n_q, n_k, causal=True) + n_q * rows_per_group


def test_causal_does_about_half_the_work_of_unmasked(monkeypatch):
    n = 2048
    q, k, v = random_qkv((n, 16), (n, 16), 16)
    work = {}
    for causal in (False, True):
        visits = record_key_blocks(monkeypatch)
        chunked_attention(q, k, v, causal=causal, block_size=128)
        work[causal] = sum(rows * (ke - ks) for _, rows, _, blocks in visits for ks, ke in blocks)
    assert work[False] == n * n
    rows = visits[0][1]
    # half of n², plus the masked upper half of one rows × rows diagonal block per query group
    assert work[True] == pytest.approx(n * n / 2 + n * rows / 2, rel=0.01)
    assert work[True] / work[False] < 0.65


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_the_multithreaded_path_is_exact_too(monkeypatch, dtype, tol):
    # Small inputs run on one thread; force the worker threads so the same checks cover them.
    monkeypatch.setattr(chunked, "_PARALLEL_MIN_WORK", 0)
    q, k, v = random_qkv((2, 1, 300, 16), (2, 3, 500, 16), 8, dtype=dtype, seed=3)
    mask = np.random.default_rng(4).random((3, 300, 500)) < 0.7
    mask[..., 0] = True
    for kwargs in ({}, {"causal": True}, {"mask": mask}, {"mask": mask, "causal": True}):
        expected, _ = scaled_dot_product_attention(q, k, v, **kwargs)
        out = chunked_attention(q, k, v, block_size=64, **kwargs)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, expected, rtol=0, atol=tol)
