"""Chapter 4's experiment as a property of lessons_lib: under a causal mask, the future cannot reach the past.

For every causal attention in the library, changing the token at position t (the input x, or the rows
≥ t of q, k and v) must leave every output at positions < t *bit-for-bit* equal (``np.array_equal``, not
``allclose``: the masked entries contribute exact zeros) and must change the output at position t.
A control runs the same change without the mask and sees earlier outputs move, so the property is
not true by accident.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_lib import chunked_attention, init_multi_head_params, multi_head_attention
from lessons_lib import scaled_dot_product_attention

PROPERTY = settings(deadline=None, max_examples=30)


def sdpa_output(q, k, v, **kw):
    return scaled_dot_product_attention(q, k, v, **kw)[0]


ATTENTIONS = {
    "scaled_dot_product_attention": sdpa_output,
    "chunked_attention": chunked_attention,
}


@st.composite
def sequences(draw, max_n=9):
    """Sizes, a dtype, a seed, a position t and a leading batch shape for one experiment."""
    n = draw(st.integers(1, max_n))
    return {
        "n": n,
        "t": draw(st.integers(0, n - 1)),
        "d_k": draw(st.integers(1, 6)),
        "d_v": draw(st.integers(1, 5)),
        "batch": draw(st.sampled_from([(), (2,), (2, 3)])),
        "dtype": draw(st.sampled_from([np.float64, np.float32])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def changed_rows(rng, arr, t, only_row_t):
    """A copy of ``arr`` whose row t (or rows t, t+1, …) along the sequence axis holds fresh random values."""
    new = arr.copy()
    stop = t + 1 if only_row_t else arr.shape[-2]
    new[..., t:stop, :] = rng.normal(size=new[..., t:stop, :].shape)
    return new


def assert_past_fixed_and_present_moved(before, after, t, present_must_move=True):
    assert np.array_equal(before[..., :t, :], after[..., :t, :]), (
        f"outputs before position {t} changed: max |Δ| = {np.abs(before[..., :t, :] - after[..., :t, :]).max()}"
    )
    if present_must_move:
        b_t = before[..., t, :].reshape(-1, before.shape[-1])
        a_t = after[..., t, :].reshape(-1, after.shape[-1])
        for i, (b_row, a_row) in enumerate(zip(b_t, a_t)):
            assert not np.array_equal(b_row, a_row), f"the output at position {t} (batch item {i}) did not change"


# ------------------------------------------------------- q, k, v rows from t on


@PROPERTY
@given(case=sequences(), which=st.sets(st.sampled_from("qkv"), min_size=1), only_row_t=st.booleans(),
       name=st.sampled_from(sorted(ATTENTIONS)), block_size=st.integers(1, 10))
def test_changing_qkv_rows_from_t_on_leaves_earlier_outputs_bit_for_bit_equal(case, which, only_row_t, name,
                                                                              block_size):
    rng = np.random.default_rng(case["seed"])
    n, t, batch, dtype = case["n"], case["t"], case["batch"], case["dtype"]
    qkv = {
        "q": rng.normal(size=batch + (n, case["d_k"])).astype(dtype),
        "k": rng.normal(size=batch + (n, case["d_k"])).astype(dtype),
        "v": rng.normal(size=batch + (n, case["d_v"])).astype(dtype),
    }
    new = {key: changed_rows(rng, arr, t, only_row_t) if key in which else arr for key, arr in qkv.items()}
    kw = {"causal": True}
    if name == "chunked_attention":
        kw["block_size"] = block_size  # small blocks: the online softmax really runs over several steps
    attention = ATTENTIONS[name]
    before = attention(qkv["q"], qkv["k"], qkv["v"], **kw)
    after = attention(new["q"], new["k"], new["v"], **kw)
    assert before.dtype == after.dtype == dtype
    # At t = 0 the first query sees only key 0 (weight exactly 1), so only a new value row can move it.
    present_must_move = "v" in which or t > 0
    assert_past_fixed_and_present_moved(before, after, t, present_must_move)


@PROPERTY
@given(case=sequences())
def test_the_weights_of_earlier_queries_are_bit_for_bit_equal_and_zero_on_the_future(case):
    rng = np.random.default_rng(case["seed"])
    n, t, batch, dtype = case["n"], case["t"], case["batch"], case["dtype"]
    q, k, v = (rng.normal(size=batch + (n, d)).astype(dtype) for d in (case["d_k"], case["d_k"], case["d_v"]))
    _, weights = scaled_dot_product_attention(q, k, v, causal=True)
    _, new_weights = scaled_dot_product_attention(changed_rows(rng, q, t, False), changed_rows(rng, k, t, False),
                                                  v, causal=True)
    assert np.array_equal(weights[..., :t, :], new_weights[..., :t, :])
    future = np.triu(np.ones((n, n), dtype=bool), k=1)
    assert np.all(weights[..., future] == 0)


# ------------------------------------------------------- tokens x through projections


@PROPERTY
@given(case=sequences(), name=st.sampled_from(sorted(ATTENTIONS)), only_row_t=st.booleans(),
       block_size=st.integers(1, 10))
def test_changing_token_t_of_x_leaves_earlier_outputs_bit_for_bit_equal(case, name, only_row_t, block_size):
    rng = np.random.default_rng(case["seed"])
    n, t, batch, dtype = case["n"], case["t"], case["batch"], case["dtype"]
    d_model = 4
    x = rng.normal(size=batch + (n, d_model)).astype(dtype)
    W_q, W_k = (rng.normal(size=(d_model, case["d_k"])).astype(dtype) for _ in range(2))
    W_v = rng.normal(size=(d_model, case["d_v"])).astype(dtype)
    kw = {"causal": True}
    if name == "chunked_attention":
        kw["block_size"] = block_size
    attention = ATTENTIONS[name]

    def run(tokens):
        return attention(tokens @ W_q, tokens @ W_k, tokens @ W_v, **kw)

    assert_past_fixed_and_present_moved(run(x), run(changed_rows(rng, x, t, only_row_t)), t)


@PROPERTY
@given(case=sequences(), num_heads=st.sampled_from([1, 2, 3, 6]), only_row_t=st.booleans(), bias=st.booleans())
def test_multi_head_attention_changing_token_t_leaves_earlier_outputs_bit_for_bit_equal(case, num_heads,
                                                                                      only_row_t, bias):
    rng = np.random.default_rng(case["seed"])
    n, t, batch, dtype = case["n"], case["t"], case["batch"], case["dtype"]
    d_model = 6
    params = {name: w.astype(dtype) for name, w in
              init_multi_head_params(d_model, num_heads, seed=case["seed"] % 1000, bias=bias).items()}
    x = rng.normal(size=batch + (n, d_model)).astype(dtype)
    before, weights = multi_head_attention(x, params, num_heads, causal=True)
    after, new_weights = multi_head_attention(changed_rows(rng, x, t, only_row_t), params, num_heads, causal=True)
    assert before.dtype == dtype
    assert_past_fixed_and_present_moved(before, after, t)
    assert np.array_equal(weights[..., :t, :], new_weights[..., :t, :])


@PROPERTY
@given(case=sequences(), num_heads=st.sampled_from([1, 2, 3]))
def test_causal_cross_attention_changing_keys_from_t_on_leaves_earlier_outputs_equal(case, num_heads):
    # kv is another sequence of the same length: query i may read kv positions ≤ i.
    rng = np.random.default_rng(case["seed"])
    n, t, batch, dtype = case["n"], case["t"], case["batch"], case["dtype"]
    d_model = 6
    params = init_multi_head_params(d_model, num_heads, seed=1)
    x = rng.normal(size=batch + (n, d_model)).astype(dtype)
    kv = rng.normal(size=batch + (n, d_model)).astype(dtype)
    before, _ = multi_head_attention(x, params, num_heads, causal=True, kv=kv)
    after, _ = multi_head_attention(x, params, num_heads, causal=True, kv=changed_rows(rng, kv, t, False))
    assert_past_fixed_and_present_moved(before, after, t)


# ------------------------------------------------------- queries for the last positions (a KV cache)


@PROPERTY
@given(case=sequences(), n_q=st.integers(1, 9), name=st.sampled_from(sorted(ATTENTIONS)),
       block_size=st.integers(1, 10))
def test_with_fewer_queries_than_keys_the_queries_are_the_last_positions(case, n_q, name, block_size):
    # n_k keys at positions 0 … n_k-1; query i sits at position i + (n_k - n_q). Keys from position p on
    # must not reach queries that sit before p.
    rng = np.random.default_rng(case["seed"])
    n_k, batch, dtype = case["n"] + n_q, case["batch"], case["dtype"]
    offset = n_k - n_q
    p = offset + case["t"] % n_q  # a position some query sits at
    q = rng.normal(size=batch + (n_q, case["d_k"])).astype(dtype)
    k = rng.normal(size=batch + (n_k, case["d_k"])).astype(dtype)
    v = rng.normal(size=batch + (n_k, case["d_v"])).astype(dtype)
    kw = {"causal": True}
    if name == "chunked_attention":
        kw["block_size"] = block_size
    attention = ATTENTIONS[name]
    before = attention(q, k, v, **kw)
    after = attention(q, changed_rows(rng, k, p, False), changed_rows(rng, v, p, False), **kw)
    assert_past_fixed_and_present_moved(before, after, p - offset)
    # And the queries for the last positions equal the last rows of full causal self-attention.
    q_full = np.concatenate([rng.normal(size=batch + (offset, case["d_k"])).astype(dtype), q], axis=-2)
    full = attention(q_full, k, v, **kw)
    np.testing.assert_allclose(full[..., offset:, :], before, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


# ------------------------------------------------------- control: without the mask the past does move


@PROPERTY
@given(case=sequences(), name=st.sampled_from(sorted(ATTENTIONS)))
def test_without_the_mask_changing_a_later_value_moves_every_earlier_output(case, name):
    rng = np.random.default_rng(case["seed"])
    n, batch, dtype = case["n"] + 1, case["batch"], case["dtype"]  # at least two positions
    t = 1 + case["t"] % (n - 1)
    q, k, v = (rng.normal(size=batch + (n, d)).astype(dtype) for d in (case["d_k"], case["d_k"], case["d_v"]))
    attention = ATTENTIONS[name]
    before = attention(q, k, v)
    after = attention(q, k, changed_rows(rng, v, t, True))
    for i in range(t):
        assert not np.array_equal(before[..., i, :], after[..., i, :]), f"output {i} ignored value {t} without a mask"
