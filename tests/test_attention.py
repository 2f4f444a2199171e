"""scaled_dot_product_attention: known answers, properties against a plain-numpy reference, every bad input."""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessons_lib import causal_mask, scaled_dot_product_attention


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


@given(st.data())
def test_causal_outputs_before_t_ignore_tokens_from_t_on(data):
    n = data.draw(st.integers(2, 8))
    d = data.draw(st.integers(1, 4))
    q, k, v = (data.draw(hnp.arrays(np.float64, (2, n, d), elements=FLOATS)) for _ in range(3))
    t = data.draw(st.integers(1, n - 1))
    new = [a.copy() for a in (q, k, v)]
    for a in new:
        a[:, t:] = data.draw(hnp.arrays(np.float64, a[:, t:].shape, elements=FLOATS))
    output, weights = scaled_dot_product_attention(q, k, v, causal=True)
    new_output, new_weights = scaled_dot_product_attention(*new, causal=True)
    assert np.array_equal(new_output[:, :t], output[:, :t])
    assert np.array_equal(new_weights[:, :t], weights[:, :t])
    assert np.all(weights[:, :t, t:] == 0)


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


def test_inputs_are_not_modified():
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    mask = np.ones((3, 3), bool)
    copies = [a.copy() for a in (q, k, v, mask)]
    scaled_dot_product_attention(q, k, v, mask=mask, causal=True)
    for a, c in zip((q, k, v, mask), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- bad input: one test per case

Q, K, V = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 5))


@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_wrong_rank(name):
    args = {"q": Q, "k": K, "v": V}
    args[name] = args[name][0]
    with pytest.raises(ValueError, match=ordered(f"{name} must have shape (..., n, d)", f"shape {args[name].shape}")):
        scaled_dot_product_attention(**args)


def test_rejects_mismatched_dk():
    with pytest.raises(ValueError, match=ordered("q and k must share d_k", "(2, 3)", "(4, 2)")):
        scaled_dot_product_attention(Q, np.zeros((4, 2)), V)


def test_rejects_mismatched_nk():
    with pytest.raises(ValueError, match=ordered("k and v must have the same number of positions n_k", "(4, 3)", "(3, 5)")):
        scaled_dot_product_attention(Q, K, np.zeros((3, 5)))


def test_rejects_batch_axes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=ordered("leading", "q (2, 2, 3)", "k (3, 4, 3)", "v (4, 5)")):
        scaled_dot_product_attention(np.zeros((2, 2, 3)), np.zeros((3, 4, 3)), V)


@pytest.mark.parametrize(
    "shape, what",
    [((2, 3), "last axis must be 1 or n_k=4"), ((3, 4), "second-to-last axis must be 1 or n_q=2"), ((5,), "last axis")],
)
def test_rejects_a_mask_of_the_wrong_shape(shape, what):
    with pytest.raises(ValueError, match=ordered(f"mask of shape {shape}", "n_q=2, n_k=4", what)):
        scaled_dot_product_attention(Q, K, V, mask=np.ones(shape, bool))


def test_rejects_a_mask_whose_batch_axes_do_not_broadcast():
    q = np.zeros((3, 2, 3))
    with pytest.raises(ValueError, match=ordered("mask of shape (2, 2, 4)", "cannot broadcast", "(3, 2, 4)")):
        scaled_dot_product_attention(q, K, V, mask=np.ones((2, 2, 4), bool))


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint8])
def test_rejects_a_mask_of_the_wrong_dtype(dtype):
    with pytest.raises(TypeError, match=ordered("mask must be a boolean array", str(np.dtype(dtype)), "shape (2, 4)")):
        scaled_dot_product_attention(Q, K, V, mask=np.ones((2, 4), dtype))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_non_finite_values(name, bad):
    args = {"q": Q.copy(), "k": K.copy(), "v": V.copy()}
    args[name][1, 2] = bad
    with pytest.raises(ValueError, match=ordered(f"{name} contains non-finite", "index (1, 2)", f"shape {args[name].shape}")):
        scaled_dot_product_attention(**args)


@pytest.mark.parametrize(
    "name, shape, axis",
    [("q", (0, 3), "n_q"), ("k", (0, 3), "n_k"), ("v", (0, 5), "n_k"), ("q", (2, 0), "d_k"), ("v", (4, 0), "d_v")],
)
def test_rejects_an_empty_sequence_or_feature_axis(name, shape, axis):
    args = {"q": Q, "k": K, "v": V}
    args[name] = np.zeros(shape)
    if name == "q" and shape[1] == 0:
        args["k"] = np.zeros((4, 0))
    with pytest.raises(ValueError, match=ordered(f"{name} has an empty {axis}", f"shape {shape}")):
        scaled_dot_product_attention(**args)


def test_rejects_a_query_row_whose_every_key_is_masked():
    mask = np.ones((2, 4), bool)
    mask[1] = False
    with pytest.raises(ValueError, match=ordered("every key is masked", "mask of shape (2, 4)", "query position 1", "(2, 4)")):
        scaled_dot_product_attention(Q, K, V, mask=mask)


def test_rejects_causal_with_more_queries_than_keys():
    # The first n_q - n_k queries precede every key.
    with pytest.raises(ValueError, match=ordered("every key is masked", "causal=True", "n_q=5, n_k=4", "query position 0")):
        scaled_dot_product_attention(np.zeros((5, 3)), K, V, causal=True)


def test_rejects_a_mask_that_allows_only_future_keys_when_causal():
    mask = np.zeros((2, 4), bool)
    mask[0, 3] = True
    mask[1, 0] = True
    with pytest.raises(ValueError, match=ordered("every key is masked", "mask of shape (2, 4)", "causal=True", "query position 0")):
        scaled_dot_product_attention(Q, K, V, mask=mask, causal=True)


def test_rejects_scores_that_overflow_instead_of_returning_nan():
    big = np.full((2, 3), 1e20, np.float32)
    with pytest.raises(ValueError, match=ordered("scores", "overflow float32", "q has shape (2, 3)", "k has shape (2, 3)")):
        scaled_dot_product_attention(big, big, np.ones((2, 1), np.float32))
    # float64 holds those scores: same inputs, no error, a proper answer.
    output, weights = scaled_dot_product_attention(big.astype(np.float64), big.astype(np.float64), np.ones((2, 1)))
    np.testing.assert_array_equal(output, [[1.0], [1.0]])


def test_overflow_in_a_masked_position_is_not_an_error():
    q = k = np.array([[1.0, 0.0], [1e200, 0.0]])
    mask = np.array([[True, False], [True, False]])  # the overflowing score q1·k1 is hidden
    output, weights = scaled_dot_product_attention(q, k, np.array([[1.0], [2.0]]), mask=mask)
    np.testing.assert_array_equal(weights, [[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(output, [[1.0], [1.0]])


@pytest.mark.parametrize("scale, exc", [(np.nan, ValueError), (np.inf, ValueError), ("1", TypeError), (True, TypeError)])
def test_rejects_a_bad_scale(scale, exc):
    with pytest.raises(exc, match="scale must be"):
        scaled_dot_product_attention(Q, K, V, scale=scale)


@pytest.mark.parametrize("causal", [1, "yes", None])
def test_rejects_a_non_boolean_causal_flag(causal):
    with pytest.raises(TypeError, match="causal must be True or False"):
        scaled_dot_product_attention(Q, K, V, causal=causal)


@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_non_numeric_input(name):
    args = {"q": Q, "k": K, "v": V}
    args[name] = np.full(args[name].shape, "a")
    with pytest.raises(TypeError, match=ordered(f"{name} must be a numeric array", "<U1")):
        scaled_dot_product_attention(**args)


def test_rejects_ragged_input():
    with pytest.raises(ValueError, match="q could not be read as an array"):
        scaled_dot_product_attention([[1.0, 2.0], [3.0]], K, V)
