"""online_softmax_steps: the readable one-query recurrence reaches the exact answer, and refuses bad input by name."""

import math

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib import online_softmax_steps


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_is_exported_at_the_top_level_and_not_by_the_explorers():
    import lessons_lib.explorers

    assert ll.online_softmax_steps is online_softmax_steps
    assert "online_softmax_steps" not in lessons_lib.explorers.__all__


@pytest.mark.parametrize("block_size", [1, 2, 4, 11, 50])
def test_every_step_is_the_softmax_of_the_keys_seen_so_far(rng, block_size):
    q, k, v = rng.normal(size=5), rng.normal(size=(11, 5)) * 3, rng.normal(size=(11, 2))
    steps = online_softmax_steps(q, k, v, block_size)
    assert [s["start"] for s in steps] == list(range(0, 11, block_size))
    assert steps[-1]["end"] == 11
    scores = (k @ q) / math.sqrt(5)
    for s in steps:
        assert s["m"] == scores[: s["end"]].max()
        np.testing.assert_allclose(s["l"], np.exp(scores[: s["end"]] - s["m"]).sum(), rtol=1e-12)
        np.testing.assert_allclose(s["output"], ll.softmax(scores[: s["end"]]) @ v[: s["end"]], rtol=1e-12, atol=1e-14)
    assert steps[0]["correction"] == 0.0


def test_agrees_with_chunked_attention(rng):
    q, k, v = rng.normal(size=3), rng.normal(size=(9, 3)), rng.normal(size=(9, 4))
    steps = online_softmax_steps(q, k, v, block_size=2, scale=0.7)
    np.testing.assert_allclose(steps[-1]["output"], ll.chunked_attention(q[None], k, v, scale=0.7, block_size=2)[0], rtol=1e-12)


def test_float32_and_lists_are_accepted(rng):
    q, k, v = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    expected = online_softmax_steps(q, k, v, 2)[-1]["output"]
    got = online_softmax_steps(q.tolist(), k.tolist(), v.tolist(), 2)[-1]["output"]
    np.testing.assert_array_equal(got, expected)
    assert online_softmax_steps(q.astype(np.float32), k, v, 2)[-1]["output"].dtype == np.float64


Q, K, V = np.ones(3), np.ones((4, 3)), np.ones((4, 2))


@pytest.mark.parametrize(
    "change, exc, message",
    [
        (dict(block_size=0), ValueError, r"block_size must be positive, got 0"),
        (dict(block_size=-2), ValueError, r"block_size must be positive, got -2"),
        (dict(block_size=True), TypeError, r"block_size must be an integer, got bool"),
        (dict(block_size=2.0), TypeError, r"block_size must be an integer, got float"),
        (dict(k=np.ones((0, 3)), v=np.ones((0, 2))), ValueError, r"k has an empty n \(number of keys\) axis"),
        (dict(q=np.array([1.0, np.nan, 0.0])), ValueError, r"q contains non-finite values"),
        (dict(k=np.full((4, 3), np.inf)), ValueError, r"k contains non-finite values"),
        (dict(v=np.full((4, 2), np.nan)), ValueError, r"v contains non-finite values"),
        (dict(q=np.ones((1, 3))), ValueError, r"q must be one query vector of shape \(d,\), got shape \(1, 3\)"),
        (dict(k=np.ones((4, 2))), ValueError, r"q and k must share d"),
        (dict(v=np.ones((3, 2))), ValueError, r"v must have one row per key"),
        (dict(scale=float("inf")), ValueError, r"scale must be finite"),
        (dict(scale="1"), TypeError, r"scale must be a real number"),
        (dict(q=np.full(3, 1e200), k=np.full((4, 3), 1e200)), ValueError, r"scores q·kᵀ·scale overflow float64"),
    ],
)
def test_refuses_bad_input_naming_the_argument(change, exc, message):
    args = dict(q=Q, k=K, v=V, block_size=2) | change
    with pytest.raises(exc, match=message):
        online_softmax_steps(**args)
