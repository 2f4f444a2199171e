"""attention.py: softmax, hard_lookup, soft_lookup and scaled_dot_product_attention.

Known answers, properties against plain-numpy references, and bad input (scaled_dot_product_attention's
bad input is in test_checks.py, shared with chunked_attention and multi_head_attention).
"""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessons_lib import causal_mask, hard_lookup, scaled_dot_product_attention, soft_lookup, softmax


def ordered(*parts):
    """A regex matching the given literal parts in this order (for pytest.raises(match=...))."""
    return ".*".join(re.escape(p) for p in parts)



def reference_attention(q, k, v, allowed=None, scale=None):
    """softmax(q kᵀ · scale, masked) v written out in float64, one (batch, query) row at a time."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_q, n_k = q.shape[-2], k.shape[-2]
    if allowed is None:
        allowed = np.ones((n_q, n_k), dtype=bool)
    batch = np.broadcast_shapes(batch, allowed.shape[:-2])
    q, k, v = (np.broadcast_to(a, batch + a.shape[-2:]) for a in (q, k, v))
    allowed = np.broadcast_to(allowed, batch + (n_q, n_k))
    out = np.zeros(batch + (n_q, v.shape[-1]))
    weights = np.zeros(batch + (n_q, n_k))
    for idx in np.ndindex(*batch, n_q):
        b, i = idx[:-1], idx[-1]
        keep = allowed[b + (i,)]
        s = k[b][keep] @ q[b + (i,)] * scale
        w = np.exp(s - s.max())
        w /= w.sum()
        weights[b + (i,)][keep] = w
        out[b + (i,)] = w @ v[b][keep]
    return out, weights


FLOATS = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


@st.composite
def qkv(draw, batch=True, n_q=None, dtype=np.float64):
    """Random q, k, v with optional leading axes (broadcasting among q, k and v included)."""
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)) if batch else ()
    n_q = draw(st.integers(1, 6)) if n_q is None else n_q
    n_k, d_k, d_v = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 5))

    def lead_for():  # each of q, k, v gets the full leading shape or a broadcastable suffix of it
        cut = draw(st.integers(0, len(lead)))
        return tuple(1 if draw(st.booleans()) else s for s in lead[cut:])

    q = draw(hnp.arrays(dtype, lead_for() + (n_q, d_k), elements=FLOATS))
    k = draw(hnp.arrays(dtype, lead_for() + (n_k, d_k), elements=FLOATS))
    v = draw(hnp.arrays(dtype, lead_for() + (n_k, d_v), elements=FLOATS))
    return q, k, v


@st.composite
def row_masks(draw, n_q, n_k):
    """A boolean (n_q, n_k) mask in which every query row keeps at least one key."""
    mask = draw(hnp.arrays(np.bool_, (n_q, n_k)))
    keep = draw(hnp.arrays(np.int64, n_q, elements=st.integers(0, n_k - 1)))
    mask[np.arange(n_q), keep] = True
    return mask


# ---------------------------------------------------------------- known answers


def test_worked_example_by_hand():
    # d_k = 4 → scale 1/2; scores [2 ln 3, 0] / 2 = [ln 3, 0] → weights [3/4, 1/4] → output [3, 2].
    q = np.array([[2 * math.log(3), 0.0, 0.0, 0.0]])
    k = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    v = np.array([[4.0, 0.0], [0.0, 8.0]])
    output, weights = scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, [[0.75, 0.25]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, [[3.0, 2.0]], rtol=0, atol=1e-14)


def test_scale_argument_replaces_one_over_sqrt_dk():
    q = np.array([[math.log(3), 0.0, 0.0, 0.0]])
    k = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    v = np.array([[4.0, 0.0], [0.0, 8.0]])
    _, weights = scaled_dot_product_attention(q, k, v, scale=1.0)
    np.testing.assert_allclose(weights, [[0.75, 0.25]], rtol=0, atol=1e-15)
    _, uniform = scaled_dot_product_attention(q, k, v, scale=0)
    np.testing.assert_array_equal(uniform, [[0.5, 0.5]])


def test_equal_keys_give_the_mean_of_the_values():
    q = np.array([[1.0, -2.0], [0.5, 3.0]])
    k = np.ones((3, 2))
    v = np.array([[1.0], [2.0], [6.0]])
    output, weights = scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, np.full((2, 3), 1 / 3), rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, [[3.0], [3.0]], rtol=0, atol=1e-14)


def test_causal_known_answer():
    # Equal scores: each query averages the values it may see.
    z = np.zeros((3, 2))
    v = np.array([[1.0], [2.0], [3.0]])
    output, weights = scaled_dot_product_attention(z, z, v, causal=True)
    np.testing.assert_allclose(weights, [[1, 0, 0], [1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, [[1.0], [1.5], [2.0]], rtol=0, atol=1e-15)


def test_causal_with_fewer_queries_is_aligned_to_the_last_keys():
    # n_q = 2, n_k = 3: query 0 is key position 1, query 1 is key position 2.
    v = np.array([[1.0], [2.0], [3.0]])
    output, weights = scaled_dot_product_attention(np.zeros((2, 2)), np.zeros((3, 2)), v, causal=True)
    np.testing.assert_allclose(weights, [[1 / 2, 1 / 2, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, [[1.5], [2.0]], rtol=0, atol=1e-15)


def test_masked_known_answer():
    z = np.zeros((2, 2))
    v = np.array([[10.0], [20.0]])
    mask = np.array([[False, True], [True, True]])
    output, weights = scaled_dot_product_attention(z, z, v, mask=mask)
    np.testing.assert_array_equal(weights, [[0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_array_equal(output, [[20.0], [15.0]])


def test_masked_keys_get_zero_weight_even_when_every_visible_score_is_hugely_negative():
    # A finite stand-in for -inf (say -1e9) would win here; -inf never does.
    q = np.array([[1e5, 0.0]])
    k = np.array([[-1e5, 0.0], [1e5, 0.0]])  # scores ≈ [-7e9, 7e9]
    v = np.array([[1.0], [2.0]])
    output, weights = scaled_dot_product_attention(q, k, v, mask=np.array([[True, False]]))
    np.testing.assert_array_equal(weights, [[1.0, 0.0]])
    np.testing.assert_array_equal(output, [[1.0]])


def test_output_and_weight_shapes_with_batch_axes_and_dk_not_dv():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(3, 6, 5)), rng.normal(size=(6, 7))
    output, weights = scaled_dot_product_attention(q, k, v)
    assert output.shape == (2, 3, 4, 7) and weights.shape == (2, 3, 4, 6)
    expected, expected_w = reference_attention(q, k, v)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights, expected_w, rtol=0, atol=1e-12)


def test_batch_axes_carried_only_by_v_or_by_the_mask():
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(3, 2)), rng.normal(size=(4, 2))
    v = rng.normal(size=(5, 4, 3))
    output, weights = scaled_dot_product_attention(q, k, v)
    assert output.shape == (5, 3, 3) and weights.shape == (5, 3, 4)
    np.testing.assert_allclose(output, reference_attention(q, k, v)[0], rtol=0, atol=1e-12)
    mask = np.ones((2, 1, 4), dtype=bool)
    mask[1, 0, 0] = False
    output, weights = scaled_dot_product_attention(q, k, v[0], mask=mask)
    assert output.shape == (2, 3, 3) and weights.shape == (2, 3, 4)
    assert np.all(weights[1, :, 0] == 0)
    np.testing.assert_allclose(output, reference_attention(q, k, v[0], mask)[0], rtol=0, atol=1e-12)


# ---------------------------------------------------------------- dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    rng = np.random.default_rng(2)
    q, k, v = (rng.normal(size=s).astype(dtype) for s in [(3, 4), (5, 4), (5, 2)])
    output, weights = scaled_dot_product_attention(q, k, v, causal=True, mask=np.ones((3, 5), bool))
    assert output.dtype == dtype and weights.dtype == dtype


def test_mixed_precision_promotes_and_integers_become_float64():
    q32 = np.ones((2, 3), np.float32)
    output, weights = scaled_dot_product_attention(q32, np.ones((2, 3)), np.ones((2, 1), np.float32))
    assert output.dtype == np.float64 and weights.dtype == np.float64
    output, weights = scaled_dot_product_attention([[1, 0]], [[1, 0], [0, 1]], [[1], [3]])
    assert output.dtype == np.float64 and weights.dtype == np.float64


@given(qkv())
def test_float32_agrees_with_float64(args):
    q, k, v = args
    out64, w64 = scaled_dot_product_attention(q, k, v)
    out32, w32 = scaled_dot_product_attention(*(a.astype(np.float32) for a in args))
    np.testing.assert_allclose(out32, out64, rtol=0, atol=1e-5)
    np.testing.assert_allclose(w32, w64, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- properties


@given(qkv())
def test_matches_the_reference_and_weight_rows_are_distributions(args):
    q, k, v = args
    output, weights = scaled_dot_product_attention(q, k, v)
    expected, expected_w = reference_attention(q, k, v)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-10, atol=1e-12)
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@given(st.data())
def test_masked_weights_are_exact_zeros_and_rows_still_sum_to_one(data):
    q, k, v = data.draw(qkv(batch=False))
    mask = data.draw(row_masks(q.shape[-2], k.shape[-2]))
    output, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert np.all(weights[~mask] == 0) and np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    expected, expected_w = reference_attention(q, k, v, mask)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-10, atol=1e-12)


@given(
    st.integers(1, 7).flatmap(lambda n: hnp.arrays(np.float64, (n, 3), elements=FLOATS)),
    st.data(),
)
def test_self_attention_is_permutation_equivariant(x, data):
    n = x.shape[0]
    perm = np.array(data.draw(st.permutations(range(n))))
    output, weights = scaled_dot_product_attention(x, x, x)
    p_output, p_weights = scaled_dot_product_attention(x[perm], x[perm], x[perm])
    np.testing.assert_allclose(p_output, output[perm], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p_weights, weights[perm][:, perm], rtol=0, atol=1e-12)


@given(qkv(batch=False), st.data())
def test_permuting_keys_with_their_values_changes_nothing(args, data):
    q, k, v = args
    perm = np.array(data.draw(st.permutations(range(k.shape[0]))))
    output, weights = scaled_dot_product_attention(q, k, v)
    p_output, p_weights = scaled_dot_product_attention(q, k[perm], v[perm])
    np.testing.assert_allclose(p_output, output, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p_weights, weights[:, perm], rtol=0, atol=1e-12)


@given(qkv(batch=False))
def test_causal_flag_equals_passing_causal_mask(args):
    q, k, v = args
    n_q, n_k = q.shape[-2], k.shape[-2]
    if n_q > n_k:  # the first queries would see nothing: tested as bad input
        q = q[:n_k]
        n_q = n_k
    by_flag = scaled_dot_product_attention(q, k, v, causal=True)
    by_mask = scaled_dot_product_attention(q, k, v, mask=causal_mask(n_q, n_k))
    np.testing.assert_array_equal(by_flag[0], by_mask[0])
    np.testing.assert_array_equal(by_flag[1], by_mask[1])


# Bad input: test_checks.py tries every case on this function, chunked_attention and multi_head_attention.


finite_floats = st.floats(-50, 50, allow_nan=False, allow_infinity=False)

# ---------------------------------------------------------------- softmax: known answers


def test_softmax_of_log_counts_gives_proportions():
    w = softmax([0.0, math.log(2), math.log(3)])
    np.testing.assert_allclose(w, [1 / 6, 2 / 6, 3 / 6], rtol=0, atol=1e-15)


def test_softmax_of_equal_entries_is_uniform_and_shift_invariant():
    np.testing.assert_array_equal(softmax([5.0, 5.0, 5.0, 5.0]), [0.25] * 4)
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(softmax(x + 100.0), softmax(x), rtol=0, atol=1e-15)


def test_softmax_along_axis_0_normalises_columns():
    x = np.array([[0.0, 0.0], [math.log(3), 0.0]])
    w = softmax(x, axis=0)
    np.testing.assert_allclose(w, [[0.25, 0.5], [0.75, 0.5]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(softmax(x, axis=-1), [[0.5, 0.5], [0.75, 0.25]], rtol=0, atol=1e-15)


def test_softmax_is_stable_at_1e4():
    for dtype in (np.float32, np.float64):
        x = np.array([1e4, 1e4 - math.log(3), -1e4], dtype=dtype)
        w = softmax(x)
        assert w.dtype == dtype and np.all(np.isfinite(w))
        # Near 1e4 float32 rounds ln 3 to its ulp, so the exact answer uses the gap actually stored.
        gap = float(x[0]) - float(x[1])
        expected = [1 / (1 + math.exp(-gap)), 1 / (1 + math.exp(gap)), 0.0]
        np.testing.assert_allclose(w, expected, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-12)
        assert abs(gap - math.log(3)) < 1e-3  # so the weights are still close to [0.75, 0.25, 0]
    np.testing.assert_array_equal(softmax([1e4, 1e4]), [0.5, 0.5])
    np.testing.assert_array_equal(softmax([-1e4, -1e4]), [0.5, 0.5])


def test_softmax_is_stable_at_the_extremes_of_float64():
    # finite - max overflows to -inf here: that entry's weight is 0, with no warning (warnings are errors).
    np.testing.assert_array_equal(softmax(np.array([1e308, -1e308])), [1.0, 0.0])


def test_softmax_gives_minus_inf_exactly_zero_weight():
    w = softmax([0.0, -np.inf, math.log(3), -np.inf])
    assert w[1] == 0.0 and w[3] == 0.0
    np.testing.assert_allclose(w, [0.25, 0.0, 0.75, 0.0], rtol=0, atol=1e-15)


def test_softmax_of_a_single_finite_entry_among_minus_inf_is_one_hot():
    np.testing.assert_array_equal(softmax([-np.inf, 2.0, -np.inf]), [0.0, 1.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_preserves_float_dtype(dtype):
    assert softmax(np.array([[1.0, 2.0]], dtype=dtype)).dtype == dtype


def test_softmax_turns_integers_into_float64():
    w = softmax([1, 1])
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, [0.5, 0.5])


# ---------------------------------------------------------------- softmax: properties


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6), elements=finite_floats))
def test_softmax_rows_are_a_probability_distribution(x):
    w = softmax(x)
    assert w.shape == x.shape
    assert np.all(w >= 0) and np.all(w <= 1)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=finite_floats),
    st.floats(-1e4, 1e4),
)
def test_softmax_is_invariant_to_adding_a_constant(x, c):
    np.testing.assert_allclose(softmax(x + c), softmax(x), rtol=0, atol=1e-9)


@given(hnp.arrays(np.float64, st.integers(2, 8), elements=finite_floats), st.data())
def test_softmax_keeps_order_and_commutes_with_permutation(x, data):
    perm = data.draw(st.permutations(range(x.size)))
    w = softmax(x)
    np.testing.assert_allclose(softmax(x[list(perm)]), w[list(perm)], rtol=0, atol=1e-15)
    i, j = np.argmax(x), np.argmin(x)
    assert w[i] >= w[j]


# ---------------------------------------------------------------- softmax: bad input


def test_softmax_all_minus_inf_slice_raises():
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf]])
    with pytest.raises(ValueError, match=ordered("slice of x", "entirely -inf", "index (1,)", "shape (2, 2)")):
        softmax(x)
    # Along the other axis every slice has a finite entry, so it is fine.
    np.testing.assert_array_equal(softmax(x, axis=0), [[1.0, 1.0], [0.0, 0.0]])


def test_softmax_rejects_nan():
    with pytest.raises(ValueError, match=ordered("x contains NaN", "shape (3,)")):
        softmax([0.0, np.nan, 1.0])


def test_softmax_rejects_plus_inf():
    with pytest.raises(ValueError, match=ordered("x contains +inf", "shape (1, 2)")):
        softmax([[np.inf, 0.0]])


def test_softmax_rejects_a_scalar():
    with pytest.raises(ValueError, match=ordered("x must have at least one dimension", "shape ()")):
        softmax(3.0)


def test_softmax_rejects_an_empty_axis():
    with pytest.raises(ValueError, match=ordered("x has an empty axis", "shape (2, 0)")):
        softmax(np.zeros((2, 0)))


def test_softmax_rejects_an_axis_out_of_range():
    with pytest.raises(ValueError, match=ordered("axis=2", "shape (2, 3)")):
        softmax(np.zeros((2, 3)), axis=2)


def test_softmax_rejects_a_non_integer_axis():
    with pytest.raises(TypeError, match="axis must be an integer"):
        softmax(np.zeros((2, 3)), axis=1.0)


@pytest.mark.parametrize("x", ["abc", None, np.array(["a", "b"]), np.array([1 + 2j])])
def test_softmax_rejects_non_real_input(x):
    with pytest.raises(TypeError, match="x must be"):
        softmax(x)


# ---------------------------------------------------------------- hard_lookup


def test_hard_lookup_finds_an_exact_string_key():
    assert hard_lookup("b", ["a", "b", "c"], [10, 20, 30]) == 20


def test_hard_lookup_returns_the_first_match_like_a_dict_built_from_pairs_reversed():
    assert hard_lookup(2, [1, 2, 2], ["x", "first", "second"]) == "first"


def test_hard_lookup_matches_vector_keys_element_by_element():
    keys = np.array([[1.0, 0.0], [0.0, 1.0]])
    values = np.array([[5.0], [7.0]])
    np.testing.assert_array_equal(hard_lookup(np.array([0.0, 1.0]), keys, values), [7.0])
    assert hard_lookup((1, 0), [(1, 0), (0, 1)], ["east", "north"]) == "east"


def test_hard_lookup_missing_key_raises_keyerror_with_the_query():
    with pytest.raises(KeyError, match=ordered("'dog'", "3 keys")):
        hard_lookup("dog", ["cat", "cow", "hen"], [1, 2, 3])


def test_hard_lookup_missing_vector_key_raises_keyerror_with_the_query():
    with pytest.raises(KeyError, match=re.escape("0.5")):
        hard_lookup(np.array([0.5, 0.5]), np.eye(2), np.eye(2))


def test_hard_lookup_near_miss_is_still_a_miss():
    # Exact match is exactly the point: a query that is close but not equal does not match.
    with pytest.raises(KeyError):
        hard_lookup(np.array([1.0, 1e-12]), np.eye(2), [0, 1])


def test_hard_lookup_rejects_keys_and_values_of_different_lengths():
    with pytest.raises(ValueError, match=ordered("keys and values", "3 keys", "2 values")):
        hard_lookup("a", ["a", "b", "c"], [1, 2])


# ---------------------------------------------------------------- soft_lookup: known answers

KEYS = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
VALUES = np.array([[6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])


def test_soft_lookup_worked_example():
    # scores = keys @ query = [ln 3, ln 2, 0] → weights [3, 2, 1] / 6 → output (18 + 6, 12 + 6) / 6.
    query = np.array([math.log(3), math.log(2)])
    output, weights = soft_lookup(query, KEYS, VALUES)
    np.testing.assert_allclose(weights, [0.5, 1 / 3, 1 / 6], rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, [4.0, 3.0], rtol=0, atol=1e-14)


def test_soft_lookup_scale_multiplies_the_scores():
    query = np.array([math.log(3), math.log(2)])
    _, weights = soft_lookup(query / 2, KEYS, VALUES, scale=2.0)
    np.testing.assert_allclose(weights, [0.5, 1 / 3, 1 / 6], rtol=0, atol=1e-15)


def test_soft_lookup_with_scalar_values_is_a_weighted_average():
    output, weights = soft_lookup([0.0, 0.0], KEYS, [3.0, 6.0, 9.0])
    np.testing.assert_allclose(weights, [1 / 3] * 3, rtol=0, atol=1e-15)
    assert output.shape == () and output == pytest.approx(6.0, abs=1e-14)


def test_soft_lookup_approaches_hard_lookup_as_the_scale_grows():
    output, weights = soft_lookup([0.0, 1.0], KEYS, VALUES, scale=1e4)
    np.testing.assert_array_equal(weights, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(output, hard_lookup([0.0, 1.0], KEYS, VALUES))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_soft_lookup_preserves_dtype(dtype):
    output, weights = soft_lookup(np.ones(2, dtype), KEYS.astype(dtype), VALUES.astype(dtype))
    assert output.dtype == dtype and weights.dtype == dtype


def test_soft_lookup_promotes_mixed_precision_for_output_and_weights():
    output, weights = soft_lookup(np.ones(2, np.float32), KEYS.astype(np.float32), VALUES)
    assert output.dtype == np.float64 and weights.dtype == np.float64


@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, 3, elements=finite_floats),
            hnp.arrays(np.float64, (n, 3), elements=finite_floats),
            hnp.arrays(np.float64, (n, 2), elements=finite_floats),
        )
    )
)
def test_soft_lookup_output_is_a_convex_combination_of_values(args):
    query, keys, values = args
    output, weights = soft_lookup(query, keys, values, scale=0.1)
    assert np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(output, weights @ values, rtol=1e-12, atol=1e-12)
    assert np.all(output <= values.max(axis=0) + 1e-9) and np.all(output >= values.min(axis=0) - 1e-9)


# ---------------------------------------------------------------- soft_lookup: bad input


def test_soft_lookup_rejects_a_query_of_the_wrong_rank():
    with pytest.raises(ValueError, match=ordered("query must be one vector", "shape (1, 2)")):
        soft_lookup([[1.0, 0.0]], KEYS, VALUES)


def test_soft_lookup_rejects_keys_of_the_wrong_rank():
    with pytest.raises(ValueError, match=ordered("keys must be a matrix", "shape (2,)")):
        soft_lookup([1.0, 0.0], [1.0, 0.0], VALUES)


def test_soft_lookup_rejects_values_of_the_wrong_rank():
    with pytest.raises(ValueError, match=ordered("values must have shape", "shape (3, 2, 1)")):
        soft_lookup([1.0, 0.0], KEYS, VALUES[..., None])


def test_soft_lookup_rejects_mismatched_d():
    with pytest.raises(ValueError, match=ordered("query has d=3", "keys have d=2", "(3,)", "(3, 2)")):
        soft_lookup([1.0, 0.0, 0.0], KEYS, VALUES)


def test_soft_lookup_rejects_mismatched_n():
    with pytest.raises(ValueError, match=ordered("values must have one row per key", "keys (3, 2)", "values (2, 2)")):
        soft_lookup([1.0, 0.0], KEYS, VALUES[:2])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["query", "keys", "values"])
def test_soft_lookup_rejects_non_finite_input(name, bad):
    args = {"query": np.array([1.0, 0.0]), "keys": KEYS.copy(), "values": VALUES.copy()}
    args[name].flat[1] = bad
    with pytest.raises(ValueError, match=ordered(f"{name} contains non-finite values", f"shape {args[name].shape}")):
        soft_lookup(**args)


def test_soft_lookup_rejects_an_empty_set_of_keys():
    with pytest.raises(ValueError, match=ordered("keys has an empty n", "shape (0, 2)")):
        soft_lookup([1.0, 0.0], np.zeros((0, 2)), np.zeros((0, 2)))


def test_soft_lookup_rejects_empty_vectors():
    with pytest.raises(ValueError, match=ordered("keys has an empty d", "shape (3, 0)")):
        soft_lookup(np.zeros(0), np.zeros((3, 0)), VALUES)
    with pytest.raises(ValueError, match=ordered("values has an empty d_v", "shape (3, 0)")):
        soft_lookup([1.0, 0.0], KEYS, np.zeros((3, 0)))


def test_soft_lookup_rejects_a_non_numeric_query():
    with pytest.raises(TypeError, match="query must be a numeric array"):
        soft_lookup("cat", KEYS, VALUES)


@pytest.mark.parametrize("scale", [np.inf, np.nan])
def test_soft_lookup_rejects_a_non_finite_scale(scale):
    with pytest.raises(ValueError, match="scale must be finite"):
        soft_lookup([1.0, 0.0], KEYS, VALUES, scale=scale)


def test_soft_lookup_rejects_a_non_numeric_scale():
    with pytest.raises(TypeError, match=ordered("scale must be a real number", "str")):
        soft_lookup([1.0, 0.0], KEYS, VALUES, scale="2")


def test_soft_lookup_names_the_scale_when_the_scores_overflow():
    with pytest.raises(ValueError, match=ordered("scores", "overflow float64 with scale = 1e+308", "use a smaller scale")):
        soft_lookup([1.0, 2.0], KEYS, VALUES, scale=1e308)
    # A score that overflows towards -inf is a weight of exactly 0, as softmax gives it.
    output, weights = soft_lookup([1.0, 0.0], [[0.5, 0.0], [-2.0, 0.0]], [1.0, 2.0], scale=1e308)
    np.testing.assert_array_equal(weights, [1.0, 0.0])
