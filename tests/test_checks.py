"""The shared input checks (_checks.py), through every public function that shares a contract.

scaled_dot_product_attention and chunked_attention take the same q, k, v, mask, scale and causal, so every
bad input is tried on both (chunked_attention with a block size that splits the keys, and one that does
not). multi_head_attention shares the mask and causal contract: those cases run on all three.
"""

import re

import numpy as np
import pytest

from lessons_lib import chunked_attention, init_multi_head_params, multi_head_attention, scaled_dot_product_attention
from lessons_lib._checks import as_float_array, check_integer, check_real, check_tokens


def ordered(*parts):
    """A regex matching the given literal parts in this order (for pytest.raises(match=...))."""
    return ".*".join(re.escape(p) for p in parts)


def sdpa_output(q, k, v, **kwargs):
    return scaled_dot_product_attention(q, k, v, **kwargs)[0]


def chunked_in_blocks_of(block_size):
    def attend(q, k, v, **kwargs):
        return chunked_attention(q, k, v, block_size=block_size, **kwargs)

    return attend


QKV_FUNCTIONS = {
    "scaled_dot_product_attention": sdpa_output,
    "chunked_attention(block_size=1)": chunked_in_blocks_of(1),
    "chunked_attention(block_size=512)": chunked_in_blocks_of(512),
}
qkv_functions = pytest.mark.parametrize("attend", list(QKV_FUNCTIONS.values()), ids=list(QKV_FUNCTIONS))

Q, K, V = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros((4, 5))


# ---------------------------------------------------------------- q, k, v: scaled_dot_product_attention and chunked_attention


@qkv_functions
@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_wrong_rank(attend, name):
    args = {"q": Q, "k": K, "v": V}
    args[name] = args[name][0]
    with pytest.raises(ValueError, match=ordered(f"{name} must have shape (..., n, d)", f"shape {args[name].shape}")):
        attend(**args)


@qkv_functions
def test_rejects_mismatched_dk(attend):
    with pytest.raises(ValueError, match=ordered("q and k must share d_k", "(2, 3)", "(4, 2)")):
        attend(Q, np.zeros((4, 2)), V)


@qkv_functions
def test_rejects_mismatched_nk(attend):
    with pytest.raises(ValueError, match=ordered("k and v must have the same number of positions n_k", "(4, 3)", "(3, 5)")):
        attend(Q, K, np.zeros((3, 5)))


@qkv_functions
def test_rejects_batch_axes_that_do_not_broadcast(attend):
    with pytest.raises(ValueError, match=ordered("leading", "q (2, 2, 3)", "k (3, 4, 3)", "v (4, 5)")):
        attend(np.zeros((2, 2, 3)), np.zeros((3, 4, 3)), V)


@qkv_functions
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_non_finite_values(attend, name, bad):
    args = {"q": Q.copy(), "k": K.copy(), "v": V.copy()}
    args[name][1, 2] = bad
    with pytest.raises(ValueError, match=ordered(f"{name} contains non-finite", "index (1, 2)", f"shape {args[name].shape}")):
        attend(**args)


@qkv_functions
@pytest.mark.parametrize(
    "name, shape, axis",
    [("q", (0, 3), "n_q"), ("k", (0, 3), "n_k"), ("v", (0, 5), "n_k"), ("q", (2, 0), "d_k"), ("v", (4, 0), "d_v")],
)
def test_rejects_an_empty_sequence_or_feature_axis(attend, name, shape, axis):
    args = {"q": Q, "k": K, "v": V}
    args[name] = np.zeros(shape)
    if name == "q" and shape[1] == 0:
        args["k"] = np.zeros((4, 0))
    with pytest.raises(ValueError, match=ordered(f"{name} has an empty {axis}", f"shape {shape}")):
        attend(**args)


@qkv_functions
@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_non_numeric_input(attend, name):
    args = {"q": Q, "k": K, "v": V}
    args[name] = np.full(args[name].shape, "a")
    with pytest.raises(TypeError, match=ordered(f"{name} must be a numeric array", "<U1")):
        attend(**args)


@qkv_functions
def test_rejects_ragged_input(attend):
    with pytest.raises(ValueError, match="q could not be read as an array"):
        attend([[1.0, 2.0], [3.0]], K, V)


@qkv_functions
@pytest.mark.parametrize("name", ["q", "k", "v"])
def test_rejects_a_masked_array_instead_of_using_its_hidden_entries(attend, name):
    args = {"q": Q, "k": K, "v": V}
    args[name] = np.ma.masked_array(args[name], mask=np.zeros(args[name].shape, bool))
    with pytest.raises(TypeError, match=ordered(f"{name} is a numpy masked array")):
        attend(**args)


@qkv_functions
@pytest.mark.parametrize("scale, exc", [(np.nan, ValueError), (np.inf, ValueError), ("1", TypeError), (True, TypeError)])
def test_rejects_a_bad_scale(attend, scale, exc):
    with pytest.raises(exc, match="scale must be"):
        attend(Q, K, V, scale=scale)


@qkv_functions
def test_rejects_scores_that_overflow_instead_of_returning_nan(attend):
    big = np.full((2, 3), 1e20, np.float32)
    with pytest.raises(ValueError, match=ordered("scores", "overflow float32", "q has shape (2, 3)", "k has shape (2, 3)")):
        attend(big, big, np.ones((2, 1), np.float32))
    # float64 holds those scores: same inputs, no error, a proper answer.
    np.testing.assert_array_equal(attend(big.astype(np.float64), big.astype(np.float64), np.ones((2, 1))), [[1.0], [1.0]])


@qkv_functions
def test_overflow_in_a_masked_position_is_not_an_error(attend):
    q = k = np.array([[1.0, 0.0], [1e200, 0.0]])
    mask = np.array([[True, False], [True, False]])  # the overflowing score q1·k1 is hidden
    np.testing.assert_array_equal(attend(q, k, np.array([[1.0], [2.0]]), mask=mask), [[1.0], [1.0]])


@qkv_functions
def test_inputs_are_not_modified(attend):
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    mask = np.ones((6, 6), bool)
    copies = [a.copy() for a in (q, k, v, mask)]
    attend(q, k, v, mask=mask, causal=True)
    for a, c in zip((q, k, v, mask), copies):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- mask and causal: all three functions

D_MODEL, HEADS = 4, 2
PARAMS = init_multi_head_params(D_MODEL, HEADS)


def sdpa_sized(n_q, n_k, batch=(), **kwargs):
    return scaled_dot_product_attention(np.zeros(batch + (n_q, 3)), np.zeros((n_k, 3)), np.zeros((n_k, 5)), **kwargs)


def chunked_sized(n_q, n_k, batch=(), **kwargs):
    return chunked_attention(np.zeros(batch + (n_q, 3)), np.zeros((n_k, 3)), np.zeros((n_k, 5)), block_size=2, **kwargs)


def mha_sized(n_q, n_k, batch=(), **kwargs):
    x, kv = np.zeros(batch + (n_q, D_MODEL)), np.zeros((n_k, D_MODEL))
    return multi_head_attention(x, PARAMS, HEADS, kv=kv, **kwargs)


MASK_FUNCTIONS = {
    "scaled_dot_product_attention": sdpa_sized,
    "chunked_attention": chunked_sized,
    "multi_head_attention": mha_sized,
}
mask_functions = pytest.mark.parametrize("attend", list(MASK_FUNCTIONS.values()), ids=list(MASK_FUNCTIONS))


@mask_functions
@pytest.mark.parametrize(
    "shape, what",
    [((2, 3), "last axis must be 1 or n_k=4"), ((3, 4), "second-to-last axis must be 1 or n_q=2"), ((5,), "last axis")],
)
def test_rejects_a_mask_of_the_wrong_shape(attend, shape, what):
    with pytest.raises(ValueError, match=ordered(f"mask of shape {shape}", "n_q=2, n_k=4", what)):
        attend(2, 4, mask=np.ones(shape, bool))


@mask_functions
def test_rejects_a_mask_whose_batch_axes_do_not_broadcast(attend):
    with pytest.raises(ValueError, match=ordered("mask of shape (2, 2, 4)", "cannot broadcast", "(3, ")):
        attend(2, 4, batch=(3,), mask=np.ones((2, 2, 4), bool))


@mask_functions
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint8])
def test_rejects_a_mask_of_the_wrong_dtype(attend, dtype):
    with pytest.raises(TypeError, match=ordered("mask must be a boolean array", str(np.dtype(dtype)), "shape (2, 4)")):
        attend(2, 4, mask=np.ones((2, 4), dtype))


@mask_functions
def test_rejects_a_masked_array_as_the_mask(attend):
    with pytest.raises(TypeError, match="mask is a numpy masked array"):
        attend(2, 4, mask=np.ma.masked_array(np.ones((2, 4), bool)))


@mask_functions
def test_rejects_a_query_row_whose_every_key_is_masked(attend):
    mask = np.ones((2, 4), bool)
    mask[1] = False
    with pytest.raises(ValueError, match=ordered("every key is masked", "mask of shape (2, 4)", "query position 1")):
        attend(2, 4, mask=mask)


@mask_functions
def test_rejects_causal_with_more_queries_than_keys(attend):
    # The first n_q - n_k queries precede every key.
    with pytest.raises(ValueError, match=ordered("every key is masked", "causal=True", "n_q=5, n_k=4", "query position 0")):
        attend(5, 4, causal=True)


@mask_functions
def test_rejects_a_mask_that_allows_only_future_keys_when_causal(attend):
    mask = np.zeros((2, 4), bool)
    mask[0, 3] = True
    mask[1, 0] = True
    with pytest.raises(ValueError, match=ordered("every key is masked", "mask of shape (2, 4)", "causal=True", "query position 0")):
        attend(2, 4, mask=mask, causal=True)


@mask_functions
@pytest.mark.parametrize("causal", [1, "yes", None])
def test_rejects_a_non_boolean_causal_flag(attend, causal):
    with pytest.raises(TypeError, match="causal must be True or False"):
        attend(2, 4, causal=causal)


# ---------------------------------------------------------------- the helpers themselves


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3)])
def test_check_integer_accepts_python_and_numpy_integers(value):
    assert check_integer("n", value) == 3 and type(check_integer("n", value)) is int


@pytest.mark.parametrize("value", [True, np.bool_(False), 3.0, "3", None])
def test_check_integer_refuses_bools_and_non_integers(value):
    with pytest.raises(TypeError, match="n must be an integer"):
        check_integer("n", value)


def test_check_integer_minimum():
    assert check_integer("seed", 0, minimum=0) == 0
    with pytest.raises(ValueError, match="seed must be at least 0, got -1"):
        check_integer("seed", -1, minimum=0)
    with pytest.raises(ValueError, match="n must be positive, got 0"):
        check_integer("n", 0, minimum=1)


@pytest.mark.parametrize("value, exc, message", [
    (True, TypeError, "gap must be a real number, got bool"),
    ("1", TypeError, "gap must be a real number, got str"),
    (float("nan"), ValueError, "gap must be finite"),
    (0.0, ValueError, "gap must be positive, got 0.0"),
])
def test_check_real_refuses(value, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        check_real("gap", value, positive=True)


@pytest.mark.parametrize("tokens, exc, message", [
    ("the cat", TypeError, "not one string; try text.split()"),
    (3, TypeError, "tokens must be a sequence of strings, got int"),
    ([], ValueError, "tokens is empty"),
    (["the", 3], TypeError, "every token must be a str, got int"),
])
def test_check_tokens_refuses(tokens, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        check_tokens(tokens)


def test_as_float_array_refuses_a_masked_array_even_with_nothing_hidden():
    with pytest.raises(TypeError, match=ordered("weights is a numpy masked array", "weights.filled(value)")):
        as_float_array("weights", np.ma.masked_array([1.0, 2.0]))
