"""Tests of lessons_lib.toy_data: the hand-chosen toy does what chapter 2 says it does."""

from __future__ import annotations

import numpy as np
import pytest

import lessons_lib as ll
from lessons_lib import toy_data


def attend(name):
    tokens, x = toy_data.toy_sentence(name)
    p = toy_data.toy_projections()
    out, w = ll.scaled_dot_product_attention(x @ p["W_q"], x @ p["W_k"], x @ p["W_v"])
    return tokens, out, w


def test_shapes_match_the_documented_sizes():
    p = toy_data.toy_projections()
    d_model = len(toy_data.FEATURES)
    assert p["W_q"].shape == p["W_k"].shape == (d_model, len(toy_data.QUERY_KEY_AXES))
    assert p["W_v"].shape == (d_model, len(toy_data.VALUE_FEATURES))
    for name, sentence in toy_data.SENTENCES.items():
        tokens, x = toy_data.toy_sentence(name)
        assert tokens == list(sentence) and x.shape == (len(sentence), d_model)


def test_it_attends_most_to_animal():
    tokens, out, w = attend("animal_tired")
    row = w[tokens.index("it")]
    assert tokens[int(np.argmax(row))] == "animal"
    assert row[tokens.index("animal")] > 0.5 > row[tokens.index("street")]
    # the value of "it" picks up "animate" from "animal"
    animate = toy_data.VALUE_FEATURES.index("animate")
    assert out[tokens.index("it"), animate] > 0.5


def test_one_layer_cannot_use_tired_versus_wide():
    """The toy's "it" picks "animal" in both sentences: its query does not depend on the last word."""
    for name in ("animal_tired", "animal_wide"):
        tokens, _, w = attend(name)
        assert tokens[int(np.argmax(w[tokens.index("it")]))] == "animal"


def test_plane_gets_different_meanings_from_its_context():
    flight = toy_data.VALUE_FEATURES.index("flight")
    wood = toy_data.VALUE_FEATURES.index("woodwork")
    t1, out1, _ = attend("plane_flight")
    t2, out2, _ = attend("plane_tool")
    x1 = toy_data.toy_sentence("plane_flight")[1][t1.index("plane")]
    x2 = toy_data.toy_sentence("plane_tool")[1][t2.index("plane")]
    np.testing.assert_array_equal(x1, x2)  # the same embedding in both sentences
    z1, z2 = out1[t1.index("plane")], out2[t2.index("plane")]
    assert z1[flight] > z1[wood] and z2[wood] > z2[flight]


def test_returned_arrays_are_fresh_copies():
    p = toy_data.toy_projections()
    p["W_q"][:] = 0
    assert toy_data.toy_projections()["W_q"].any()
    tokens, x = toy_data.toy_sentence()
    x[:] = 0
    tokens.append("extra")
    assert toy_data.toy_sentence()[1].any() and "extra" not in toy_data.SENTENCES["animal_tired"]
    vocab = toy_data.vocabulary()
    vocab["it"][:] = 9
    assert (toy_data.embed(["it"]) != 9).any()


def test_embed_rows_follow_the_vocabulary():
    vocab = toy_data.vocabulary()
    x = toy_data.embed(["plane", "it", "plane"])
    np.testing.assert_array_equal(x, np.stack([vocab["plane"], vocab["it"], vocab["plane"]]))


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        ("the animal", TypeError, "not one string"),
        ([], ValueError, "empty"),
        (["the", 3], TypeError, "str"),
        (["the", "zebra"], KeyError, "zebra"),
    ],
)
def test_embed_bad_input(bad, exc, words):
    with pytest.raises(exc, match=words):
        toy_data.embed(bad)


def test_toy_sentence_bad_name():
    with pytest.raises(KeyError, match="animal_tired"):
        toy_data.toy_sentence("nope")
    with pytest.raises(TypeError, match="name"):
        toy_data.toy_sentence(3)
