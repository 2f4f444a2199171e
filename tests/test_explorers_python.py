"""The explorers' Python side: construction, clear errors before anything renders, and trait sync semantics."""

import json
import math
import re

import ipywidgets
import numpy as np
import pytest
import traitlets

import lessons_lib as ll
from lessons_lib.explorers import (
    MASK_MODES,
    AttentionExplorer,
    ExplorerValueError,
    HeadsExplorer,
    OnlineSoftmaxExplorer,
    SoftLookupExplorer,
    TrainingExplorer,
)
from lessons_lib.explorers._base import bundle_esm

TOKENS = ["The", "cat", "sat", "on", "the", "mat"]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def qkv(rng):
    n = len(TOKENS)
    return rng.normal(size=(n, 4)), rng.normal(size=(n, 4)), rng.normal(size=(n, 3))


@pytest.fixture
def opened(monkeypatch):
    """Records every widget that opens a comm (i.e. would render); construction errors must open none."""
    calls = []
    original = ipywidgets.Widget.open

    def spy(self):
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(ipywidgets.Widget, "open", spy)
    return calls


# --- SoftLookupExplorer -------------------------------------------------------------------------


def test_soft_lookup_state_and_numpy_agree():
    keys = np.array([[0.9, 0.0], [1.0, 0.1], [0.1, 1.0]])
    values = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    w = SoftLookupExplorer(keys, values, ["cat", "dog", "car"], query=(1.0, 0.0), scale=2.5)
    state = w.get_state()
    assert state["key_vectors"] == keys.tolist() and state["value_vectors"] == values.tolist()
    assert state["query"] == [1.0, 0.0] and state["scale"] == 2.5
    output, weights = w.lookup()
    expected_output, expected_weights = ll.soft_lookup(np.array([1.0, 0.0]), keys, values, scale=2.5)
    np.testing.assert_allclose(weights, expected_weights, rtol=0, atol=1e-15)
    np.testing.assert_allclose(output, expected_output, rtol=0, atol=1e-15)
    w.query = [0.0, 1.0]
    assert np.argmax(w.lookup()[1]) == 2  # now nearest "car"
    json.dumps(w.get_state())  # the widget state must be plain JSON


def test_soft_lookup_accepts_scalar_values_and_zero_scale():
    w = SoftLookupExplorer([[1, 0], [0, 1]], [10.0, 20.0], ["a", "b"], scale=0.0)
    assert w.value_vectors == [[10.0], [20.0]]
    output, weights = w.lookup()
    np.testing.assert_allclose(weights, [0.5, 0.5])
    np.testing.assert_allclose(output, [15.0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(keys=[[1, 2, 3], [4, 5, 6]]), r"keys must be 2-D points, shape \(n, 2\).*\(2, 3\)"),
        (dict(labels=["a"]), r"labels has 1 entries but there are 2 keys"),
        (dict(values=[[1.0], [2.0], [3.0]]), r"values must have one row per key \(2\), got shape \(3, 1\)"),
        (dict(query=(1.0, 2.0, 3.0)), r"query must have 2 entries, got shape \(3,\)"),
        (dict(scale=-1.0), r"scale must be finite and >= 0, got -1.0"),
        (dict(keys=[[1, np.nan], [0, 1]]), r"keys contains non-finite values"),
        (dict(values=[[1.0], [np.inf]]), r"values contains non-finite values"),
        (dict(labels="ab"), r"labels must be a sequence of strings"),
        (dict(labels=["a", 2]), r"labels\[1\] must be a string"),
    ],
)
def test_soft_lookup_bad_input_raises_before_rendering(kwargs, message, opened):
    args = dict(keys=[[1, 0], [0, 1]], values=[[1.0], [2.0]], labels=["a", "b"], query=(0.0, 0.0), scale=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SoftLookupExplorer(**args)
    assert "SoftLookupExplorer" not in opened


def test_soft_lookup_trait_validation_keeps_the_old_value():
    w = SoftLookupExplorer([[1, 0], [0, 1]], [1.0, 2.0], ["a", "b"], query=(0.5, 0.5))
    with pytest.raises(ValueError, match="query must have 2 entries"):
        w.query = [1.0]
    with pytest.raises(ValueError, match="scale must be finite"):
        w.scale = math.nan
    assert w.query == [0.5, 0.5] and w.scale == 1.0


# --- AttentionExplorer ------------------------------------------------------------------------------


def test_attention_defaults_state_and_full_precision(qkv):
    q, k, v = qkv
    w = AttentionExplorer(TOKENS, q, k, v)
    assert w.scale == w.default_scale == 1 / math.sqrt(4)
    assert (w.query_index, w.mask_mode, w.padding_length, w.masked_cells) == (0, "none", None, [])
    state = w.get_state()
    # The widget state keeps every float exactly (the browser tests recompute from it).
    assert np.array_equal(np.array(state["q"]), q) and np.array_equal(np.array(state["v"]), v)
    json.dumps(state)
    output, weights = w.attention()
    expected_output, expected_weights = ll.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-15)
    np.testing.assert_allclose(output, expected_output, atol=1e-15)


def test_attention_from_embeddings_projects_in_python(rng):
    x = rng.normal(size=(len(TOKENS), 5))
    W_q, W_k, W_v = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    w = AttentionExplorer.from_embeddings(TOKENS, x, W_q, W_k, W_v, query_index=2, mask_mode="causal")
    np.testing.assert_allclose(w.q, x @ W_q)
    np.testing.assert_allclose(w.k, x @ W_k)
    np.testing.assert_allclose(w.v, x @ W_v)
    assert w.query_index == 2 and w.mask_mode == "causal"
    with pytest.raises(ValueError, match=r"W_k must have d_model = 5 rows to multiply x of shape \(6, 5\), got shape \(4, 3\)"):
        AttentionExplorer.from_embeddings(TOKENS, x, W_q, rng.normal(size=(4, 3)), W_v)
    with pytest.raises(ValueError, match=r"x must have one row per token \(7\), got shape \(6, 5\)"):
        AttentionExplorer.from_embeddings(TOKENS[:-1] + ["x", "y"], x, W_q, W_k, W_v)


def test_attention_masks_match_lessons_lib(qkv):
    q, k, v = qkv
    n = len(TOKENS)
    w = AttentionExplorer(TOKENS, q, k, v, mask_mode="causal")
    assert np.array_equal(w.mask(), ll.causal_mask(n))
    np.testing.assert_allclose(w.attention()[1], ll.scaled_dot_product_attention(q, k, v, causal=True)[1], atol=1e-15)
    w.padding_length = 4
    w.mask_mode = "padding"
    assert np.array_equal(w.mask(), np.broadcast_to(ll.padding_mask([4], n)[0], (n, n)))
    assert np.all(w.attention()[1][:, 4:] == 0)
    w.masked_cells = [(2, 0), (2, 1), (5, 5)]
    w.mask_mode = "custom"
    expected = np.ones((n, n), dtype=bool)
    expected[2, [0, 1]] = False
    expected[5, 5] = False
    assert np.array_equal(w.mask(), expected)
    assert w.attention()[1][2, 0] == 0 and w.attention()[1][5, 5] == 0
    w.mask_mode = "none"
    assert w.mask().all()  # the cells are kept, but only custom mode uses them
    assert w.masked_cells == [[2, 0], [2, 1], [5, 5]]


def test_attention_masked_cells_imply_custom_mode_and_are_normalised(qkv):
    w = AttentionExplorer(TOKENS, *qkv, masked_cells=[(1, 2), (0, 3), (1, 2), np.array([4, 4])])
    assert w.mask_mode == "custom"
    assert w.masked_cells == [[0, 3], [1, 2], [4, 4]]


def test_attention_row_with_every_key_masked_is_refused_by_numpy(qkv):
    cells = [(3, j) for j in range(len(TOKENS))]
    w = AttentionExplorer(TOKENS, *qkv, masked_cells=cells)  # allowed: the page shows "no softmax" for that row
    with pytest.raises(ValueError, match="every key is masked"):
        w.attention()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(tokens=TOKENS[:-1]), r"q must have one row per token \(5\), got shape \(6, 4\)"),
        (dict(k="short"), r"k must be a numeric array"),
        (dict(k=np.ones((6, 5))), r"q and k must have the same d_k: q has shape \(6, 4\), k has shape \(6, 5\)"),
        (dict(v=np.ones((5, 3))), r"v must have one row per token \(6\), got shape \(5, 3\)"),
        (dict(v=np.ones(6)), r"v must be a matrix \(2-D\), got shape \(6,\)"),
        (dict(q=np.full((6, 4), np.nan)), r"q contains non-finite values \(NaN or inf\), first at index \(0, 0\)"),
        (dict(k=np.full((6, 4), np.inf)), r"k contains non-finite values"),
        (dict(tokens=[]), r"tokens must not be empty"),
        (dict(tokens=[1, 2, 3, 4, 5, 6]), r"tokens\[0\] must be a string, got int"),
        (dict(query_index=6), r"query_index must be between 0 and 5, got 6"),
        (dict(query_index=1.0), r"query_index must be an integer, got float"),
        (dict(scale=0.0), r"scale must be finite and > 0, got 0.0"),
        (dict(scale=math.inf), r"scale must be finite and > 0, got inf"),
        (dict(mask_mode="future"), r"mask_mode must be one of none, causal, padding, custom; got 'future'"),
        (dict(padding_length=0), r"padding_length must be between 1 and the number of tokens \(6\), got 0"),
        (dict(padding_length=7), r"padding_length must be between 1 and the number of tokens \(6\), got 7"),
        (dict(masked_cells=[(0, 6)]), r"masked_cells key index must be between 0 and 5, got 6"),
        (dict(masked_cells=[(0, 1, 2)]), r"masked_cells must be a sequence of \(query, key\) pairs, got shape \(1, 3\)"),
    ],
)
def test_attention_bad_input_raises_before_rendering(qkv, change, message, opened):
    q, k, v = qkv
    args = dict(tokens=TOKENS, q=q, k=k, v=v)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        AttentionExplorer(**args)
    assert "AttentionExplorer" not in opened


def test_attention_traits_sync_both_ways(qkv):
    w = AttentionExplorer(TOKENS, *qkv)
    seen = []
    w.observe(lambda change: seen.append((change["name"], change["new"])), names=["query_index", "scale", "mask_mode"])
    # From Python: validated, stored, and part of the state sent to the page.
    w.query_index = 3
    w.scale = 2.0
    w.mask_mode = "causal"
    state = w.get_state()
    assert (state["query_index"], state["scale"], state["mask_mode"]) == (3, 2.0, "causal")
    assert seen == [("query_index", 3), ("scale", 2.0), ("mask_mode", "causal")]
    # From the page: a comm message becomes set_state, which goes through the same validation.
    w.set_state({"query_index": 5, "masked_cells": [[0, 1], [0, 1]], "mask_mode": "custom"})
    assert w.query_index == 5 and w.masked_cells == [[0, 1]] and w.mask_mode == "custom"
    # Bad values are refused with a ValueError (also a TraitError) and the old value stays.
    for name, bad in [("query_index", -1), ("scale", -0.5), ("mask_mode", "all"), ("padding_length", 99)]:
        before = getattr(w, name)
        with pytest.raises(ValueError) as info:
            setattr(w, name, bad)
        assert isinstance(info.value, traitlets.TraitError)
        assert getattr(w, name) == before
    w.padding_length = None  # None means "no padding": every token is real
    assert w.padding_length is None


def test_attention_controls_choose_what_the_page_shows(qkv):
    assert AttentionExplorer(TOKENS, *qkv).controls == ["scale", "mask"]
    assert AttentionExplorer(TOKENS, *qkv, controls=()).controls == []
    w = AttentionExplorer(TOKENS, *qkv, controls=("mask", "scale"))
    assert w.controls == ["scale", "mask"]  # always in the same order
    w.controls = ["scale"]
    assert w.get_state()["controls"] == ["scale"]
    for bad, message in [("scale", "must be a tuple of names"), (["slider"], "may contain only scale, mask; got 'slider'"),
                         (("scale", "scale"), "must not repeat"), (None, "must be a tuple")]:
        with pytest.raises(ValueError, match=message):
            AttentionExplorer(TOKENS, *qkv, controls=bad)
        with pytest.raises(ValueError, match=message):
            w.controls = bad
    assert w.controls == ["scale"]


# --- HeadsExplorer -------------------------------------------------------------------------------


def _heads_weights(rng, *shape):
    return ll.softmax(rng.normal(size=shape) * 2)


def test_heads_three_and_four_dimensional(rng):
    w3 = _heads_weights(rng, 3, 6, 6)
    h = HeadsExplorer(TOKENS, w3, selected_head=2, query_index=4)
    assert (h.has_layers, h.num_layers, h.num_heads) == (False, 1, 3)
    assert h.head_labels == ["head 0", "head 1", "head 2"]
    np.testing.assert_array_equal(h.selected_weights(), w3[2, 4])
    assert np.array_equal(np.array(h.weights), w3[None])
    w4 = _heads_weights(rng, 2, 3, 6, 6)
    h = HeadsExplorer(TOKENS, w4, head_labels=["a", "b", "c"], layer_labels=["L1", "L2"], layer=1)
    assert h.has_layers and h.layer == 1
    h.selected_head, h.query_index = 1, 5
    np.testing.assert_array_equal(h.selected_weights(), w4[1, 1, 5])
    with pytest.raises(ValueError, match=r"layer must be between 0 and 1, got 2"):
        h.layer = 2
    with pytest.raises(ValueError, match=r"selected_head must be between 0 and 2, got 3"):
        h.selected_head = 3
    json.dumps(h.get_state())


def test_heads_from_multi_head_attention_is_accepted(rng):
    x = rng.normal(size=(6, 8)).astype(np.float32)
    params = ll.init_multi_head_params(8, 2, seed=1)
    _, weights = ll.multi_head_attention(x, params, num_heads=2, causal=True)
    h = HeadsExplorer(TOKENS, weights)
    assert h.num_heads == 2


@pytest.mark.parametrize(
    "weights, kwargs, message",
    [
        (np.full((2, 6, 5), 0.2), {}, r"weights must be \(…, n, n\) with n = 6 tokens, got shape \(2, 6, 5\)"),
        (np.full((6, 6), 1 / 6), {}, r"weights must have shape \(heads, n, n\) or \(layers, heads, n, n\), got shape \(6, 6\)"),
        (np.full((2, 6, 6), 0.5), {}, r"each row of weights must sum to 1 .* sums to 3"),
        (np.full((2, 6, 6), np.nan), {}, r"weights contains non-finite values"),
        (np.eye(6)[None] * 2 - np.full((1, 6, 6), 1 / 6), {}, r"weights must be non-negative"),
        (np.full((2, 6, 6), 1 / 6), dict(head_labels=["a"]), r"head_labels has 1 entries but there are 2 heads"),
        (np.full((1, 2, 6, 6), 1 / 6), dict(layer_labels=["a", "b"]), r"layer_labels has 2 entries but there are 1 layers"),
        (np.full((2, 6, 6), 1 / 6), dict(query_index=6), r"query_index must be between 0 and 5, got 6"),
        (np.full((2, 6, 6), 1 / 6), dict(selected_head=-1), r"selected_head must be between 0 and 1, got -1"),
        (np.full((0, 6, 6), 1 / 6), {}, r"weights has no heads or no layers"),
    ],
)
def test_heads_bad_input_raises_before_rendering(weights, kwargs, message, opened):
    with pytest.raises(ValueError, match=message):
        HeadsExplorer(TOKENS, weights, **kwargs)
    assert "HeadsExplorer" not in opened


def test_heads_stays_usable_at_64_tokens_and_12_heads(rng):
    tokens = [f"t{i}" for i in range(64)]
    h = HeadsExplorer(tokens, _heads_weights(rng, 12, 64, 64))
    state_size = len(json.dumps(h.get_state()))
    assert state_size < 2_000_000, state_size  # about 50k floats at full precision


# --- OnlineSoftmaxExplorer -------------------------------------------------------------------------


def test_online_softmax_steps_reach_the_exact_answer(rng):
    q, k, v = rng.normal(size=5), rng.normal(size=(11, 5)) * 3, rng.normal(size=(11, 2))
    w = OnlineSoftmaxExplorer(q, k, v, block_size=4)
    assert w.num_blocks == 3 and w.step == 0 and w.scale == 1 / math.sqrt(5)
    expected_output, expected_weights = ll.scaled_dot_product_attention(q[None], k, v)
    np.testing.assert_allclose(w.exact_output, expected_output[0], atol=1e-15)
    np.testing.assert_allclose(w.exact_weights, expected_weights[0], atol=1e-15)
    steps = w.steps()
    assert [(s["start"], s["end"]) for s in steps] == [(0, 4), (4, 8), (8, 11)]
    scores = (k @ q) / math.sqrt(5)
    for s in steps:
        assert s["m"] == scores[: s["end"]].max()
        np.testing.assert_allclose(s["l"], np.exp(scores[: s["end"]] - s["m"]).sum(), rtol=1e-12)
        np.testing.assert_allclose(s["output"], ll.softmax(scores[: s["end"]]) @ v[: s["end"]], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(steps[-1]["output"], expected_output[0], rtol=1e-12, atol=1e-14)
    assert steps[0]["correction"] == 0.0  # exp(-inf - m): nothing to rescale before the first block
    w.step = 3
    with pytest.raises(ValueError, match=r"step must be between 0 and 3, got 4"):
        w.step = 4


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(block_size=0), r"block_size must be positive, got 0"),
        (dict(block_size=2.0), r"block_size must be an integer, got float"),
        (dict(block_size=9), r"block_size \(9\) must not exceed the number of keys \(8\)"),
        (dict(k=np.ones((8, 4))), r"k must have 3 columns, got shape \(8, 4\)"),
        (dict(v=np.ones((7, 2))), r"v must have one row per key \(8\), got shape \(7, 2\)"),
        (dict(q=np.ones((1, 3))), r"q must be a non-empty vector \(1-D\), got shape \(1, 3\)"),
        (dict(q=np.array([1.0, np.nan, 0.0])), r"q contains non-finite values"),
        (dict(scale=-1.0), r"scale must be finite and > 0"),
        (dict(step=4), r"step must be between 0 and 3, got 4"),
        (dict(key_labels=["a"]), r"key_labels has 1 entries but there are 8 keys"),
    ],
)
def test_online_softmax_bad_input_raises_before_rendering(change, message, opened, rng):
    args = dict(q=rng.normal(size=3), k=rng.normal(size=(8, 3)), v=rng.normal(size=(8, 2)), block_size=3)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        OnlineSoftmaxExplorer(**args)
    assert "OnlineSoftmaxExplorer" not in opened


# --- the front-end bundle ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SoftLookupExplorer, AttentionExplorer, HeadsExplorer, OnlineSoftmaxExplorer])
def test_front_end_is_one_self_contained_module(cls):
    code = cls._esm
    assert isinstance(code, str) and "export default { render }" in code
    assert not re.search(r"^\s*import\b|\bimport\s*\(", code, re.M), "the static page cannot resolve imports"
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", code), "no URLs: everything is inlined"
    assert code.count("/* ---- math.js ---- */") == 1 and code.count("/* ---- ui.js ---- */") == 1


def test_mask_modes_are_the_documented_four():
    assert MASK_MODES == ("none", "causal", "padding", "custom")


def test_bundle_refuses_non_relative_imports(tmp_path, monkeypatch):
    import lessons_lib.explorers._base as base

    (tmp_path / "bad.js").write_text('import confetti from "https://esm.sh/canvas-confetti";\nexport default {};\n')
    monkeypatch.setattr(base, "_HERE", tmp_path)
    bundle_esm.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="can be inlined"):
            bundle_esm("bad.js")
    finally:
        bundle_esm.cache_clear()


def test_explorer_value_error_is_both_kinds():
    assert issubclass(ExplorerValueError, ValueError) and issubclass(ExplorerValueError, traitlets.TraitError)


# --- hostile and careless input: overflow, every synced trait checked, refusals sent back, size limits ---------


def _small_explorers():
    rng = np.random.default_rng(11)
    return {
        "attention": AttentionExplorer(TOKENS, *rng.normal(size=(3, 6, 4))),
        "soft_lookup": SoftLookupExplorer([[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0], ["a", "b"]),
        "heads": HeadsExplorer(TOKENS, _heads_weights(rng, 2, 6, 6)),
        "online": OnlineSoftmaxExplorer([1.0, 2.0, 3.0], rng.normal(size=(8, 3)) + 1.0, rng.normal(size=(8, 2)), 3),
        "training": TrainingExplorer(["a", "b"], ll.softmax(rng.normal(size=(3, 2, 2))), [0, 1, 2], [3.0, 2.0, 1.0]),
    }


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r: AttentionExplorer(TOKENS, r.normal(size=(6, 4)) * 1e200, r.normal(size=(6, 4)) * 1e200, r.normal(size=(6, 3))), "scores q·k overflow"),
        (lambda r: AttentionExplorer(TOKENS, r.normal(size=(6, 4)) * 1e153, r.normal(size=(6, 4)) * 1e153, r.normal(size=(6, 3))), "scale × q·k overflow"),
        (lambda r: AttentionExplorer(TOKENS, *r.normal(size=(2, 6, 4)), np.full((6, 3), 1e308)), "v is too large"),
        (lambda r: SoftLookupExplorer([[1e308, 0.0], [0.0, 1.0]], [1.0, 2.0], ["a", "b"]), "scores scale × keys · query overflow"),
        (lambda r: SoftLookupExplorer([[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0], ["a", "b"], query=(1e308, 0.0)), "overflow"),
        (lambda r: OnlineSoftmaxExplorer(r.normal(size=3) * 1e200, r.normal(size=(8, 3)) * 1e200, r.normal(size=(8, 2)), 3), "overflow"),
    ],
)
def test_scores_that_overflow_are_refused_by_the_constructor(make, message, rng, opened):
    with pytest.raises(ValueError, match=message):
        make(rng)
    assert not opened


@pytest.mark.parametrize(
    "kind, name, bad, message",
    [
        ("attention", "tokens", [], "tokens must not be empty"),
        ("attention", "tokens", ["a", "b"], r"q must have one row per token \(2\)"),
        ("attention", "q", [["not", "numbers"]] * 6, "q must be a numeric array"),
        ("attention", "k", np.full((6, 4), 1e308).tolist(), "overflow"),
        ("attention", "q", (np.ones((6, 4)) * 1e307).tolist(), "overflow"),
        ("attention", "scale", 1e308, "overflow"),
        ("attention", "scale", True, "scale must be a real number, got bool"),
        ("attention", "default_scale", -5, "scale must be finite and > 0, got -5.0"),
        ("attention", "title", None, "title must be a string"),
        ("attention", "controls", None, "controls must be a tuple"),
        ("soft_lookup", "labels", [], "labels must not be empty"),
        ("soft_lookup", "key_vectors", [[1e308, 0.0], [0.0, 1.0]], "overflow"),
        ("soft_lookup", "query", [1e300, 1e300], "overflow"),
        ("soft_lookup", "scale", True, "scale must be a real number, got bool"),
        ("soft_lookup", "axis_labels", ["x"], "axis_labels has 1 entries but there are 2 axes"),
        ("heads", "weights", np.full((1, 2, 6, 6), np.nan).tolist(), "weights contains non-finite values"),
        ("heads", "tokens", ["a"], r"weights must be \(…, n, n\) with n = 1 tokens"),
        ("heads", "head_labels", ["only one"], "head_labels has 1 entries but there are 2 heads"),
        ("heads", "has_layers", "yes", "has_layers must be True or False"),
        ("heads", "selected_head", True, "selected_head must be an integer, got bool"),
        ("online", "block_size", 0, "block_size must be positive, got 0"),
        ("online", "block_size", 99, r"block_size \(99\) must not exceed the number of keys \(8\)"),
        ("online", "k", [[1e308, 1e308, 1e308]] * 8, "overflow"),
        ("online", "scale", 1e308, "overflow"),
        ("online", "scale", -1.0, "scale must be finite and > 0"),
        ("online", "exact_output", [0.0, 0.0], "exact_output is computed from q, k, v and scale"),
        ("online", "key_labels", [], "key_labels must not be empty"),
        ("training", "snapshots", [[[[float("nan")]]]], "snapshots contains non-finite values"),
        ("training", "snapshot_steps", [0, 1], "snapshot_steps must be 3 integers"),
        ("training", "losses", [], "losses must be a non-empty vector"),
        ("training", "tokens", [], "tokens must not be empty"),
        ("training", "head_labels", ["a", "b"], "head_labels has 2 entries but there are 1 heads"),
        ("training", "snapshot_index", True, "snapshot_index must be an integer, got bool"),
        ("training", "title", 3, "title must be a string"),
    ],
)
def test_every_synced_trait_is_checked_like_the_constructor(kind, name, bad, message):
    w = _small_explorers()[kind]
    before = getattr(w, name)
    with pytest.raises(ValueError, match=message):
        setattr(w, name, bad)
    assert getattr(w, name) == before


@pytest.mark.parametrize("kind, update", [
    ("attention", {"scale": True}),
    ("attention", {"query_index": 2, "tokens": []}),
    ("soft_lookup", {"query": [1e300, 1e300]}),
    ("heads", {"selected_head": 5}),
    ("online", {"block_size": 0}),
])
def test_a_refused_update_from_the_page_is_sent_back(kind, update, monkeypatch):
    w = _small_explorers()[kind]
    before = {name: getattr(w, name) for name in update}
    sent = []
    monkeypatch.setattr(w, "send_state", lambda key=None: sent.append(key))
    w.set_state(update)  # what a comm message from the page does; it must not raise into the kernel
    assert {name: getattr(w, name) for name in update} == before
    assert sent and sent[-1] == list(update), "the page must get Python's values back"


def test_an_accepted_update_from_the_page_is_not_sent_back(monkeypatch):
    w = _small_explorers()["attention"]
    sent = []
    monkeypatch.setattr(w, "send_state", lambda key=None: sent.append(key))
    w.set_state({"query_index": 2, "scale": 0.25})
    assert (w.query_index, w.scale, sent) == (2, 0.25, [])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda r: AttentionExplorer([f"t{i}" for i in range(129)], *r.normal(size=(3, 129, 4))), "the number of tokens is 129, more than this explorer's limit of 128"),
        (lambda r: AttentionExplorer(TOKENS, *r.normal(size=(3, 6, 300))), "length of the q, k and v vectors is 300"),
        (lambda r: SoftLookupExplorer(r.normal(size=(33, 2)), r.normal(size=33), [f"k{i}" for i in range(33)]), "number of keys is 33"),
        (lambda r: HeadsExplorer([f"t{i}" for i in range(129)], _heads_weights(r, 1, 129, 129)), "number of tokens is 129"),
        (lambda r: HeadsExplorer(TOKENS, _heads_weights(r, 13, 12, 6, 6)), "number of heads .all layers. is 156"),
        (lambda r: HeadsExplorer([f"t{i}" for i in range(100)], _heads_weights(r, 24, 100, 100)), "number of weights is 240000"),
        (lambda r: OnlineSoftmaxExplorer(r.normal(size=2), r.normal(size=(257, 2)), r.normal(size=(257, 1)), 16), "number of keys is 257"),
        (lambda r: TrainingExplorer([f"t{i}" for i in range(25)], ll.softmax(r.normal(size=(2, 25, 25))), [0, 1], [1.0, 0.5]), "number of tokens is 25"),
        (lambda r: TrainingExplorer(["a", "b"], ll.softmax(r.normal(size=(2, 2, 2))), [0, 1], np.ones(20_001)), "number of losses is 20001"),
    ],
)
def test_inputs_past_the_stated_size_are_refused(make, message, rng, opened):
    with pytest.raises(ValueError, match=message):
        make(rng)
    assert not opened


# --- what shows where the live explorer cannot run: a static SVG picture and a one-line summary -------------


def _examples_at_their_size():
    rng = np.random.default_rng(12)
    tokens64 = [f"w{i}" for i in range(64)]
    return [
        AttentionExplorer(TOKENS, *rng.normal(size=(3, 6, 4)), mask_mode="causal"),
        AttentionExplorer(tokens64, *rng.normal(size=(3, 64, 16))),
        SoftLookupExplorer([[0.9, 0.0], [1.0, 0.1], [0.1, 1.0]], [[1, 0], [0, 1], [0.5, 0.5]], ["cat", "dog", "car"]),
        HeadsExplorer(tokens64, _heads_weights(rng, 12, 64, 64)),
        HeadsExplorer(TOKENS, _heads_weights(rng, 6, 12, 6, 6), layer=5),
        OnlineSoftmaxExplorer(rng.normal(size=8), rng.normal(size=(64, 8)), rng.normal(size=(64, 4)), 8),
        TrainingExplorer(TOKENS[:5], ll.softmax(rng.normal(size=(31, 1, 5, 5))), list(range(0, 310, 10)), np.geomspace(3, 0.01, 300)),
    ]


@pytest.mark.parametrize("index", range(7))
def test_the_output_carries_a_static_svg_and_a_readable_summary(index):
    import xml.etree.ElementTree as ET

    w = _examples_at_their_size()[index]
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data  # the live view is still there
    summary = data["text/plain"]
    assert summary.startswith(type(w).__name__ + ": ") and "\n" not in summary and "0x" not in summary, summary
    svg = data["image/svg+xml"]
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("class") == "lx-fallback"
    assert root.find("{http://www.w3.org/2000/svg}title").text  # described for screen readers
    caption = root.findall("{http://www.w3.org/2000/svg}text")[-1].text
    assert "Static picture" in caption and "\n" not in caption
    assert len(svg) < 80_000, f"{len(svg)} characters: the picture should stay small"
    assert _examples_at_their_size()[index]._repr_mimebundle_()[0]["image/svg+xml"] == svg  # deterministic (nbval compares it)


def test_the_static_picture_shows_the_weights_and_escapes_labels(qkv):
    w = AttentionExplorer(["<b>", "&", "\u202eevil", "d", "e", "f"], *qkv, mask_mode="causal")
    svg = w._repr_mimebundle_()[0]["image/svg+xml"]
    assert "&lt;b&gt;" in svg and "&amp;" in svg and "<b>" not in svg
    assert "\u2068\u202eevil\u2069" in svg  # isolated: the override ends with the label
    weights = w.attention()[1]
    assert f">{weights[1, 0]:.2f}<" in svg  # small heatmaps print their weights: readable without colour


def test_every_exported_explorer_has_a_static_picture_and_a_summary():
    import lessons_lib.explorers as explorers
    from lessons_lib.explorers._base import ExplorerBase

    classes = [getattr(explorers, name) for name in explorers.__all__]
    classes = [cls for cls in classes if isinstance(cls, type) and issubclass(cls, ExplorerBase)]
    assert len(classes) >= 4
    for cls in classes:
        assert cls._fallback_svg is not ExplorerBase._fallback_svg, f"{cls.__name__}: write _fallback_svg"
        assert cls._summary is not ExplorerBase._summary, f"{cls.__name__}: write _summary"
        assert "Size: made for up to" in cls.__doc__, f"{cls.__name__}: state the size it is made for"


@pytest.mark.parametrize("missing", ["anywidget", "ipywidgets"])
def test_without_anywidget_importing_the_explorers_says_what_to_install(missing):
    import subprocess
    import sys

    code = f"import sys; sys.modules[{missing!r}] = None\nimport lessons_lib.explorers"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: lessons_lib.explorers needs anywidget and ipywidgets"), last_line
    assert f"{missing} is not installed" in last_line and "pip install 'lessons_lib[explorers]'" in last_line
