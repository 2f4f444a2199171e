"""toy_heads: each hand-built head really does its one job, for any sentence, and bad input is refused."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons_lib import multi_head_attention, scaled_dot_product_attention
from lessons_lib.multi_head import split_heads
from lessons_lib.toy_heads import DEFAULT_PAIR, DEFAULT_TOKENS, HEAD_LABELS, ToyHeads, read_head_outputs, toy_heads

SHARP = 0.9  # with the default gap every head puts at least this much weight on its target(s)


def expected_targets(tokens, pair):
    """Independent restatement of what each head should attend to: heads × queries → set of key positions."""
    a, b = pair
    n = len(tokens)
    previous = [{max(i - 1, 0)} for i in range(n)]
    same = [{j for j in range(n) if tokens[j] == tokens[i]} for i in range(n)]
    paired = [{j for j in range(n) if tokens[j] == b} if tokens[i] == a else {i} for i in range(n)]
    return [previous, same, paired]


def run(toy):
    return multi_head_attention(toy.x, toy.params, toy.num_heads)


def assert_heads_do_their_jobs(toy, sharp=SHARP):
    _, weights = run(toy)
    for h, targets in enumerate(expected_targets(toy.tokens, toy.pair)):
        for i, target in enumerate(targets):
            row = weights[h, i]
            on_target = row[sorted(target)]
            assert on_target.sum() >= sharp, (HEAD_LABELS[h], i, row)
            # Tied targets share the weight equally, and nothing else gets as much as any one of them.
            np.testing.assert_allclose(on_target, on_target[0], rtol=1e-12)
            off_target = np.delete(row, sorted(target))
            assert off_target.size == 0 or off_target.max() < on_target.min()


def test_default_toy_shapes_and_labels():
    toy = toy_heads()
    n = len(DEFAULT_TOKENS)
    assert toy.tokens == DEFAULT_TOKENS and toy.pair == DEFAULT_PAIR
    assert toy.num_heads == 3 and toy.head_labels == HEAD_LABELS
    assert toy.d_head == max(len(set(DEFAULT_TOKENS)), n + 1)
    assert toy.d_model == toy.num_heads * toy.d_head
    assert toy.x.shape == (n, toy.d_model)
    assert set(toy.params) == {"W_q", "W_k", "W_v", "W_o"}
    for w in toy.params.values():
        assert w.shape == (toy.d_model, toy.d_model)


def test_default_toy_heads_do_their_jobs():
    assert_heads_do_their_jobs(toy_heads())


def test_previous_token_head_known_rows():
    toy = toy_heads()
    _, weights = run(toy)
    prev = weights[0]
    assert prev[0].argmax() == 0  # nothing before position 0: it looks at itself
    np.testing.assert_array_equal(prev[1:].argmax(axis=1), np.arange(len(toy.tokens) - 1))


def test_pair_head_sends_it_to_cat():
    toy = toy_heads()
    _, weights = run(toy)
    i_it, i_cat = toy.tokens.index("it"), toy.tokens.index("cat")
    assert weights[2, i_it].argmax() == i_cat
    assert weights[2, i_it, i_cat] > 0.99


def test_the_target_weight_follows_the_gap():
    # One target among n keys at scaled score gap g: weight = e^g / (e^g + n - 1).
    toy = toy_heads(gap=3.0)
    _, weights = run(toy)
    n = len(toy.tokens)
    np.testing.assert_allclose(weights[0, 5, 4], np.exp(3.0) / (np.exp(3.0) + n - 1), rtol=1e-12)


def test_each_head_is_plain_attention_on_its_block():
    toy = toy_heads()
    _, weights = run(toy)
    q, k, v = (split_heads(toy.x @ toy.params[name], toy.num_heads) for name in ("W_q", "W_k", "W_v"))
    _, expected = scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, expected, rtol=1e-12, atol=1e-15)


def test_read_head_outputs_names_the_attended_word():
    toy = toy_heads()
    output, _ = run(toy)
    words = read_head_outputs(toy, output)
    t = toy.tokens
    assert words[0] == [t[0]] + list(t[:-1])  # previous word
    assert words[1] == list(t)  # same word
    assert words[2] == [w if w != "it" else "cat" for w in t]


def test_params_are_chosen_not_random():
    first, second = toy_heads(), toy_heads()
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], second.params[name])
    np.testing.assert_array_equal(first.params["W_o"], np.eye(first.d_model))


def test_a_larger_gap_is_sharper():
    _, soft = run(toy_heads(gap=1.0))
    _, sharp = run(toy_heads(gap=8.0))
    assert sharp[0, 1:].max(axis=1).min() > soft[0, 1:].max(axis=1).max()


vocabulary = ["a", "b", "c", "d", "e"]


@settings(deadline=None, max_examples=30)
@given(
    st.lists(st.sampled_from(vocabulary), min_size=0, max_size=12),
    st.permutations(vocabulary),
)
def test_heads_do_their_jobs_on_any_sentence(middle, order):
    a, b = order[0], order[1]
    tokens = [a] + middle + [b]
    assert_heads_do_their_jobs(toy_heads(tokens, pair=(a, b), gap=8.0))


def test_shortest_sentence_with_a_pair():
    toy = toy_heads(["a", "b"], pair=("b", "a"))
    _, weights = run(toy)
    assert weights.shape == (3, 2, 2)
    np.testing.assert_array_equal(weights[2].argmax(axis=1), [0, 0])


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("tokens, exc, match", [
    ("the cat", TypeError, "not one string"),
    ([], ValueError, "tokens is empty"),
    (["the", 3], TypeError, "every token must be a str"),
    (42, TypeError, "sequence of strings"),
])
def test_rejects_bad_tokens(tokens, exc, match):
    with pytest.raises(exc, match=match):
        toy_heads(tokens, pair=("the", "cat"))


@pytest.mark.parametrize("pair, exc, match", [
    ("it", TypeError, "tuple of two words"),
    (("it",), ValueError, "two words"),
    (("it", "cat", "dog"), ValueError, "two words"),
    (("it", 1), ValueError, "two words"),
    (("it", "it"), ValueError, "two different words"),
    (("it", "mouse"), ValueError, "b='mouse' does not occur"),
    (("she", "cat"), ValueError, "a='she' does not occur"),
    (7, TypeError, "tuple of two words"),
])
def test_rejects_bad_pairs(pair, exc, match):
    with pytest.raises(exc, match=match):
        toy_heads(DEFAULT_TOKENS, pair=pair)


@pytest.mark.parametrize("gap, exc", [(0.0, ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                                      (float("nan"), ValueError), ("6", TypeError), (True, TypeError)])
def test_rejects_bad_gaps(gap, exc):
    with pytest.raises(exc, match="gap"):
        toy_heads(gap=gap)


def test_read_head_outputs_rejects_bad_input():
    toy = toy_heads()
    with pytest.raises(TypeError, match="ToyHeads"):
        read_head_outputs("toy", np.zeros((10, 33)))
    with pytest.raises(ValueError, match=r"\(10, 33\).*\(10, 32\)"):
        read_head_outputs(toy, np.zeros((10, 32)))
    assert isinstance(toy, ToyHeads)
