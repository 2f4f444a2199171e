"""lessons_lib.masks: causal_mask, padding_mask, the explorers' mask modes, combining masks and the
"every row sees a key" check: known answers, how attention uses them, and bad input."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lessons_lib import causal_mask, multi_head_attention, init_multi_head_params, padding_mask
from lessons_lib import scaled_dot_product_attention
from lessons_lib.masks import (
    MASK_MODES,
    causal_block,
    check_rows_see_a_key,
    combine_masks,
    explorer_mask,
    last_visible_key,
)


def ordered(*parts):
    """A regex matching the given literal parts in this order (for pytest.raises(match=...))."""
    return ".*".join(re.escape(p) for p in parts)


T, F = True, False

# ---------------------------------------------------------------- causal_mask


def test_causal_mask_square_is_lower_triangular():
    mask = causal_mask(3)
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, [[T, F, F], [T, T, F], [T, T, T]])


def test_causal_mask_with_more_keys_aligns_queries_to_the_last_keys():
    np.testing.assert_array_equal(causal_mask(2, 4), [[T, T, T, F], [T, T, T, T]])


def test_causal_mask_with_fewer_keys_leaves_the_first_queries_empty():
    np.testing.assert_array_equal(causal_mask(3, 2), [[F, F], [T, F], [T, T]])


def test_causal_mask_of_one_is_true():
    np.testing.assert_array_equal(causal_mask(1), [[True]])


@given(st.integers(1, 30), st.integers(1, 30))
def test_causal_mask_matches_its_definition(n_q, n_k):
    mask = causal_mask(n_q, n_k)
    assert mask.shape == (n_q, n_k)
    i, j = np.indices((n_q, n_k))
    np.testing.assert_array_equal(mask, j - i <= n_k - n_q)
    # The last query always sees every key: it is the present.
    assert mask[-1].all()


def test_causal_mask_accepts_numpy_integers():
    np.testing.assert_array_equal(causal_mask(np.int64(2), np.int32(2)), [[T, F], [T, T]])


@pytest.mark.parametrize("n", [0, -1])
def test_causal_mask_rejects_non_positive_sizes(n):
    with pytest.raises(ValueError, match=f"n_q must be positive, got {n}"):
        causal_mask(n)
    with pytest.raises(ValueError, match=f"n_k must be positive, got {n}"):
        causal_mask(2, n)


@pytest.mark.parametrize("n", [2.0, "3", True, None])
def test_causal_mask_rejects_non_integer_sizes(n):
    with pytest.raises(TypeError, match="n_q must be an integer"):
        causal_mask(n)


# ---------------------------------------------------------------- padding_mask


def test_padding_mask_known_answer():
    mask = padding_mask([1, 3, 2], 3)
    assert mask.dtype == np.bool_ and mask.shape == (3, 1, 3)
    np.testing.assert_array_equal(mask[:, 0], [[T, F, F], [T, T, T], [T, T, F]])


def test_padding_mask_accepts_a_single_length_and_numpy_arrays():
    np.testing.assert_array_equal(padding_mask(2, 4), [[[T, T, F, F]]])
    np.testing.assert_array_equal(padding_mask(np.array([4], np.uint8), 4), [[[T, T, T, T]]])


def test_padding_mask_hides_padded_keys_in_attention():
    rng = np.random.default_rng(0)
    lengths, n, d = [2, 4], 4, 3
    x = rng.normal(size=(2, n, d))
    output, weights = scaled_dot_product_attention(x, x, x, mask=padding_mask(lengths, n))
    assert np.all(weights[0, :, 2:] == 0)
    # Changing the padding changes nothing that a real token computes from keys.
    x2 = x.copy()
    x2[0, 2:] = rng.normal(size=(2, d))
    output2, _ = scaled_dot_product_attention(x2[..., :2, :], x2, x2, mask=padding_mask(lengths, n))
    expected, _ = scaled_dot_product_attention(x[..., :2, :], x, x, mask=padding_mask(lengths, n))
    np.testing.assert_array_equal(output2[0], expected[0])
    # Sequence 0 attends exactly as if it had been 2 tokens long all along.
    short, _ = scaled_dot_product_attention(x[0, :2], x[0, :2], x[0, :2])
    np.testing.assert_allclose(output[0, :2], short, rtol=0, atol=1e-14)


def test_padding_and_causal_masks_combine():
    mask = padding_mask([2], 3) & causal_mask(3)
    np.testing.assert_array_equal(mask[0], [[T, F, F], [T, T, F], [T, T, F]])
    z = np.zeros((1, 3, 2))
    v = np.array([[[1.0], [3.0], [100.0]]])
    by_flag, _ = scaled_dot_product_attention(z, z, v, mask=padding_mask([2], 3), causal=True)
    np.testing.assert_allclose(by_flag, [[[1.0], [2.0], [2.0]]], rtol=0, atol=1e-15)


def test_padding_mask_broadcasts_over_heads_in_multi_head_attention():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 6))
    params = init_multi_head_params(6, 3, seed=1)
    _, weights = multi_head_attention(x, params, 3, mask=padding_mask([3, 4], 4))
    assert weights.shape == (2, 3, 4, 4)
    assert np.all(weights[0, :, :, 3] == 0) and np.all(weights[1] > 0)


@pytest.mark.parametrize("lengths", [[0, 2], [2, 5], [-1]])
def test_padding_mask_rejects_lengths_out_of_range(lengths):
    with pytest.raises(ValueError, match=ordered("every length must be between 1 and n=4", str(lengths))):
        padding_mask(lengths, 4)


def test_padding_mask_rejects_non_integer_lengths():
    with pytest.raises(TypeError, match=ordered("lengths must be integers", "float64")):
        padding_mask([1.0, 2.0], 4)
    with pytest.raises(TypeError, match=ordered("lengths must be integers", "bool")):
        padding_mask([True], 4)
    with pytest.raises(TypeError, match="lengths must be a sequence of integers, got str"):
        padding_mask("12", 4)


def test_padding_mask_rejects_lengths_of_the_wrong_rank():
    with pytest.raises(ValueError, match=ordered("lengths must be one-dimensional", "shape (2, 1)")):
        padding_mask([[1], [2]], 4)


def test_padding_mask_rejects_an_empty_batch():
    with pytest.raises(ValueError, match="lengths is empty"):
        padding_mask([], 4)


@pytest.mark.parametrize("n, exc", [(0, ValueError), (-2, ValueError), (3.0, TypeError)])
def test_padding_mask_rejects_a_bad_n(n, exc):
    with pytest.raises(exc, match="n must be"):
        padding_mask([1], n)


# ---------------------------------------------------------------- mask shapes that broadcast


@pytest.mark.parametrize("mask", [np.array([T, F, T]), np.array([[T, F, T]]), np.array([[[T, F, T]]])])
def test_key_masks_of_any_broadcastable_rank_hide_the_same_keys(mask):
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(2, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    _, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert np.all(weights[..., 1] == 0)
    expected, _ = scaled_dot_product_attention(q, k[[0, 2]], v[[0, 2]])
    output, _ = scaled_dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(output.reshape(expected.shape), expected, rtol=0, atol=1e-14)


def test_a_scalar_true_mask_changes_nothing_and_a_list_mask_works():
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(2, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 1))
    plain = scaled_dot_product_attention(q, k, v)[0]
    np.testing.assert_array_equal(scaled_dot_product_attention(q, k, v, mask=True)[0], plain)
    listed = scaled_dot_product_attention(q, k, v, mask=[[T, T, F], [T, T, F]])[1]
    assert np.all(listed[:, 2] == 0)


def test_a_scalar_false_mask_masks_every_row():
    z = np.zeros((2, 2))
    with pytest.raises(ValueError, match=ordered("every key is masked", "mask of shape ()", "query position 0")):
        scaled_dot_product_attention(z, z, z, mask=False)


# ---------------------------------------------------------------- the causal rule, in pieces


@given(st.integers(1, 12), st.integers(1, 12), st.data())
def test_causal_block_is_that_block_of_the_causal_mask(n_q, n_k, data):
    qs = data.draw(st.integers(0, n_q - 1))
    qe = data.draw(st.integers(qs + 1, n_q))
    ks = data.draw(st.integers(0, n_k - 1))
    ke = data.draw(st.integers(ks + 1, n_k))
    np.testing.assert_array_equal(causal_block(n_q, n_k, qs, qe, ks, ke), causal_mask(n_q, n_k)[qs:qe, ks:ke])


def test_last_visible_key_works_on_integers_and_arrays():
    assert last_visible_key(0, 3, 5) == 2  # two cached keys: the first new query sees keys 0, 1, 2
    assert last_visible_key(2, 3, 5) == 4  # the last query sees every key
    np.testing.assert_array_equal(last_visible_key(np.arange(3), 3, 2), [-1, 0, 1])  # -1: no key at all


# ---------------------------------------------------------------- the explorers' mask modes


def test_explorer_mask_modes():
    n = 4
    np.testing.assert_array_equal(explorer_mask("none", n), np.ones((n, n), bool))
    np.testing.assert_array_equal(explorer_mask("causal", n), causal_mask(n))
    np.testing.assert_array_equal(explorer_mask("padding", n, padding_length=2), np.repeat([[T, T, F, F]], n, axis=0))
    np.testing.assert_array_equal(explorer_mask("padding", n), np.ones((n, n), bool))  # None: no padding
    custom = explorer_mask("custom", n, masked_cells=[(0, 1), [3, 3]])
    assert not custom[0, 1] and not custom[3, 3] and custom.sum() == n * n - 2
    # Each mode ignores the other mode's setting.
    np.testing.assert_array_equal(explorer_mask("none", n, padding_length=1, masked_cells=[(0, 0)]), np.ones((n, n), bool))
    assert set(MASK_MODES) == {"none", "causal", "padding", "custom"}


def test_explorer_mask_result_is_writable_and_fresh():
    mask = explorer_mask("padding", 3, padding_length=1)
    mask[0, 0] = False
    assert explorer_mask("padding", 3, padding_length=1)[0, 0]


@pytest.mark.parametrize(
    "args, exc, message",
    [
        (("diagonal", 3), ValueError, "mode must be one of none, causal, padding, custom; got 'diagonal'"),
        (("none", 0), ValueError, "n must be positive"),
        (("padding", 3, 4), ValueError, "every length must be between 1 and n=3"),
        (("padding", 3, True), TypeError, "padding_length must be an integer"),
    ],
)
def test_explorer_mask_refuses_bad_settings(args, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        explorer_mask(*args)


# ---------------------------------------------------------------- combining, and rows with no key


def test_combine_masks_ands_the_callers_mask_with_the_causal_one():
    mask = np.array([T, F, T])
    np.testing.assert_array_equal(combine_masks(mask, True, (3, 3)), causal_mask(3) & mask)
    np.testing.assert_array_equal(combine_masks(mask, False, (3, 3)), mask)
    np.testing.assert_array_equal(combine_masks(None, True, (2, 3, 3)), causal_mask(3))
    assert combine_masks(None, False, (3, 3)) is None


def test_combine_masks_checks_the_callers_mask():
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        combine_masks(np.ones((3, 3)), False, (3, 3))
    with pytest.raises(ValueError, match="last axis must be 1 or n_k=3"):
        combine_masks(np.ones((3, 2), bool), True, (3, 3))


def test_check_rows_see_a_key_names_the_culprits():
    check_rows_see_a_key(None, (3, 3))
    check_rows_see_a_key(causal_mask(3), (2, 3, 3), causal=True)
    with pytest.raises(ValueError, match=ordered("every key is masked by causal=True (n_q=3, n_k=2)", "query position 0",
                                                 "the first n_q - n_k = 1 queries see no key")):
        check_rows_see_a_key(causal_mask(3, 2), (3, 2), causal=True)
    with pytest.raises(ValueError, match=ordered("by the mask of shape (3,)", "query position 1", "index (0, 1)")):
        mask = np.ones((2, 3, 3), bool)
        mask[0, 1] = False
        check_rows_see_a_key(mask, (2, 3, 3), mask_shape=(3,))
