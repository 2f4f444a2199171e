"""Tests of lessons_lib.block: erf, GELU, the norms and transformer_block (against torch.nn.TransformerEncoderLayer)."""

import math

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib.block import BLOCK_PARAM_NAMES, erf, feed_forward

D, HEADS, D_FF = 12, 3, 20


# ---------------------------------------------------------------- erf and GELU


def test_erf_float64_matches_math_erf_to_1e_14():
    x = np.concatenate([np.linspace(-9, 9, 90_001), [0.0, -0.0, 1e-300, 5.9999999, 6.0, 40.0]])
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], rtol=0, atol=1e-14)


def test_erf_float32_is_accurate_to_float32_precision():
    x = np.linspace(-6, 6, 60_001).astype(np.float32)
    y = erf(x)
    assert y.dtype == np.float32
    exact = np.array([math.erf(float(v)) for v in x])
    assert np.max(np.abs(y - exact)) < 5e-7  # a few float32 units in the last place at 1 (1.2e-7)
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf], dtype=np.float32)), [1.0, -1.0])
    assert np.isnan(erf(np.array([np.nan], dtype=np.float32)))[0]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 5e-7)])
def test_gelu_is_exact_erf_gelu_with_limits(dtype, tol):
    x = np.linspace(-8, 8, 2001).astype(dtype)
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    y = ll.gelu(x)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, exact, rtol=0, atol=tol * 8)
    tanh_approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert np.max(np.abs(ll.gelu(x.astype(np.float64)) - tanh_approx)) > 1e-4  # not the tanh approximation
    special = ll.gelu(np.array([-np.inf, np.inf, np.nan], dtype=dtype))
    assert special[0] == 0.0 and special[1] == np.inf and np.isnan(special[2])
    assert ll.gelu(-np.inf) == 0.0 and ll.gelu(0.0) == 0.0


def test_gelu_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(scale=3, size=1000)
    np.testing.assert_allclose(ll.gelu(x), torch.nn.functional.gelu(torch.tensor(x)).numpy(), atol=1e-14)
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(ll.gelu(x32), torch.nn.functional.gelu(torch.tensor(x32)).numpy(), atol=2e-6)


# ---------------------------------------------------------------- norms


def test_layer_norm_normalises_the_last_axis_and_keeps_dtype():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 5.0, size=(4, 7, 16))
    plain = ll.layer_norm(x, np.ones(16), np.zeros(16), eps=0.0)
    np.testing.assert_allclose(plain.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(plain.var(axis=-1), 1, atol=1e-12)
    gamma, beta = rng.normal(size=16), rng.normal(size=16)
    np.testing.assert_allclose(ll.layer_norm(x, gamma, beta, eps=0.0), plain * gamma + beta, atol=1e-12)
    assert ll.layer_norm(x.astype(np.float32), gamma, beta).dtype == np.float32


def test_rms_norm_gives_unit_root_mean_square():
    x = np.random.default_rng(2).normal(2.0, 3.0, size=(5, 8))
    y = ll.rms_norm(x, np.ones(8), eps=0.0)
    np.testing.assert_allclose(np.sqrt((y**2).mean(axis=-1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(y / x, (y / x)[:, :1] * np.ones((1, 8)), atol=1e-12)  # a rescaling, no shift
    assert ll.rms_norm(x.astype(np.float32), np.ones(8)).dtype == np.float32


def test_norms_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, gamma, beta = rng.normal(size=(3, 10)), rng.normal(size=10), rng.normal(size=10)
    expected = torch.nn.functional.layer_norm(torch.tensor(x), (10,), torch.tensor(gamma), torch.tensor(beta), eps=1e-5)
    np.testing.assert_allclose(ll.layer_norm(x, gamma, beta), expected.numpy(), atol=1e-12)
    rms = torch.nn.functional.rms_norm(torch.tensor(x), (10,), torch.tensor(gamma), eps=1e-6)
    np.testing.assert_allclose(ll.rms_norm(x, gamma), rms.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: ll.layer_norm(np.ones((2, 4)), np.ones(3), np.zeros(4)), ValueError, r"gamma must have shape \(d,\) = \(4,\)"),
        (lambda: ll.layer_norm(np.ones((2, 4)), np.ones(4), np.zeros((1, 4))), ValueError, "beta must have shape"),
        (lambda: ll.layer_norm(np.ones((2, 4)), np.ones(4), np.zeros(4), eps=-1.0), ValueError, "eps must be finite and >= 0"),
        (lambda: ll.layer_norm(np.ones((2, 4)), np.ones(4), np.zeros(4), eps="small"), TypeError, "eps must be a real number"),
        (lambda: ll.layer_norm(np.array([[1.0, np.nan]]), np.ones(2), np.zeros(2)), ValueError, "x contains non-finite"),
        (lambda: ll.layer_norm(np.ones((2, 0)), np.ones(0), np.zeros(0)), ValueError, "empty feature axis"),
        (lambda: ll.rms_norm(np.ones((2, 4)), np.ones(5)), ValueError, "gamma must have shape"),
        (lambda: ll.rms_norm("x", np.ones(5)), TypeError, "x must be a numeric array"),
        (lambda: ll.rms_norm(np.float64(3.0), np.ones(1)), ValueError, "at least 1 dimension"),
    ],
)
def test_norms_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- the block


def test_init_block_params_has_the_contracted_keys_and_shapes():
    p = ll.init_block_params(D, HEADS, D_FF, seed=4)
    assert set(p) == set(BLOCK_PARAM_NAMES)
    mha = ll.init_multi_head_params(D, HEADS, seed=4, bias=True)
    for name, value in mha.items():
        np.testing.assert_array_equal(p[name], value)
    assert p["W_1"].shape == (D, D_FF) and p["b_1"].shape == (D_FF,)
    assert p["W_2"].shape == (D_FF, D) and p["b_2"].shape == (D,)
    for name in ("ln1_gamma", "ln2_gamma"):
        np.testing.assert_array_equal(p[name], 1.0)
    for name in ("ln1_beta", "ln2_beta"):
        np.testing.assert_array_equal(p[name], 0.0)
    np.testing.assert_array_equal(ll.init_block_params(D, HEADS, D_FF, seed=4)["W_1"], p["W_1"])
    assert not np.array_equal(ll.init_block_params(D, HEADS, D_FF, seed=5)["W_1"], p["W_1"])
    with pytest.raises(ValueError, match="must divide d_model"):
        ll.init_block_params(10, 3, 8)
    with pytest.raises(ValueError, match="d_ff must be positive"):
        ll.init_block_params(D, HEADS, 0)


def _random_block(seed=6):
    p = ll.init_block_params(D, HEADS, D_FF, seed=seed)
    rng = np.random.default_rng(seed)
    for name in ("ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta"):
        p[name] = rng.normal(1.0 if "gamma" in name else 0.0, 0.3, size=D)
    return p


def _by_hand(x, p, norm_first, eps=1e-5, **mha_kwargs):
    def ln(h, which):
        mean = h.mean(-1, keepdims=True)
        var = ((h - mean) ** 2).mean(-1, keepdims=True)
        return (h - mean) / np.sqrt(var + eps) * p[f"{which}_gamma"] + p[f"{which}_beta"]

    def ffn(h):
        a = h @ p["W_1"] + p["b_1"]
        return (a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))) @ p["W_2"] + p["b_2"]

    def mha(h):
        return ll.multi_head_attention(h, p, HEADS, **mha_kwargs)[0]

    if norm_first:
        h = x + mha(ln(x, "ln1"))
        return h + ffn(ln(h, "ln2"))
    h = ln(x + mha(x), "ln1")
    return ln(h + ffn(h), "ln2")


@pytest.mark.parametrize("norm_first", [True, False])
def test_block_is_the_formula(norm_first):
    x = np.random.default_rng(7).normal(size=(2, 5, D))
    p = _random_block()
    out, weights = ll.transformer_block(x, p, HEADS, norm_first=norm_first)
    np.testing.assert_allclose(out, _by_hand(x, p, norm_first), atol=1e-12)
    assert weights.shape == (2, HEADS, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-12)
    causal_out, causal_weights = ll.transformer_block(x, p, HEADS, norm_first=norm_first, causal=True)
    np.testing.assert_allclose(causal_out, _by_hand(x, p, norm_first, causal=True), atol=1e-12)
    assert np.all(np.triu(causal_weights, 1) == 0)


def test_block_keeps_float32_and_agrees_with_float64():
    x = np.random.default_rng(8).normal(size=(6, D))
    p = _random_block()
    out64, _ = ll.transformer_block(x, p, HEADS)
    p32 = {name: value.astype(np.float32) for name, value in p.items()}
    out32, w32 = ll.transformer_block(x.astype(np.float32), p32, HEADS)
    assert out32.dtype == np.float32 and w32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, atol=1e-4)


def test_causal_block_output_ignores_future_tokens():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(7, D))
    changed = x.copy()
    changed[5:] = rng.normal(size=(2, D))
    p = _random_block()
    a, _ = ll.transformer_block(x, p, HEADS, causal=True)
    b, _ = ll.transformer_block(changed, p, HEADS, causal=True)
    np.testing.assert_allclose(a[:5], b[:5], atol=1e-12)
    assert not np.allclose(a[5:], b[5:])


def _torch_layer(torch, p, norm_first, eps):
    layer = torch.nn.TransformerEncoderLayer(
        D, HEADS, D_FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first, layer_norm_eps=eps
    ).double()
    attention = layer.self_attn
    with torch.no_grad():
        attention.in_proj_weight.copy_(torch.tensor(np.concatenate([p["W_q"], p["W_k"], p["W_v"]], axis=1).T))
        attention.in_proj_bias.copy_(torch.tensor(np.concatenate([p["b_q"], p["b_k"], p["b_v"]])))
        attention.out_proj.weight.copy_(torch.tensor(p["W_o"].T))
        attention.out_proj.bias.copy_(torch.tensor(p["b_o"]))
        layer.linear1.weight.copy_(torch.tensor(p["W_1"].T))
        layer.linear1.bias.copy_(torch.tensor(p["b_1"]))
        layer.linear2.weight.copy_(torch.tensor(p["W_2"].T))
        layer.linear2.bias.copy_(torch.tensor(p["b_2"]))
        for ours, theirs in (("ln1", layer.norm1), ("ln2", layer.norm2)):
            theirs.weight.copy_(torch.tensor(p[f"{ours}_gamma"]))
            theirs.bias.copy_(torch.tensor(p[f"{ours}_beta"]))
    return layer.eval()


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("eps", [1e-5, 1e-12])
def test_block_matches_torch_transformer_encoder_layer(norm_first, eps):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 6, D))
    p = _random_block(11)
    layer = _torch_layer(torch, p, norm_first, eps)
    with torch.no_grad():
        expected = layer(torch.tensor(x)).numpy()
        causal = torch.nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
        expected_causal = layer(torch.tensor(x), src_mask=causal, is_causal=True).numpy()
        padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] * 3 + [True] * 3])  # True = padded
        expected_padded = layer(torch.tensor(x), src_key_padding_mask=padding).numpy()
    ours, _ = ll.transformer_block(x, p, HEADS, norm_first=norm_first, eps=eps)
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    ours_causal, _ = ll.transformer_block(x, p, HEADS, norm_first=norm_first, eps=eps, causal=True)
    np.testing.assert_allclose(ours_causal, expected_causal, atol=1e-12)
    ours_padded, _ = ll.transformer_block(x, p, HEADS, norm_first=norm_first, eps=eps, mask=ll.padding_mask([6, 4, 3], 6))
    for b, length in enumerate([6, 4, 3]):  # torch fills padded query rows differently; only real tokens count
        np.testing.assert_allclose(ours_padded[b, :length], expected_padded[b, :length], atol=1e-12)


def test_feed_forward_is_gelu_mlp():
    p = _random_block()
    h = np.random.default_rng(12).normal(size=(4, D))
    expected = ll.gelu(h @ p["W_1"] + p["b_1"]) @ p["W_2"] + p["b_2"]
    np.testing.assert_allclose(feed_forward(h, p["W_1"], p["b_1"], p["W_2"], p["b_2"]), expected, atol=1e-14)


def _without(name):
    p = _random_block()
    del p[name]
    return p


def _replaced(name, value):
    p = _random_block()
    p[name] = value
    return p


X = np.random.default_rng(13).normal(size=(5, D))


@pytest.mark.parametrize(
    "x, params, num_heads, kwargs, error, message",
    [
        (X, _without("W_1"), HEADS, {}, ValueError, r"params is missing \['W_1'\]"),
        (X, _without("ln2_beta"), HEADS, {}, ValueError, r"missing \['ln2_beta'\]"),
        (X, _without("W_q"), HEADS, {}, ValueError, r"missing \['W_q'\]"),
        (X, _replaced("W_2", np.ones((D_FF + 1, D))), HEADS, {}, ValueError, r"params\['W_2'\] must have shape \(d_ff=20, d_model=12\)"),
        (X, _replaced("b_1", np.ones(D)), HEADS, {}, ValueError, r"params\['b_1'\] must have shape"),
        (X, _replaced("W_1", np.ones(D)), HEADS, {}, ValueError, r"params\['W_1'\] must have shape \(d_model, d_ff\)"),
        (X, _replaced("ln1_gamma", np.ones(D + 1)), HEADS, {}, ValueError, r"params\['ln1_gamma'\] must have shape"),
        (X, _replaced("W_1", "weights"), HEADS, {}, TypeError, r"params\['W_1'\] must be a numeric array"),
        (X, _replaced("W_2", np.full((D_FF, D), np.nan)), HEADS, {}, ValueError, r"params\['W_2'\] contains non-finite"),
        (X, _replaced("W_2", np.full((D_FF, D), np.nan)), HEADS, {"norm_first": False}, ValueError, r"params\['W_2'\] contains non-finite"),
        (X, _random_block(), 5, {}, ValueError, "num_heads=5 must divide d_model=12"),
        (X, _random_block(), 0, {}, ValueError, "num_heads must be positive"),
        (X, [1, 2], HEADS, {}, TypeError, "params must be a dict"),
        (X[0], _random_block(), HEADS, {}, ValueError, r"x must have shape \(\.\.\., n, d_model\)"),
        (X[:, :8], _random_block(), HEADS, {}, ValueError, r"must have shape \(d_model=8\) = \(8,\), got \(12,\)"),
        (X, _random_block(), HEADS, {"norm_first": 1}, TypeError, "norm_first must be True or False"),
        (X, _random_block(), HEADS, {"eps": -1e-5}, ValueError, "eps must be finite and >= 0"),
        (X, _random_block(), HEADS, {"mask": np.ones((5, 4), dtype=bool)}, ValueError, "mask"),
        (np.full((5, D), np.inf), _random_block(), HEADS, {}, ValueError, "x contains non-finite"),
    ],
)
def test_block_rejects_bad_input(x, params, num_heads, kwargs, error, message):
    with pytest.raises(error, match=message):
        ll.transformer_block(x, params, num_heads, **kwargs)


@pytest.mark.parametrize("norm_first", [True, False])
def test_block_stages_end_at_the_block_output(norm_first):
    from lessons_lib.block import transformer_block_stages

    x = np.random.default_rng(14).normal(size=(5, D))
    p = _random_block()
    names, stages, weights = transformer_block_stages(x, p, HEADS, norm_first=norm_first)
    out, expected_weights = ll.transformer_block(x, p, HEADS, norm_first=norm_first)
    assert len(names) == stages.shape[0] == 7
    np.testing.assert_array_equal(stages[0], x)
    np.testing.assert_allclose(stages[-1], out, atol=1e-12)
    np.testing.assert_array_equal(weights, expected_weights)
