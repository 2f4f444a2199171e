"""Chapter 4's claims about PyTorch's masking conventions, checked against PyTorch itself.

Skipped when torch is not installed (it is an optional reference dependency). The chapter shows the
numpy side of each claim; these tests tie the PyTorch side to the same numbers.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from lessons_lib import causal_mask, scaled_dot_product_attention, softmax  # noqa: E402


@pytest.mark.parametrize("n_q, n_k", [(1, 5), (3, 6), (4, 4)])
def test_is_causal_is_top_left_and_ours_is_bottom_right(n_q, n_k):
    rng = np.random.default_rng(n_q * 10 + n_k)
    q, k, v = rng.normal(size=(n_q, 4)), rng.normal(size=(n_k, 4)), rng.normal(size=(n_k, 3))
    tq, tk, tv = (torch.from_numpy(a)[None, None] for a in (q, k, v))
    torch_is_causal = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)[0, 0].numpy()
    top_left, _ = scaled_dot_product_attention(q, k, v, mask=causal_mask(n_k)[:n_q])
    ours, _ = scaled_dot_product_attention(q, k, v, causal=True)
    np.testing.assert_allclose(torch_is_causal, top_left, atol=1e-12)
    from torch.nn.attention.bias import causal_lower_right

    lower_right = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=causal_lower_right(n_q, n_k))[0, 0].numpy()
    np.testing.assert_allclose(lower_right, ours, atol=1e-12)
    if n_q != n_k:
        assert not np.allclose(torch_is_causal, ours)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_masked_fill_minus_1e9_gives_an_empty_row_uniform_weights(dtype):
    scores = torch.tensor([0.3, -1.2, 2.0], dtype=dtype)
    nothing_visible = torch.zeros(3, dtype=torch.bool)
    weights = torch.softmax(scores.masked_fill(nothing_visible == 0, -1e9), dim=-1)
    np.testing.assert_allclose(weights.numpy(), np.full(3, 1 / 3), atol=1e-7)


def test_adding_minus_1e9_float64_unmasked_float32_uniform():
    scores = np.array([0.3, -1.2, 2.0])
    f64 = torch.softmax(torch.from_numpy(scores) - 1e9, dim=-1).numpy()
    f32 = torch.softmax(torch.from_numpy(scores.astype(np.float32)) - 1e9, dim=-1).numpy()
    np.testing.assert_allclose(f64, softmax(scores), atol=1e-6)
    np.testing.assert_allclose(f32, np.full(3, 1 / 3), atol=1e-7)
    assert np.spacing(np.float32(1e9)) == 64.0
