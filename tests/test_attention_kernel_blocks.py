"""scaled_dot_product_attention's kernel works a block of query rows at a time (in worker threads for
large inputs): the same output and weights as the whole-matrix formula, row by row, whatever the split."""

import numpy as np
import pytest

from lessons_lib import _parallel, causal_mask, scaled_dot_product_attention


def formula(q, k, v, allowed=None):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights


@pytest.mark.parametrize("cores", [1, 2, 3])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_blocks_and_threads_give_the_formulas_numbers(monkeypatch, cores, dtype, tol):
    monkeypatch.setattr(_parallel, "cpu_count", lambda: cores)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1100, 8)).astype(dtype)  # 1100 × 1000 scores: several blocks, worker threads
    k, v = (rng.standard_normal((1000, 8)).astype(dtype) for _ in range(2))
    mask = rng.random((1100, 1000)) < 0.5
    mask[:, 0] = True
    for kwargs, allowed in (({}, None), ({"causal": True}, causal_mask(1100, 1000)), ({"mask": mask}, mask)):
        if kwargs.get("causal"):
            q_used = q[-1000:]  # every query must see a key
            allowed = allowed[-1000:]
        else:
            q_used = q
        output, weights = scaled_dot_product_attention(q_used, k, v, **kwargs)
        expected_output, expected_weights = formula(q_used.astype(np.float64), k.astype(np.float64), v.astype(np.float64), allowed)
        assert output.dtype == weights.dtype == dtype
        np.testing.assert_allclose(weights, expected_weights, rtol=0, atol=tol)
        np.testing.assert_allclose(output, expected_output, rtol=0, atol=tol)


def test_batch_axes_carried_by_v_alone_are_filled_in(monkeypatch):
    monkeypatch.setattr(_parallel, "cpu_count", lambda: 2)
    rng = np.random.default_rng(1)
    q, k = (rng.standard_normal((1024, 4)) for _ in range(2))
    v = rng.standard_normal((3, 1024, 2))
    output, weights = scaled_dot_product_attention(q, k, v)
    expected_output, expected_weights = formula(q, k, v)
    assert weights.shape == (3, 1024, 1024)
    np.testing.assert_allclose(weights, np.broadcast_to(expected_weights, (3, 1024, 1024)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(output, expected_output, rtol=0, atol=1e-12)


def test_an_overflow_is_reported_at_its_index_in_the_full_scores():
    q = np.zeros((2, 700, 4), np.float32)
    k = np.zeros((2, 700, 4), np.float32)
    q[1, 650, 0] = k[1, 7, 0] = 1e20
    with pytest.raises(ValueError, match=r"first at index \(1, 650, 7\) of scores shape \(2, 700, 700\)"):
        scaled_dot_product_attention(q, k, np.ones((2, 700, 1), np.float32))
