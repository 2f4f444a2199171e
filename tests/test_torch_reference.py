"""Agreement with PyTorch's reference implementations (skipped when torch is not installed).

Conventions translated here, once:
- our parameters apply as ``x @ W``; torch stores ``in_proj_weight`` (3·d_model, d_model) and
  ``out_proj.weight`` applied as ``x @ W.T``, so torch gets ``W.T``;
- our boolean masks mean True = may attend, as does ``F.scaled_dot_product_attention``'s ``attn_mask``;
  ``nn.MultiheadAttention``'s boolean ``attn_mask`` and ``key_padding_mask`` mean True = may NOT attend.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = torch.nn.functional

from lessons_lib import (  # noqa: E402
    causal_mask,
    chunked_attention,
    init_multi_head_params,
    multi_head_attention,
    padding_mask,
    scaled_dot_product_attention,
)

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
DTYPES = [np.float64, np.float32]


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def torch_weights(q, k, allowed=None, scale=None):
    """softmax(q kᵀ · scale) in torch, masked the F.scaled_dot_product_attention way (True = may attend)."""
    q, k = t(q), t(k)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    scores = q @ k.transpose(-1, -2) * scale
    if allowed is not None:
        scores = scores.masked_fill(~t(allowed), float("-inf"))
    return torch.softmax(scores, dim=-1).numpy()


def assert_close(ours, theirs, dtype):
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=0, atol=TOL[dtype])


# ---------------------------------------------------------------- F.scaled_dot_product_attention


def random_qkv(seed, q_shape, k_shape, v_shape, dtype):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=s).astype(dtype) for s in (q_shape, k_shape, v_shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "q_shape, k_shape, v_shape",
    [
        ((5, 4), (7, 4), (7, 3)),  # d_k != d_v, n_q != n_k
        ((2, 3, 6, 8), (2, 3, 9, 8), (2, 3, 9, 5)),  # batch and head axes
        ((2, 1, 6, 4), (2, 3, 6, 4), (2, 3, 6, 2)),  # head axis broadcast from k and v
    ],
)
def test_sdpa_matches_torch(dtype, q_shape, k_shape, v_shape):
    q, k, v = random_qkv(0, q_shape, k_shape, v_shape, dtype)
    output, weights = scaled_dot_product_attention(q, k, v)
    assert_close(output, F.scaled_dot_product_attention(t(q), t(k), t(v)), dtype)
    assert_close(weights, torch_weights(q, k), dtype)
    assert_close(chunked_attention(q, k, v, block_size=4), F.scaled_dot_product_attention(t(q), t(k), t(v)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_with_a_boolean_mask_matches_torch(dtype):
    q, k, v = random_qkv(1, (2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 2), dtype)
    rng = np.random.default_rng(1)
    mask = rng.random((2, 1, 5, 6)) < 0.6
    mask[..., 0] = True
    expected = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=t(mask))  # True = may attend, like ours
    output, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert_close(output, expected, dtype)
    assert_close(weights, torch_weights(q, k, mask), dtype)
    assert_close(chunked_attention(q, k, v, mask=mask, block_size=4), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_with_a_padding_mask_matches_torch(dtype):
    q, k, v = random_qkv(2, (3, 2, 5, 4), (3, 2, 5, 4), (3, 2, 5, 6), dtype)
    mask = padding_mask([5, 2, 1], 5)[:, None]  # (batch, 1, 1, n) broadcasts over heads and queries
    expected = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=t(mask))
    assert_close(scaled_dot_product_attention(q, k, v, mask=mask)[0], expected, dtype)
    assert_close(chunked_attention(q, k, v, mask=mask, block_size=2), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_causal_matches_torch_is_causal(dtype):
    # torch's is_causal aligns to the top-left; ours to the last positions. They agree when n_q == n_k.
    q, k, v = random_qkv(3, (2, 3, 7, 4), (2, 3, 7, 4), (2, 3, 7, 5), dtype)
    expected = F.scaled_dot_product_attention(t(q), t(k), t(v), is_causal=True)
    output, weights = scaled_dot_product_attention(q, k, v, causal=True)
    assert_close(output, expected, dtype)
    assert_close(weights, torch_weights(q, k, causal_mask(7)), dtype)
    assert_close(chunked_attention(q, k, v, causal=True, block_size=3), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_causal_with_n_q_not_n_k_matches_torch_with_a_bottom_right_mask(dtype):
    q, k, v = random_qkv(4, (3, 4), (8, 4), (8, 2), dtype)
    expected = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=t(causal_mask(3, 8)))
    assert_close(scaled_dot_product_attention(q, k, v, causal=True)[0], expected, dtype)
    assert_close(chunked_attention(q, k, v, causal=True, block_size=3), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [0.1, 1.0, 2.5, -0.7])
def test_sdpa_custom_scale_matches_torch(dtype, scale):
    q, k, v = random_qkv(5, (2, 5, 3), (2, 6, 3), (2, 6, 4), dtype)
    expected = F.scaled_dot_product_attention(t(q), t(k), t(v), scale=scale)
    output, weights = scaled_dot_product_attention(q, k, v, scale=scale)
    assert_close(output, expected, dtype)
    assert_close(weights, torch_weights(q, k, scale=scale), dtype)
    assert_close(chunked_attention(q, k, v, scale=scale, block_size=4), expected, dtype)


@given(
    n_q=st.integers(1, 9), n_k=st.integers(1, 9), d_k=st.integers(1, 6), d_v=st.integers(1, 6),
    seed=st.integers(0, 2**16), causal=st.booleans(),
)
def test_sdpa_matches_torch_for_random_shapes(n_q, n_k, d_k, d_v, seed, causal):
    q, k, v = random_qkv(seed, (2, n_q, d_k), (2, n_k, d_k), (2, n_k, d_v), np.float64)
    if causal:
        n_q = min(n_q, n_k)
        q = q[:, :n_q]
    mask = causal_mask(n_q, n_k) if causal else None
    expected = F.scaled_dot_product_attention(t(q), t(k), t(v), attn_mask=None if mask is None else t(mask))
    assert_close(scaled_dot_product_attention(q, k, v, causal=causal)[0], expected, np.float64)


# ---------------------------------------------------------------- nn.MultiheadAttention


def torch_mha(params, d_model, num_heads, dtype):
    """nn.MultiheadAttention holding our parameters (our x @ W is torch's x @ weight.T)."""
    bias = "b_q" in params
    mha = torch.nn.MultiheadAttention(d_model, num_heads, bias=bias, batch_first=True, dtype=TORCH_DTYPE[dtype])
    mha.eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(t(np.concatenate([params["W_q"].T, params["W_k"].T, params["W_v"].T])))
        mha.out_proj.weight.copy_(t(params["W_o"].T))
        if bias:
            mha.in_proj_bias.copy_(t(np.concatenate([params["b_q"], params["b_k"], params["b_v"]])))
            mha.out_proj.bias.copy_(t(params["b_o"]))
    return mha


def run_torch_mha(mha, x, kv=None, **kwargs):
    kv = x if kv is None else kv
    with torch.no_grad():
        out, w = mha(t(x), t(kv), t(kv), need_weights=True, **kwargs)
    return out.numpy(), w.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("d_model, num_heads", [(8, 2), (12, 3), (6, 1), (6, 6)])
def test_self_attention_matches_torch_multihead_attention(dtype, bias, d_model, num_heads):
    params = init_multi_head_params(d_model, num_heads, seed=d_model + num_heads, bias=bias)
    x = np.random.default_rng(0).normal(size=(2, 5, d_model)).astype(dtype)
    output, weights = multi_head_attention(x, params, num_heads)
    mha = torch_mha(params, d_model, num_heads, dtype)
    expected, expected_w = run_torch_mha(mha, x, average_attn_weights=False)
    assert weights.shape == expected_w.shape == (2, num_heads, 5, 5)
    assert_close(output, expected, dtype)
    assert_close(weights, expected_w, dtype)
    _, averaged = run_torch_mha(mha, x)  # torch's default averages the heads
    assert_close(weights.mean(axis=-3), averaged, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("n_q, n_k", [(3, 7), (6, 2)])
def test_cross_attention_matches_torch_multihead_attention(dtype, bias, n_q, n_k):
    d_model, num_heads = 8, 4
    params = init_multi_head_params(d_model, num_heads, seed=5, bias=bias)
    rng = np.random.default_rng(1)
    x, kv = rng.normal(size=(2, n_q, d_model)).astype(dtype), rng.normal(size=(2, n_k, d_model)).astype(dtype)
    output, weights = multi_head_attention(x, params, num_heads, kv=kv)
    expected, expected_w = run_torch_mha(torch_mha(params, d_model, num_heads, dtype), x, kv, average_attn_weights=False)
    assert output.shape == (2, n_q, d_model) and weights.shape == (2, num_heads, n_q, n_k)
    assert_close(output, expected, dtype)
    assert_close(weights, expected_w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_causal_matches_torch_attn_mask_which_means_not_allowed(dtype):
    d_model, num_heads, n = 8, 2, 6
    params = init_multi_head_params(d_model, num_heads, seed=6, bias=True)
    x = np.random.default_rng(2).normal(size=(3, n, d_model)).astype(dtype)
    output, weights = multi_head_attention(x, params, num_heads, causal=True)
    forbidden = ~causal_mask(n)  # nn.MultiheadAttention: True = may NOT attend
    expected, expected_w = run_torch_mha(
        torch_mha(params, d_model, num_heads, dtype), x, attn_mask=t(forbidden), average_attn_weights=False
    )
    assert_close(output, expected, dtype)
    assert_close(weights, expected_w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_padding_mask_matches_torch_key_padding_mask(dtype):
    d_model, num_heads, n = 6, 3, 5
    lengths = [5, 3, 1]
    params = init_multi_head_params(d_model, num_heads, seed=7, bias=True)
    x = np.random.default_rng(3).normal(size=(3, n, d_model)).astype(dtype)
    ours = padding_mask(lengths, n)  # (batch, 1, n), True = may attend
    output, weights = multi_head_attention(x, params, num_heads, mask=ours)
    key_padding_mask = ~ours[:, 0, :]  # (batch, n), True = padding to ignore
    expected, expected_w = run_torch_mha(
        torch_mha(params, d_model, num_heads, dtype), x, key_padding_mask=t(key_padding_mask), average_attn_weights=False
    )
    assert_close(output, expected, dtype)
    assert_close(weights, expected_w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_attention_with_padding_and_a_per_head_mask_matches_torch(dtype):
    batch, d_model, num_heads, n_q, n_k = 2, 8, 2, 4, 6
    params = init_multi_head_params(d_model, num_heads, seed=8, bias=False)
    rng = np.random.default_rng(4)
    x, kv = rng.normal(size=(batch, n_q, d_model)).astype(dtype), rng.normal(size=(batch, n_k, d_model)).astype(dtype)
    per_head = rng.random((batch, num_heads, n_q, n_k)) < 0.7
    per_head[..., 0] = True
    ours = per_head & padding_mask([6, 4], n_k)[:, None]  # (batch, heads, n_q, n_k)
    output, weights = multi_head_attention(x, params, num_heads, mask=ours, kv=kv)
    # torch wants a 3-D attn_mask as (batch·heads, n_q, n_k), batch-major, and True = may NOT attend.
    attn_mask = ~per_head.reshape(batch * num_heads, n_q, n_k)
    key_padding_mask = ~padding_mask([6, 4], n_k)[:, 0, :]
    expected, expected_w = run_torch_mha(
        torch_mha(params, d_model, num_heads, dtype),
        x,
        kv,
        attn_mask=t(attn_mask),
        key_padding_mask=t(key_padding_mask),
        average_attn_weights=False,
    )
    assert_close(output, expected, dtype)
    assert_close(weights, expected_w, dtype)


def test_unbatched_input_matches_torch_unbatched_input():
    d_model, num_heads = 4, 2
    params = init_multi_head_params(d_model, num_heads, seed=9, bias=True)
    x = np.random.default_rng(5).normal(size=(5, d_model))
    output, weights = multi_head_attention(x, params, num_heads)
    expected, expected_w = run_torch_mha(torch_mha(params, d_model, num_heads, np.float64), x, average_attn_weights=False)
    assert weights.shape == expected_w.shape == (num_heads, 5, 5)
    assert_close(output, expected, np.float64)
    assert_close(weights, expected_w, np.float64)
