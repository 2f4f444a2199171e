"""Hand-written backward passes: each checked by finite differences and by torch autograd; bad input refused.

Finite differences: central differences of the scalar ``sum(d_out * f(x))`` in float64, on a few
random coordinates of every input. Torch: the same forward pass written with torch ops (or the torch
module itself), then ``backward(d_out)``.
"""

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib import backward as bw

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10


def numerical_grad(f, x, d_out, coords=12, h=1e-6, seed=0):
    """Central-difference gradient of sum(d_out * f(x)) at ``coords`` random entries of x; returns (index, value) pairs."""
    rng = np.random.default_rng(seed)
    flat = rng.choice(x.size, size=min(coords, x.size), replace=False)
    out = []
    for i in flat:
        idx = np.unravel_index(i, x.shape)
        old = x[idx]
        x[idx] = old + h
        plus = np.sum(d_out * f())
        x[idx] = old - h
        minus = np.sum(d_out * f())
        x[idx] = old
        out.append((idx, (plus - minus) / (2 * h)))
    return out


def assert_matches_finite_differences(f, inputs, grads, d_out):
    for name, x in inputs.items():
        for idx, numeric in numerical_grad(f, x, d_out):
            assert abs(grads[name][idx] - numeric) < 1e-6 * max(1.0, abs(numeric)), (name, idx, grads[name][idx], numeric)


def t(x, grad=True):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


# ------------------------------------------------------------------------------------- attention


def torch_attention(q, k, v, allowed, scale):
    scores = q @ k.transpose(-1, -2) * scale
    if allowed is not None:
        scores = scores.masked_fill(~torch.as_tensor(allowed), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


CASES = {
    "one head": dict(q=(5, 4), k=(7, 4), v=(7, 3)),
    "batch and heads": dict(q=(2, 3, 5, 4), k=(2, 3, 5, 4), v=(2, 3, 5, 6)),
    "broadcast k and v": dict(q=(2, 3, 5, 4), k=(3, 6, 4), v=(1, 6, 2)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("masking", ["none", "causal", "mask", "mask+causal"])
@pytest.mark.parametrize("scale", [None, 0.7])
def test_attention_backward_equals_torch_autograd(case, masking, scale):
    rng = np.random.default_rng(1)
    shapes = CASES[case]
    q, k, v = (rng.normal(size=shapes[name]) for name in ("q", "k", "v"))
    n_q, n_k = shapes["q"][-2], shapes["k"][-2]
    mask = rng.random((n_q, n_k)) < 0.6 if "mask" in masking else None
    if mask is not None:
        mask[:, 0] = True  # every query keeps a key, under the causal mask too
    causal = "causal" in masking
    out, _ = ll.scaled_dot_product_attention(q, k, v, mask=mask, scale=scale, causal=causal)
    d_out = rng.normal(size=out.shape)
    dq, dk, dv = ll.attention_backward(q, k, v, d_out, mask=mask, scale=scale, causal=causal)
    allowed = mask
    if causal:
        tri = ll.causal_mask(n_q, n_k)
        allowed = tri if allowed is None else allowed & tri
    tq, tk, tv = t(q), t(k), t(v)
    torch_attention(tq, tk, tv, allowed, 1 / np.sqrt(q.shape[-1]) if scale is None else scale).backward(t(d_out, False))
    for ours, theirs in ((dq, tq), (dk, tk), (dv, tv)):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=TOL, rtol=1e-9)


def test_attention_backward_matches_finite_differences_and_gives_masked_keys_no_gradient():
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 5))
    mask = np.ones((4, 6), dtype=bool)
    mask[:, 2] = False                     # key 2 is hidden from every query
    d_out = rng.normal(size=(2, 4, 5))
    dq, dk, dv = ll.attention_backward(q, k, v, d_out, mask=mask)
    f = lambda: ll.scaled_dot_product_attention(q, k, v, mask=mask)[0]
    assert_matches_finite_differences(f, {"q": q, "k": k, "v": v}, {"q": dq, "k": dk, "v": dv}, d_out)
    assert np.all(dk[:, 2] == 0) and np.all(dv[:, 2] == 0)


def test_attention_backward_keeps_float32():
    rng = np.random.default_rng(3)
    q, k, v = (rng.normal(size=(4, 8)).astype(np.float32) for _ in range(3))
    grads = ll.attention_backward(q, k, v, np.ones((4, 8), np.float32), causal=True)
    ref = ll.attention_backward(*(a.astype(np.float64) for a in (q, k, v)), np.ones((4, 8)), causal=True)
    for g, r in zip(grads, ref):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, r, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(d_out=np.ones((4, 3))), ValueError, ["d_out", "(4, 2)", "(4, 3)"]),
        (dict(d_out="x"), TypeError, ["d_out"]),
        (dict(d_out=np.full((4, 2), np.nan)), ValueError, ["d_out", "non-finite"]),
        (dict(k=np.ones((5, 3))), ValueError, ["d_k"]),
        (dict(mask=np.ones((4, 5))), TypeError, ["mask"]),
        (dict(mask=np.zeros((4, 5), bool)), ValueError, ["every key is masked"]),
        (dict(causal=1), TypeError, ["causal"]),
    ],
)
def test_attention_backward_refuses_bad_input(kwargs, error, words):
    args = dict(q=np.ones((4, 4)), k=np.ones((5, 4)), v=np.ones((5, 2)), d_out=np.ones((4, 2)))
    args.update(kwargs)
    with pytest.raises(error) as info:
        ll.attention_backward(args.pop("q"), args.pop("k"), args.pop("v"), args.pop("d_out"), **args)
    for word in words:
        assert word in str(info.value)


# ------------------------------------------------------------------------------------- layers


def test_linear_backward():
    rng = np.random.default_rng(4)
    x, W, b = rng.normal(size=(2, 3, 5)), rng.normal(size=(5, 4)), rng.normal(size=4)
    d_y = rng.normal(size=(2, 3, 4))
    dx, dW, db = bw.linear_backward(x, W, d_y)
    assert_matches_finite_differences(lambda: x @ W + b, {"x": x, "W": W, "b": b}, {"x": dx, "W": dW, "b": db}, d_y)
    tx, tW, tb = t(x), t(W), t(b)
    (tx @ tW + tb).backward(t(d_y, False))
    for ours, theirs in ((dx, tx), (dW, tW), (db, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=TOL)


def test_layer_norm_backward():
    rng = np.random.default_rng(5)
    x, gamma, beta = rng.normal(size=(3, 4, 6)) * 3 + 1, rng.normal(size=6), rng.normal(size=6)
    d_y = rng.normal(size=x.shape)
    dx, dg, db = bw.layer_norm_backward(x, gamma, d_y)
    f = lambda: bw.layer_norm_forward(x, gamma, beta)[0]
    assert_matches_finite_differences(f, {"x": x, "gamma": gamma, "beta": beta}, {"x": dx, "gamma": dg, "beta": db}, d_y)
    tx, tg, tb = t(x), t(gamma), t(beta)
    F.layer_norm(tx, (6,), tg, tb, eps=1e-5).backward(t(d_y, False))
    np.testing.assert_allclose(f(), F.layer_norm(t(x, False), (6,), t(gamma, False), t(beta, False)).numpy(), atol=TOL)
    for ours, theirs in ((dx, tx), (dg, tg), (db, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), atol=TOL)


def test_gelu_backward_is_the_exact_erf_gelu():
    x = np.linspace(-7, 7, 301)
    d_y = np.random.default_rng(6).normal(size=x.shape)
    dx = bw.gelu_backward(x, d_y)
    assert_matches_finite_differences(lambda: bw.gelu_forward(x)[0], {"x": x}, {"x": dx}, d_y)
    tx = t(x)
    F.gelu(tx, approximate="none").backward(t(d_y, False))
    np.testing.assert_allclose(bw.gelu_forward(x)[0], F.gelu(t(x, False)).numpy(), atol=1e-13)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-12)


def test_multi_head_attention_backward():
    rng = np.random.default_rng(7)
    d_model, h = 8, 2
    params = ll.init_multi_head_params(d_model, h, seed=3, bias=True)
    x = rng.normal(size=(2, 5, d_model))
    out, _ = ll.multi_head_attention(x, params, h, causal=True)
    d_out = rng.normal(size=out.shape)
    dx, grads = bw.multi_head_attention_backward(x, params, h, d_out, causal=True)
    f = lambda: ll.multi_head_attention(x, params, h, causal=True)[0]
    assert_matches_finite_differences(f, {"x": x, **params}, {"x": dx, **grads}, d_out)
    # torch: the same computation written with torch ops
    tp = {name: t(value) for name, value in params.items()}
    tx = t(x)

    def heads(z):
        return z.reshape(2, 5, h, d_model // h).transpose(1, 2)

    q, k, v = (heads(tx @ tp[f"W_{n}"] + tp[f"b_{n}"]) for n in "qkv")
    z = torch_attention(q, k, v, ll.causal_mask(5), 1 / np.sqrt(d_model // h))
    (z.transpose(1, 2).reshape(2, 5, d_model) @ tp["W_o"] + tp["b_o"]).backward(t(d_out, False))
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=TOL)
    for name in params:
        np.testing.assert_allclose(grads[name], tp[name].grad.numpy(), atol=TOL, err_msg=name)


def random_block_params(d_model, d_ff, seed):
    rng = np.random.default_rng(seed)
    p = {name: rng.normal(scale=0.4, size=(d_model, d_model)) for name in ("W_q", "W_k", "W_v", "W_o")}
    p.update({name: rng.normal(scale=0.1, size=d_model) for name in ("b_q", "b_k", "b_v", "b_o", "b_2", "ln1_beta", "ln2_beta")})
    p.update(ln1_gamma=1 + rng.normal(scale=0.1, size=d_model), ln2_gamma=1 + rng.normal(scale=0.1, size=d_model),
             W_1=rng.normal(scale=0.4, size=(d_model, d_ff)), b_1=rng.normal(scale=0.1, size=d_ff),
             W_2=rng.normal(scale=0.4, size=(d_ff, d_model)))
    return p


def torch_block(params, d_model, h, d_ff):
    layer = torch.nn.TransformerEncoderLayer(d_model, h, d_ff, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=True, dtype=torch.float64)
    T = lambda a: torch.tensor(a)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(T(np.concatenate([params[f"W_{n}"].T for n in "qkv"])))
        layer.self_attn.in_proj_bias.copy_(T(np.concatenate([params[f"b_{n}"] for n in "qkv"])))
        layer.self_attn.out_proj.weight.copy_(T(params["W_o"].T))
        layer.self_attn.out_proj.bias.copy_(T(params["b_o"]))
        layer.linear1.weight.copy_(T(params["W_1"].T))
        layer.linear1.bias.copy_(T(params["b_1"]))
        layer.linear2.weight.copy_(T(params["W_2"].T))
        layer.linear2.bias.copy_(T(params["b_2"]))
        for i in (1, 2):
            getattr(layer, f"norm{i}").weight.copy_(T(params[f"ln{i}_gamma"]))
            getattr(layer, f"norm{i}").bias.copy_(T(params[f"ln{i}_beta"]))
    return layer


@pytest.mark.parametrize("causal", [False, True])
def test_the_training_block_is_chapter_9s_transformer_block(causal):
    params = ll.init_block_params(8, 2, 12, seed=5)
    params = {k: v + np.random.default_rng(6).normal(scale=0.1, size=v.shape) for k, v in params.items()}
    x = np.random.default_rng(7).normal(size=(3, 6, 8))
    ours, our_weights, _ = bw.block_forward(x, params, 2, causal=causal)
    theirs, their_weights = ll.transformer_block(x, params, 2, causal=causal, norm_first=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    np.testing.assert_allclose(our_weights, their_weights, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_block_forward_and_backward_equal_torch_transformer_encoder_layer(causal):
    d_model, h, d_ff = 8, 2, 12
    params = random_block_params(d_model, d_ff, seed=8)
    x = np.random.default_rng(9).normal(size=(2, 5, d_model))
    out, weights, _ = bw.block_forward(x, params, h, causal=causal)
    d_out = np.random.default_rng(10).normal(size=out.shape)
    dx, grads = bw.transformer_block_backward(x, params, h, d_out, causal=causal)
    layer = torch_block(params, d_model, h, d_ff)
    tx = t(x)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64) if causal else None
    t_out = layer(tx, src_mask=mask, is_causal=causal)
    np.testing.assert_allclose(out, t_out.detach().numpy(), atol=TOL)
    t_out.backward(t(d_out, False))
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=TOL)
    sa = layer.self_attn
    d_in_w, d_in_b = sa.in_proj_weight.grad.numpy(), sa.in_proj_bias.grad.numpy()
    theirs = {f"W_{n}": d_in_w[i * d_model:(i + 1) * d_model].T for i, n in enumerate("qkv")}
    theirs.update({f"b_{n}": d_in_b[i * d_model:(i + 1) * d_model] for i, n in enumerate("qkv")})
    theirs.update(W_o=sa.out_proj.weight.grad.numpy().T, b_o=sa.out_proj.bias.grad.numpy(),
                  W_1=layer.linear1.weight.grad.numpy().T, b_1=layer.linear1.bias.grad.numpy(),
                  W_2=layer.linear2.weight.grad.numpy().T, b_2=layer.linear2.bias.grad.numpy(),
                  ln1_gamma=layer.norm1.weight.grad.numpy(), ln1_beta=layer.norm1.bias.grad.numpy(),
                  ln2_gamma=layer.norm2.weight.grad.numpy(), ln2_beta=layer.norm2.bias.grad.numpy())
    assert set(theirs) == set(grads) == set(ll.block.BLOCK_PARAM_NAMES)
    for name in theirs:
        np.testing.assert_allclose(grads[name], theirs[name], atol=TOL, err_msg=name)


def test_block_backward_matches_finite_differences():
    d_model, h, d_ff = 6, 3, 10
    params = random_block_params(d_model, d_ff, seed=11)
    x = np.random.default_rng(12).normal(size=(4, d_model))
    d_out = np.random.default_rng(13).normal(size=x.shape)
    dx, grads = bw.transformer_block_backward(x, params, h, d_out, causal=True)
    f = lambda: bw.block_forward(x, params, h, causal=True)[0]
    assert_matches_finite_differences(f, {"x": x, **params}, {"x": dx, **grads}, d_out)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: bw.linear_backward(np.ones((3, 4)), np.ones((5, 2)), np.ones((3, 2))), ValueError, ["(3, 4)", "(5, 2)"]),
        (lambda: bw.linear_backward(np.ones((3, 4)), np.ones((4, 2)), np.ones((3, 3))), ValueError, ["d_y", "(3, 2)"]),
        (lambda: bw.layer_norm_backward(np.ones((3, 4)), np.ones(5), np.ones((3, 4))), ValueError, ["gamma", "(5,)"]),
        (lambda: bw.gelu_backward(np.ones(3), np.ones(4)), ValueError, ["d_y", "(3,)", "(4,)"]),
        (lambda: bw.gelu_backward(["a"], np.ones(1)), TypeError, ["x"]),
        (lambda: bw.multi_head_attention_backward(np.ones((3, 6)), ll.init_multi_head_params(6, 2), 4, np.ones((3, 6))),
         ValueError, ["num_heads=4", "d_model=6"]),
        (lambda: bw.multi_head_attention_backward(np.ones((3, 6)), ll.init_multi_head_params(6, 2), 2, np.ones((3, 5))),
         ValueError, ["d_out", "(3, 6)", "(3, 5)"]),
        (lambda: bw.transformer_block_backward(np.ones((3, 6)), {"W_q": np.ones((6, 6))}, 2, np.ones((3, 6))),
         ValueError, ["missing", "W_k"]),
        (lambda: bw.transformer_block_backward(np.ones((3, 6)), random_block_params(6, 8, 0), 2, np.ones((2, 6))),
         ValueError, ["d_out", "(3, 6)"]),
        (lambda: bw.transformer_block_backward(np.ones(6), random_block_params(6, 8, 0), 2, np.ones(6)),
         ValueError, ["x", "(6,)"]),
    ],
)
def test_layer_backwards_refuse_bad_input(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)
