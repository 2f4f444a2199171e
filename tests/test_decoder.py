"""Tests of lessons_lib.decoder: the causal stack, sampling, and the KV cache (same tokens and logits as no cache)."""

import numpy as np
import pytest

import lessons_lib as ll

VOCAB, D, HEADS, D_FF, LAYERS, MAX_LEN = 23, 16, 4, 24, 3, 48


@pytest.fixture(scope="module")
def params():
    return ll.init_decoder_params(VOCAB, D, HEADS, D_FF, LAYERS, MAX_LEN, seed=1)


def test_init_decoder_params_shapes(params):
    assert params["token_embeddings"].shape == (VOCAB, D)
    assert params["position_embeddings"].shape == (MAX_LEN, D)
    assert len(params["blocks"]) == LAYERS
    assert params["W_lm"].shape == (D, VOCAB) and params["b_lm"].shape == (VOCAB,)
    assert params["blocks"][0]["W_1"].shape == (D, D_FF)
    assert not np.array_equal(params["blocks"][0]["W_q"], params["blocks"][1]["W_q"])


def test_decoder_forward_is_embeddings_then_causal_blocks_then_head(params):
    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    logits, weights = ll.decoder_forward(ids, params, HEADS, return_weights=True)
    assert logits.shape == (8, VOCAB) and len(weights) == LAYERS
    h = params["token_embeddings"][ids] + params["position_embeddings"][:8]
    for block in params["blocks"]:
        h, w = ll.transformer_block(h, block, HEADS, causal=True)
        assert np.all(np.triu(w, 1) == 0)
    expected = ll.layer_norm(h, params["lnf_gamma"], params["lnf_beta"]) @ params["W_lm"] + params["b_lm"]
    np.testing.assert_allclose(logits, expected, atol=1e-12)
    # causal: the logits of a prefix do not depend on what follows it
    np.testing.assert_allclose(ll.decoder_forward(ids[:5], params, HEADS), logits[:5], atol=1e-12)
    batch = ll.decoder_forward(np.stack([ids, ids[::-1]]), params, HEADS)
    np.testing.assert_allclose(batch[0], logits, atol=1e-12)


@pytest.mark.parametrize("temperature, seed", [(0.0, None), (0.8, 5), (1.5, np.random.default_rng(7))])
def test_kv_cache_gives_the_same_tokens_and_logits_as_recomputing(params, temperature, seed):
    prompt = np.array([2, 7, 1, 8])
    rng_a = seed if not isinstance(seed, np.random.Generator) else np.random.default_rng(7)
    rng_b = seed if not isinstance(seed, np.random.Generator) else np.random.default_rng(7)
    cached, cached_logits = ll.generate(prompt, params, HEADS, 20, temperature=temperature, rng=rng_a)
    full, full_logits = ll.generate(prompt, params, HEADS, 20, temperature=temperature, rng=rng_b, use_cache=False)
    np.testing.assert_array_equal(cached, full)
    np.testing.assert_allclose(cached_logits, full_logits, rtol=0, atol=1e-6)
    assert cached.shape == (24,) and cached_logits.shape == (20, VOCAB)
    np.testing.assert_array_equal(cached[:4], prompt)
    # each step's logits are the full forward pass's last row on the prefix
    for step in (0, 9, 19):
        prefix = cached[: 4 + step]
        np.testing.assert_allclose(cached_logits[step], ll.decoder_forward(prefix, params, HEADS)[-1], atol=1e-6)


def test_kv_cache_step_by_step(params):
    ids = np.array([5, 3, 0, 22, 11, 9])
    cache = ll.KVCache(LAYERS)
    first = ll.decoder_step(ids[:2], params, HEADS, cache)
    assert cache.length == 2 and cache.keys[0].shape == (HEADS, 2, D // HEADS)
    rest = [ll.decoder_step(ids[i : i + 1], params, HEADS, cache)[0] for i in range(2, 6)]
    assert cache.length == 6
    full = ll.decoder_forward(ids, params, HEADS)
    np.testing.assert_allclose(np.vstack([first, rest]), full, atol=1e-12)


def test_greedy_is_argmax_and_sampling_is_seeded(params):
    prompt = np.array([1, 2, 3])
    greedy, logits = ll.generate(prompt, params, HEADS, 6)
    np.testing.assert_array_equal(greedy[3:], logits.argmax(axis=1))
    a, _ = ll.generate(prompt, params, HEADS, 15, temperature=1.0, rng=11)
    b, _ = ll.generate(prompt, params, HEADS, 15, temperature=1.0, rng=11)
    c, _ = ll.generate(prompt, params, HEADS, 15, temperature=1.0, rng=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_temperature_sharpens_and_flattens_the_distribution():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    p1 = ll.next_token_distribution(logits)
    np.testing.assert_allclose(p1, ll.softmax(logits))
    cold, hot = ll.next_token_distribution(logits, 0.1), ll.next_token_distribution(logits, 10.0)
    assert cold[0] > p1[0] > hot[0] and cold[0] > 0.99 and hot.max() - hot.min() < 0.3
    rng = np.random.default_rng(0)
    draws = [ll.sample_next_token(logits, 1.0, rng) for _ in range(4000)]
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, p1, atol=0.03)
    assert ll.sample_next_token(logits, 0.0) == 0


def test_generation_flops_counts():
    # cached: 4d² + 2·d·d_ff per layer for the new row, 2·t·d for attention over t keys, d·V for the head
    d, f, layers, vocab = 8, 16, 2, 10
    assert ll.generation_flops(4, d, f, layers, vocab) == layers * (4 * d * d + 2 * d * f + 2 * 5 * d) + d * vocab
    assert ll.generation_flops(4, d, f, layers, vocab, cache=False) == layers * 5 * (4 * d * d + 2 * d * f + 2 * 5 * d) + d * vocab
    with_cache = [ll.generation_flops(t, 64, 256, 4, 100) for t in (10, 100, 1000)]
    without = [ll.generation_flops(t, 64, 256, 4, 100, cache=False) for t in (10, 100, 1000)]
    assert all(b > 5 * a for a, b in zip(with_cache, without))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda p: ll.decoder_forward(np.array([1.0, 2.0]), p, HEADS), TypeError, "token_ids must be integers"),
        (lambda p: ll.decoder_forward(np.array([1, VOCAB]), p, HEADS), ValueError, r"\[0, 23\)"),
        (lambda p: ll.decoder_forward(np.array([], dtype=int), p, HEADS), ValueError, "non-empty"),
        (lambda p: ll.decoder_forward(np.zeros(MAX_LEN + 1, dtype=int), p, HEADS), ValueError, "48 positions"),
        (lambda p: ll.decoder_forward(np.array([1, 2]), {k: v for k, v in p.items() if k != "W_lm"}, HEADS), ValueError, r"missing \['W_lm'\]"),
        (lambda p: ll.decoder_forward(np.array([1, 2]), p, 3), ValueError, "must divide d_model"),
        (lambda p: ll.decoder_forward(np.array([1, 2]), dict(p, blocks=[]), HEADS), ValueError, "non-empty list"),
        (lambda p: ll.generate(np.array([1, 2]), p, HEADS, MAX_LEN), ValueError, "pass the model's 48 positions"),
        (lambda p: ll.generate(np.array([1, 2]), p, HEADS, 3, temperature=-1.0), ValueError, "temperature must be finite and >= 0"),
        (lambda p: ll.generate(np.array([1, 2]), p, HEADS, 3, temperature=1.0), TypeError, "rng must be a numpy Generator or an integer seed"),
        (lambda p: ll.generate(np.array([1, 2]), p, HEADS, 2.5), TypeError, "max_new_tokens must be an integer"),
        (lambda p: ll.generate(np.array([[1, 2]]), p, HEADS, 2), ValueError, "1-D"),
        (lambda p: ll.decoder_step(np.array([1]), p, HEADS, ll.KVCache(LAYERS + 1)), TypeError, "KVCache with one slot per block"),
        (lambda p: ll.next_token_distribution([1.0, 2.0], 0.0), ValueError, "greedy"),
        (lambda p: ll.sample_next_token(np.ones((2, 3))), ValueError, "one non-empty vector"),
        (lambda p: ll.sample_next_token([1.0, np.nan]), ValueError, "non-finite"),
    ],
)
def test_bad_input_is_refused(params, call, error, message):
    with pytest.raises(error, match=message):
        call(params)
