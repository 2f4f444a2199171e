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
