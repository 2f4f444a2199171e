"""chunked_attention against its design contract.

The contract: the same output as scaled_dot_product_attention — float32 within 1e-5,
float64 within 1e-12 — with masks, causal (also n_q != n_k), batch/head axes and any block size, returning
the output only, and the same clear errors for bad input. These tests treat the function as a black box,
so they hold for any correct implementation, however fast.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessons_lib import causal_mask, chunked_attention, padding_mask, scaled_dot_product_attention


FLOATS = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
TOL = {np.float32: 1e-5, np.float64: 1e-12}


@st.composite
def qkv(draw, dtype=np.float64, max_n=20, n_q=None):
    """q, k, v with optional leading axes, each broadcasting a suffix of them."""
    lead = draw(st.sampled_from([(), (2,), (2, 3)]))
    n_q = draw(st.integers(1, max_n)) if n_q is None else n_q
    n_k, d_k, d_v = draw(st.integers(1, max_n)), draw(st.integers(1, 4)), draw(st.integers(1, 4))

    def lead_for():
        cut = draw(st.integers(0, len(lead)))
        return tuple(1 if draw(st.booleans()) else s for s in lead[cut:])

    arrays = []
    for shape in ((n_q, d_k), (n_k, d_k), (n_k, d_v)):
        arrays.append(draw(hnp.arrays(dtype, lead_for() + shape, elements=FLOATS)))
    return tuple(arrays)


block_sizes = st.one_of(st.integers(1, 8), st.sampled_from([16, 64, 512]))


def assert_same_as_sdpa(q, k, v, block_size, **kwargs):
    expected, _ = scaled_dot_product_attention(q, k, v, **kwargs)
    output = chunked_attention(q, k, v, block_size=block_size, **kwargs)
    assert isinstance(output, np.ndarray), "chunked_attention returns the output only"
    assert output.shape == expected.shape and output.dtype == expected.dtype
    np.testing.assert_allclose(output, expected, rtol=0, atol=TOL[expected.dtype.type])
    return output


# ---------------------------------------------------------------- known answers


def test_worked_example_by_hand():
    q = np.array([[2 * np.log(3), 0.0, 0.0, 0.0]])
    k = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    v = np.array([[4.0, 0.0], [0.0, 8.0]])
    for block_size in (1, 2, 512):
        np.testing.assert_allclose(chunked_attention(q, k, v, block_size=block_size), [[3.0, 2.0]], rtol=0, atol=1e-14)


def test_causal_known_answer_across_blocks():
    z = np.zeros((5, 2))
    v = np.arange(1.0, 6.0)[:, None]
    expected = np.cumsum(v) / np.arange(1, 6)  # each query averages the values up to itself
    for block_size in (1, 2, 3, 5, 7):
        output = chunked_attention(z, z, v, causal=True, block_size=block_size)
        np.testing.assert_allclose(output[:, 0], expected, rtol=0, atol=1e-14)


def test_causal_with_fewer_queries_is_aligned_to_the_last_keys():
    v = np.array([[1.0], [2.0], [3.0]])
    for block_size in (1, 2, 4):
        output = chunked_attention(np.zeros((2, 2)), np.zeros((3, 2)), v, causal=True, block_size=block_size)
        np.testing.assert_allclose(output, [[1.5], [2.0]], rtol=0, atol=1e-15)


# ---------------------------------------------------------------- exactness against scaled_dot_product_attention


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, block_size", [(12, 4), (12, 5), (12, 1), (12, 12), (12, 100), (7, 3)])
def test_matches_sdpa_for_block_sizes_that_do_and_do_not_divide_n(dtype, n, block_size):
    rng = np.random.default_rng(n * 100 + block_size)
    q, k, v = (rng.normal(size=(2, n, 3)).astype(dtype) for _ in range(3))
    for causal in (False, True):
        assert_same_as_sdpa(q, k, v, block_size, causal=causal)


def test_matches_sdpa_with_the_default_block_size_beyond_one_block():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(600, 8)), rng.normal(size=(700, 8)), rng.normal(size=(700, 5))
    expected, _ = scaled_dot_product_attention(q, k, v, causal=True)
    np.testing.assert_allclose(chunked_attention(q, k, v, causal=True), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_matches_sdpa(dtype, data):
    q, k, v = data.draw(qkv(dtype=dtype))
    scale = data.draw(st.one_of(st.none(), st.floats(-2, 2)))
    assert_same_as_sdpa(q, k, v, data.draw(block_sizes), scale=scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_matches_sdpa_with_a_mask(dtype, data):
    q, k, v = data.draw(qkv(dtype=dtype))
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask_lead = data.draw(st.sampled_from([(), (1,), (2,), (3, 1)]))
    mask = data.draw(hnp.arrays(np.bool_, mask_lead + (n_q, n_k)))
    mask[..., data.draw(st.integers(0, n_k - 1))] = True  # every query keeps at least one key
    try:
        expected, _ = scaled_dot_product_attention(q, k, v, mask=mask)
    except ValueError:  # mask batch axes that do not broadcast with q, k, v: both must refuse
        with pytest.raises(ValueError, match="mask"):
            chunked_attention(q, k, v, mask=mask, block_size=data.draw(block_sizes))
        return
    assert_same_as_sdpa(q, k, v, data.draw(block_sizes), mask=mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_matches_sdpa_when_causal_including_n_q_not_n_k(dtype, data):
    q, k, v = data.draw(qkv(dtype=dtype))
    n_q, n_k = q.shape[-2], k.shape[-2]
    if n_q > n_k:
        q = q[..., n_q - n_k:, :]  # more queries than keys leaves the first ones empty: a bad-input case
    assert_same_as_sdpa(q, k, v, data.draw(block_sizes), causal=True)


@given(data=st.data())
def test_matches_sdpa_with_causal_and_a_mask(data):
    q, k, v = data.draw(qkv(max_n=12))
    n_q, n_k = q.shape[-2], k.shape[-2]
    if n_q > n_k:
        q = q[..., n_q - n_k:, :]
        n_q = n_k
    mask = data.draw(hnp.arrays(np.bool_, (n_q, n_k)))
    mask[..., 0] = True  # key 0 is visible to every causal query
    assert_same_as_sdpa(q, k, v, data.draw(block_sizes), mask=mask, causal=True)


def test_matches_sdpa_with_a_padding_mask_and_head_axes():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 4, 9, 6)), rng.normal(size=(3, 4, 9, 6)), rng.normal(size=(3, 4, 9, 2))
    mask = padding_mask([9, 4, 1], 9)[:, None]  # (batch, 1, 1, n): shared by the 4 heads
    for block_size in (2, 4, 9):
        assert_same_as_sdpa(q, k, v, block_size, mask=mask)
        assert_same_as_sdpa(q, k, v, block_size, mask=mask, causal=True)


def test_batch_axes_carried_only_by_v_or_by_the_mask():
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(5, 3)), rng.normal(size=(6, 3)), rng.normal(size=(4, 6, 2))
    assert chunked_attention(q, k, v, block_size=2).shape == (4, 5, 2)
    assert_same_as_sdpa(q, k, v, 2)
    mask = np.ones((2, 5, 6), bool)
    mask[1, :, :3] = False
    assert_same_as_sdpa(q, k, v[0], 4, mask=mask)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(4, 3)).astype(dtype) for _ in range(3))
    assert chunked_attention(q, k, v, block_size=3).dtype == dtype
    assert chunked_attention(q, k, v, causal=True, mask=np.ones((4, 4), bool), block_size=3).dtype == dtype


def test_integers_become_float64_and_mixed_precision_promotes():
    assert chunked_attention([[1, 0]], [[1, 0], [0, 1]], [[1], [3]]).dtype == np.float64
    q = np.ones((2, 3), np.float32)
    assert chunked_attention(q, np.ones((2, 3)), np.ones((2, 1), np.float32)).dtype == np.float64


def test_large_scores_stay_exact():
    # Scores near 1e4 would overflow exp() without the running max.
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(8, 4)) * 60, rng.normal(size=(8, 4)) * 60, rng.normal(size=(8, 2))
    for causal in (False, True):
        assert_same_as_sdpa(q, k, v, 3, causal=causal)


def test_masked_keys_get_zero_weight_even_when_every_visible_score_is_hugely_negative():
    q = np.array([[1e5, 0.0]])
    k = np.array([[-1e5, 0.0], [1e5, 0.0], [-1e5, 1.0]])
    v = np.array([[1.0], [2.0], [3.0]])
    mask = np.array([[True, False, True]])
    expected, _ = scaled_dot_product_attention(q, k, v, mask=mask)
    for block_size in (1, 2, 3):
        np.testing.assert_allclose(chunked_attention(q, k, v, mask=mask, block_size=block_size), expected, rtol=0, atol=1e-12)
        assert chunked_attention(q, k, v, mask=mask, block_size=block_size)[0, 0] < 2.5


# ---------------------------------------------------------------- properties


@given(st.integers(2, 12).flatmap(lambda n: hnp.arrays(np.float64, (n, 3), elements=FLOATS)), st.data())
def test_self_attention_is_permutation_equivariant(x, data):
    perm = np.array(data.draw(st.permutations(range(x.shape[0]))))
    block_size = data.draw(block_sizes)
    output = chunked_attention(x, x, x, block_size=block_size)
    np.testing.assert_allclose(chunked_attention(x[perm], x[perm], x[perm], block_size=block_size), output[perm], rtol=0, atol=1e-12)


def test_the_block_size_does_not_change_the_answer_beyond_rounding():
    rng = np.random.default_rng(6)
    q, k, v = rng.normal(size=(2, 13, 4)), rng.normal(size=(2, 17, 4)), rng.normal(size=(2, 17, 3))
    outputs = [chunked_attention(q, k, v, block_size=b) for b in (1, 2, 3, 4, 8, 13, 16, 17, 1000)]
    for out in outputs[1:]:
        np.testing.assert_allclose(out, outputs[0], rtol=0, atol=1e-13)


# ---------------------------------------------------------------- bad input
# The contract chunked_attention shares with scaled_dot_product_attention is tested in test_checks.py.

Q, K, V = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 5))


@pytest.mark.parametrize("block_size, exc", [(0, ValueError), (-4, ValueError), (2.0, TypeError), (True, TypeError), (None, TypeError)])
def test_rejects_a_bad_block_size(block_size, exc):
    with pytest.raises(exc, match="block_size must be"):
        chunked_attention(Q, K, V, block_size=block_size)


def test_causal_mask_helper_and_flag_agree():
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(5, 2)), rng.normal(size=(8, 2)), rng.normal(size=(8, 3))
    np.testing.assert_allclose(
        chunked_attention(q, k, v, causal=True, block_size=3),
        chunked_attention(q, k, v, mask=causal_mask(5, 8), block_size=3),
        rtol=0,
        atol=1e-14,
    )
