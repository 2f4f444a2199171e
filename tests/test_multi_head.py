"""init_multi_head_params and multi_head_attention: known answers, properties, every bad input."""

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lessons_lib import init_multi_head_params, multi_head_attention, scaled_dot_product_attention
from lessons_lib.multi_head import merge_heads, split_heads


def ordered(*parts):
    """A regex matching the given literal parts in this order (for pytest.raises(match=...))."""
    return ".*".join(re.escape(p) for p in parts)


FLOATS = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


def head_by_head(x, params, num_heads, mask=None, causal=False, kv=None):
    """Multi-head attention as an explicit loop: slice each head's columns, attend, concatenate, project."""
    kv = x if kv is None else kv
    d_model = x.shape[-1]
    d_head = d_model // num_heads
    zero = np.zeros(d_model)
    b = {name: params.get(name, zero) for name in ("b_q", "b_k", "b_v", "b_o")}
    heads, weights = [], []
    for h in range(num_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        q = x @ params["W_q"][:, cols] + b["b_q"][cols]
        k = kv @ params["W_k"][:, cols] + b["b_k"][cols]
        v = kv @ params["W_v"][:, cols] + b["b_v"][cols]
        head_mask = mask
        if mask is not None and mask.ndim == x.ndim + 1:  # a per-head mask (..., num_heads, n_q, n_k)
            head_mask = mask[..., h, :, :]
        out, w = scaled_dot_product_attention(q, k, v, mask=head_mask, causal=causal)
        heads.append(out)
        weights.append(w)
    concat = np.concatenate(heads, axis=-1)
    return concat @ params["W_o"] + b["b_o"], np.stack(weights, axis=-3)


def identity_params(d_model):
    return {name: np.eye(d_model) for name in ("W_q", "W_k", "W_v", "W_o")}


# ---------------------------------------------------------------- init_multi_head_params


def test_init_returns_four_square_weight_matrices_and_no_biases():
    params = init_multi_head_params(8, 2)
    assert sorted(params) == ["W_k", "W_o", "W_q", "W_v"]
    for w in params.values():
        assert w.shape == (8, 8) and w.dtype == np.float64


def test_init_with_bias_adds_four_bias_vectors():
    params = init_multi_head_params(6, 3, bias=True)
    assert sorted(params) == ["W_k", "W_o", "W_q", "W_v", "b_k", "b_o", "b_q", "b_v"]
    for name in ("b_q", "b_k", "b_v", "b_o"):
        assert params[name].shape == (6,) and np.any(params[name] != 0)


def test_init_is_deterministic_per_seed_and_seeds_differ():
    a, b, c = init_multi_head_params(4, 2, seed=7), init_multi_head_params(4, 2, seed=7), init_multi_head_params(4, 2, seed=8)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name])
    assert not np.array_equal(a["W_q"], a["W_k"])


def test_init_is_xavier_uniform():
    d_model = 64
    limit = math.sqrt(6 / (2 * d_model))  # Xavier/Glorot uniform bound for a square matrix
    params = init_multi_head_params(d_model, 8, seed=0)
    w = np.stack(list(params.values()))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    # Uniform(-a, a) has variance a² / 3; 16384 draws pin it to about 1 %.
    assert w.var() == pytest.approx(limit**2 / 3, rel=0.05)
    assert abs(w.mean()) < 0.01


def test_init_rejects_num_heads_not_dividing_d_model():
    with pytest.raises(ValueError, match=ordered("num_heads=3", "must divide d_model=8")):
        init_multi_head_params(8, 3)


@pytest.mark.parametrize("name, args, exc", [
    ("d_model", (0, 1), ValueError),
    ("d_model", (4.0, 1), TypeError),
    ("num_heads", (4, 0), ValueError),
    ("num_heads", (4, True), TypeError),
])
def test_init_rejects_bad_sizes(name, args, exc):
    with pytest.raises(exc, match=f"{name} must be"):
        init_multi_head_params(*args)


@pytest.mark.parametrize("seed, exc, message", [(-1, ValueError, "seed must be at least 0, got -1"),
                                                (1.5, TypeError, "seed must be an integer, got float"),
                                                (True, TypeError, "seed must be an integer, got bool")])
def test_init_rejects_a_bad_seed(seed, exc, message):
    with pytest.raises(exc, match=message):
        init_multi_head_params(4, 2, seed=seed)


@pytest.mark.parametrize("num_heads, exc, message", [
    (0, ValueError, "num_heads must be positive, got 0"),
    (3, ValueError, "num_heads=3 must divide d_model=4"),
    (2.0, TypeError, "num_heads must be an integer"),
])
def test_split_heads_rejects_a_bad_num_heads(num_heads, exc, message):
    with pytest.raises(exc, match=message):
        split_heads(np.zeros((3, 4)), num_heads)


def test_split_heads_rejects_a_vector():
    with pytest.raises(ValueError, match=ordered("x must have shape (..., n, d_model)", "shape (4,)")):
        split_heads(np.zeros(4), 2)


def test_split_and_merge_heads_are_inverse():
    x = np.arange(24.0).reshape(2, 3, 4)
    heads = split_heads(x, 2)
    assert heads.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(heads[:, 1], x[..., 2:])
    np.testing.assert_array_equal(merge_heads(heads), x)


def test_init_rejects_a_non_boolean_bias():
    with pytest.raises(TypeError, match="bias must be True or False"):
        init_multi_head_params(4, 2, bias=1)


# ---------------------------------------------------------------- known answers


def test_two_heads_of_width_one_by_hand():
    # Identity weights, d_model = 2, 2 heads: head h attends with the scalar feature x[:, h] (scale 1/√1).
    # Head 0 sees [1, 0]: query 0 scores [1, 0] → weights [e, 1]/(e + 1); query 1 scores [0, 0] → [½, ½].
    # Head 1 sees [0, 1]: the mirror image.
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    output, weights = multi_head_attention(x, identity_params(2), num_heads=2)
    e = math.e
    np.testing.assert_allclose(weights[0], [[e / (e + 1), 1 / (e + 1)], [0.5, 0.5]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(weights[1], [[0.5, 0.5], [1 / (e + 1), e / (e + 1)]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, [[e / (e + 1), 0.5], [0.5, e / (e + 1)]], rtol=0, atol=1e-15)


def test_output_projection_and_biases_by_hand():
    # W_q = W_k = W_v = 0: every score is 0, every value is b_v, so every output row is b_v W_o + b_o.
    d_model = 4
    zeros = np.zeros((d_model, d_model))
    params = {"W_q": zeros, "W_k": zeros, "W_v": zeros, "W_o": np.eye(d_model)[::-1]}
    params.update(b_q=np.ones(4), b_k=np.ones(4), b_v=np.array([1.0, 2.0, 3.0, 4.0]), b_o=np.array([10.0, 0, 0, 0]))
    output, weights = multi_head_attention(np.ones((3, d_model)), params, num_heads=2)
    np.testing.assert_allclose(weights, np.full((2, 3, 3), 1 / 3), rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, np.tile([14.0, 3.0, 2.0, 1.0], (3, 1)), rtol=0, atol=1e-14)


def test_shapes_for_batched_cross_attention_with_fewer_keys():
    params = init_multi_head_params(6, 3)
    rng = np.random.default_rng(0)
    x, kv = rng.normal(size=(2, 5, 6)), rng.normal(size=(2, 3, 6))
    output, weights = multi_head_attention(x, params, 3, kv=kv)
    assert output.shape == (2, 5, 6) and weights.shape == (2, 3, 5, 3)


def test_kv_none_means_self_attention():
    params = init_multi_head_params(4, 2)
    x = np.random.default_rng(1).normal(size=(3, 4))
    a, b = multi_head_attention(x, params, 2), multi_head_attention(x, params, 2, kv=x)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_unbatched_queries_attend_to_batched_keys_with_a_batched_mask():
    params = init_multi_head_params(4, 2, seed=3)
    rng = np.random.default_rng(2)
    x, kv = rng.normal(size=(3, 4)), rng.normal(size=(5, 2, 4))
    mask = np.ones((5, 3, 2), bool)
    mask[:, :, 1] = False
    output, weights = multi_head_attention(x, params, 2, kv=kv, mask=mask)
    assert output.shape == (5, 3, 4) and weights.shape == (5, 2, 3, 2)
    assert np.all(weights[..., 1] == 0)
    expected, expected_w = head_by_head(np.broadcast_to(x, (5, 3, 4)), params, 2, kv=kv, mask=mask)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)


def test_a_per_head_mask_reaches_each_head():
    params = init_multi_head_params(4, 2, seed=4)
    x = np.random.default_rng(3).normal(size=(3, 4))
    mask = np.ones((2, 3, 3), bool)
    mask[0, :, 0] = False  # head 0 may not look at token 0
    mask[1, :, 2] = False  # head 1 may not look at token 2
    output, weights = multi_head_attention(x, params, 2, mask=mask)
    assert np.all(weights[0, :, 0] == 0) and np.all(weights[0, :, 1:] > 0)
    assert np.all(weights[1, :, 2] == 0) and np.all(weights[1, :, :2] > 0)
    expected, expected_w = head_by_head(x, params, 2, mask=mask)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(weights, expected_w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    params = init_multi_head_params(4, 2, bias=True)  # float64 parameters do not promote float32 inputs
    x = np.random.default_rng(4).normal(size=(3, 4)).astype(dtype)
    output, weights = multi_head_attention(x, params, 2, causal=True)
    assert output.dtype == dtype and weights.dtype == dtype
    expected, _ = multi_head_attention(x.astype(np.float64), params, 2, causal=True)
    np.testing.assert_allclose(output, expected, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- properties


@st.composite
def mha_case(draw, cross=False, bias=None):
    num_heads = draw(st.integers(1, 3))
    d_model = num_heads * draw(st.integers(1, 3))
    lead = draw(st.sampled_from([(), (2,)]))
    n_q = draw(st.integers(1, 5))
    n_k = draw(st.integers(1, 5)) if cross else n_q
    x = draw(hnp.arrays(np.float64, lead + (n_q, d_model), elements=FLOATS))
    kv = draw(hnp.arrays(np.float64, lead + (n_k, d_model), elements=FLOATS)) if cross else None
    bias = draw(st.booleans()) if bias is None else bias
    params = init_multi_head_params(d_model, num_heads, seed=draw(st.integers(0, 2**16)), bias=bias)
    return x, kv, params, num_heads


@given(mha_case(cross=True), st.data())
def test_equals_an_explicit_head_by_head_loop(case, data):
    x, kv, params, num_heads = case
    n_q, n_k = x.shape[-2], kv.shape[-2]
    mask = data.draw(hnp.arrays(np.bool_, (n_q, n_k)))
    mask[:, data.draw(st.integers(0, n_k - 1))] = True  # every query keeps a key
    output, weights = multi_head_attention(x, params, num_heads, mask=mask, kv=kv)
    expected, expected_w = head_by_head(x, params, num_heads, mask=mask, kv=kv)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-10, atol=1e-12)
    assert weights.shape == x.shape[:-2] + (num_heads, n_q, n_k)
    assert np.all(weights >= 0) and np.all(weights[..., ~mask] == 0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


@given(mha_case())
def test_causal_equals_an_explicit_head_by_head_loop(case):
    x, _, params, num_heads = case
    output, weights = multi_head_attention(x, params, num_heads, causal=True)
    expected, expected_w = head_by_head(x, params, num_heads, causal=True)
    np.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights, expected_w, rtol=1e-10, atol=1e-12)


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=FLOATS))
def test_one_head_with_identity_weights_is_plain_attention(x):
    output, weights = multi_head_attention(x, identity_params(x.shape[-1]), num_heads=1)
    plain, plain_w = scaled_dot_product_attention(x, x, x)
    np.testing.assert_allclose(output, plain, rtol=0, atol=1e-14)
    np.testing.assert_allclose(weights[0], plain_w, rtol=0, atol=1e-14)


@given(mha_case())
def test_one_head_equals_plain_attention_on_the_projections(case):
    x, _, params, _ = case
    output, weights = multi_head_attention(x, params, num_heads=1)
    q, k, v = (x @ params[f"W_{n}"] + params.get(f"b_{n}", 0) for n in "qkv")
    head, head_w = scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(output, head @ params["W_o"] + params.get("b_o", 0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights[..., 0, :, :], head_w, rtol=1e-10, atol=1e-12)


@given(mha_case(), st.data())
def test_self_attention_is_permutation_equivariant(case, data):
    x, _, params, num_heads = case
    n = x.shape[-2]
    perm = np.array(data.draw(st.permutations(range(n))))
    output, weights = multi_head_attention(x, params, num_heads)
    p_output, p_weights = multi_head_attention(x[..., perm, :], params, num_heads)
    np.testing.assert_allclose(p_output, output[..., perm, :], rtol=0, atol=1e-12)
    np.testing.assert_allclose(p_weights, weights[..., perm, :][..., perm], rtol=0, atol=1e-12)


@given(mha_case(), st.data())
def test_causal_outputs_before_t_ignore_tokens_from_t_on(case, data):
    x, _, params, num_heads = case
    n = x.shape[-2]
    if n < 2:
        x = np.concatenate([x, x], axis=-2)
        n = 2
    t = data.draw(st.integers(1, n - 1))
    changed = x.copy()
    changed[..., t:, :] = data.draw(hnp.arrays(np.float64, changed[..., t:, :].shape, elements=FLOATS))
    output, weights = multi_head_attention(x, params, num_heads, causal=True)
    new_output, new_weights = multi_head_attention(changed, params, num_heads, causal=True)
    assert np.array_equal(new_output[..., :t, :], output[..., :t, :])
    assert np.array_equal(new_weights[..., :t, :], weights[..., :t, :])


# ---------------------------------------------------------------- bad input: one test per case
# The mask and causal contract shared with scaled_dot_product_attention is tested in test_checks.py.

X = np.zeros((3, 4))
P = init_multi_head_params(4, 2)


def test_rejects_x_of_the_wrong_rank():
    with pytest.raises(ValueError, match=ordered("x must have shape (..., n, d_model)", "shape (4,)")):
        multi_head_attention(np.zeros(4), P, 2)


def test_rejects_kv_of_the_wrong_rank():
    with pytest.raises(ValueError, match=ordered("kv must have shape (..., n_k, d_model)", "shape (4,)")):
        multi_head_attention(X, P, 2, kv=np.zeros(4))


def test_rejects_kv_with_a_different_d_model():
    with pytest.raises(ValueError, match=ordered("kv must have the same d_model as x", "(3, 4)", "(5, 6)")):
        multi_head_attention(X, P, 2, kv=np.zeros((5, 6)))


def test_rejects_x_and_kv_batch_axes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=ordered("leading", "x (2, 3, 4)", "kv (3, 5, 4)")):
        multi_head_attention(np.zeros((2, 3, 4)), P, 2, kv=np.zeros((3, 5, 4)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("name", ["x", "kv"])
def test_rejects_non_finite_inputs(name, bad):
    args = {"x": X.copy(), "kv": np.zeros((5, 4))}
    args[name][2, 1] = bad
    with pytest.raises(ValueError, match=ordered(f"{name} contains non-finite", "index (2, 1)", f"shape {args[name].shape}")):
        multi_head_attention(args["x"], P, 2, kv=args["kv"])


@pytest.mark.parametrize("name", ["W_q", "W_o", "b_v"])
def test_rejects_non_finite_parameters(name):
    params = init_multi_head_params(4, 2, bias=True)
    params[name].flat[0] = np.nan
    with pytest.raises(ValueError, match=ordered(f"params['{name}'] contains non-finite", f"shape {params[name].shape}")):
        multi_head_attention(X, params, 2)


@pytest.mark.parametrize("weight, projection", [("W_q", "q = x @ W_q + b_q"), ("W_v", "v = kv @ W_v + b_v")])
def test_rejects_a_projection_that_overflows(weight, projection):
    x = np.full((3, 4), 1e30, np.float32)
    params = dict(P, **{weight: np.full((4, 4), 1e30)})
    with pytest.raises(ValueError, match=ordered(f"the projection {projection} overflows float32", "or use float64")):
        multi_head_attention(x, params, 2)


@pytest.mark.parametrize("name, shape", [("x", (0, 4)), ("kv", (0, 4)), ("x", (3, 0))])
def test_rejects_an_empty_sequence(name, shape):
    args = {"x": X, "kv": None}
    args[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=ordered(f"{name} is empty", f"shape {shape}")):
        multi_head_attention(args["x"], P, 2, kv=args["kv"])


def test_rejects_num_heads_not_dividing_d_model():
    with pytest.raises(ValueError, match=ordered("num_heads=3", "must divide d_model=4", "shape (3, 4)")):
        multi_head_attention(X, P, 3)


@pytest.mark.parametrize("num_heads, exc", [(0, ValueError), (2.0, TypeError), (None, TypeError)])
def test_rejects_a_bad_num_heads(num_heads, exc):
    with pytest.raises(exc, match="num_heads must be"):
        multi_head_attention(X, P, num_heads)


def test_rejects_a_per_head_mask_that_hides_a_row_in_one_head():
    mask = np.ones((2, 3, 3), bool)
    mask[1, 0] = False
    with pytest.raises(ValueError, match=ordered("every key is masked", "mask of shape (2, 3, 3)", "query position 0", "index (1, 0)")):
        multi_head_attention(X, P, 2, mask=mask)


def test_rejects_params_that_are_not_a_dict():
    with pytest.raises(TypeError, match="params must be a dict"):
        multi_head_attention(X, [P["W_q"]] * 4, 2)


def test_rejects_params_missing_a_weight():
    params = dict(P)
    del params["W_v"]
    with pytest.raises(ValueError, match=ordered("params is missing ['W_v']")):
        multi_head_attention(X, params, 2)


def test_rejects_a_weight_of_the_wrong_shape():
    params = dict(P, W_k=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=ordered("params['W_k'] must have shape (d_model, d_model) = (4, 4)", "(4, 2)")):
        multi_head_attention(X, params, 2)


def test_rejects_a_bias_of_the_wrong_shape():
    params = dict(P, b_o=np.zeros((1, 4)))
    with pytest.raises(ValueError, match=ordered("params['b_o'] must have shape (d_model,) = (4,)", "(1, 4)")):
        multi_head_attention(X, params, 2)

