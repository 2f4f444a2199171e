"""What each explorer must do in a real browser, checked against numpy (lessons_lib).

Each check takes the Playwright page, the explorer's root element and the explorer's widget state as
embedded in the page (its data: tokens, q, k, v, ...). It interacts like a reader (clicks, keys,
drags), then compares the numbers the explorer shows — its ``data-state`` attribute, the exact values
in ``data-value`` attributes and the rounded text a reader sees — with lessons_lib's answer.
"""

from __future__ import annotations

import json
import math

import numpy as np

import lessons_lib as ll
from lessons_lib import online_softmax_steps
from lessons_lib.masks import explorer_mask

EXACT = dict(rtol=1e-9, atol=1e-12)  # JS and numpy both compute in float64; only summation order differs


def shown(root) -> dict:
    """The numbers the explorer shows now (-Infinity arrives as the string "-Infinity")."""
    state = json.loads(root.get_attribute("data-state"))

    def fix(x):
        if isinstance(x, list):
            return [fix(i) for i in x]
        return -math.inf if x == "-Infinity" else x

    return {key: fix(value) for key, value in state.items()}


def shown_text_number(text: str) -> float:
    """A number as printed by the explorer (Unicode minus, −∞, exponent form)."""
    text = text.strip().replace("−", "-")
    return -math.inf if text == "-∞" else float(text)


def cell_values(root, step: str) -> list[float]:
    """Exact values in the cells of one step column (data-value), in key order."""
    values = root.locator(f'td[data-step="{step}"]').evaluate_all("cells => cells.map(c => c.dataset.value)")
    return [None if v == "none" else (-math.inf if v == "-Infinity" else float(v)) for v in values]


def assert_close(actual, expected, what: str):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), err_msg=what, **EXACT)


def assert_weight_text_matches(root, weights, digits: int = 3):
    """The rounded numbers a reader sees beside the bars are the weights, to the printed precision."""
    texts = root.locator('td[data-step="weight"] .lx-bar-number').all_inner_texts()
    assert len(texts) == len(weights)
    for text, w in zip(texts, weights):
        assert abs(shown_text_number(text) - w) <= 0.5 * 10**-digits + 1e-12, (text, w)


# --- AttentionExplorer ----------------------------------------------------------------------------


def expected_attention_row(data, now):
    """lessons_lib's weights, output and entropy for the query, scale and mask the explorer shows now."""
    q, k, v = (np.array(data[name]) for name in ("q", "k", "v"))
    n = len(data["tokens"])
    i = now["query_index"]
    allowed = explorer_mask(now["mask_mode"], n, now["padding_length"], now["masked_cells"])
    row_mask = np.ones((n, n), dtype=bool)
    row_mask[i] = allowed[i]  # other rows may have every key masked (custom mode); they do not matter here
    output, weights = ll.scaled_dot_product_attention(q, k, v, mask=row_mask, scale=now["scale"])
    return weights[i], output[i], float(ll.entropy(weights[i])), allowed[i]


def assert_attention_matches_numpy(root, data, what):
    now = shown(root)
    weights, output, entropy, allowed = expected_attention_row(data, now)
    q, k = np.array(data["q"]), np.array(data["k"])
    scores = k @ q[now["query_index"]]
    assert_close(now["scores"], scores, f"{what}: scores q·k")
    assert_close(now["scaled"], now["scale"] * scores, f"{what}: scaled scores")
    assert [m == -math.inf for m in now["masked"]] == list(~allowed), f"{what}: masked keys"
    assert_close(now["weights"], weights, f"{what}: softmax weights")
    assert_close(now["output"], output, f"{what}: weighted sum of values")
    assert_close(now["entropy"], entropy, f"{what}: entropy")
    # What a reader sees: exact values on hover (title / data-value) and rounded text.
    assert_close(cell_values(root, "weight"), weights, f"{what}: weights in the table")
    assert_close(cell_values(root, "score"), scores, f"{what}: scores in the table")
    assert_weight_text_matches(root, weights)
    entropy_cell = root.locator(".lx-entropy")
    assert_close(float(entropy_cell.get_attribute("data-value")), entropy, f"{what}: entropy shown")
    assert "nats" in entropy_cell.inner_text()
    return now


def check_attention(page, root, data):
    n = len(data["tokens"])
    tokens = root.locator("button.lx-token")
    assert tokens.count() == n

    # 1. Clicking a token makes it the query; the shown weights are numpy's for that token.
    start = shown(root)["query_index"]
    for target in sorted({(start + 1) % n, n - 1, 0}):
        tokens.nth(target).click()
        now = shown(root)
        assert now["query_index"] == target
        assert tokens.nth(target).get_attribute("aria-pressed") == "true"
        assert_attention_matches_numpy(root, data, f"query {target}")

    # 2. Keyboard: arrows on the focused token move the query.
    tokens.nth(0).focus()
    page.keyboard.press("ArrowRight")
    assert shown(root)["query_index"] == min(1, n - 1)
    page.keyboard.press("End")
    assert shown(root)["query_index"] == n - 1
    assert_attention_matches_numpy(root, data, "after keyboard selection")

    # 3. Moving the scale slider up lowers the entropy of the row.
    root.locator("input[type=radio][value=none]").check()
    root.get_by_role("button", name="reset to 1/√d_k").click()
    before = shown(root)
    assert before["scale"] == data["default_scale"]
    slider = root.locator("input.lx-slider")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("PageUp")
    after = shown(root)
    assert after["scale"] > before["scale"]
    assert after["entropy"] < before["entropy"] or before["entropy"] < 1e-9
    page.keyboard.press("End")
    top = shown(root)
    assert math.isclose(top["scale"], 100 * data["default_scale"], rel_tol=1e-9)
    assert top["entropy"] <= after["entropy"]
    assert_attention_matches_numpy(root, data, "at the largest scale")
    page.keyboard.press("Home")
    bottom = shown(root)
    assert bottom["entropy"] >= before["entropy"]
    assert bottom["entropy"] <= math.log(n) + 1e-12
    assert_attention_matches_numpy(root, data, "at the smallest scale")
    root.get_by_role("button", name="reset to 1/√d_k").click()

    # 4. Causal: every future weight is exactly zero, for every query we look at.
    root.locator("input[type=radio][value=causal]").check()
    for target in sorted({0, n // 2, n - 1}):
        tokens.nth(target).click()
        now = assert_attention_matches_numpy(root, data, f"causal, query {target}")
        assert now["mask_mode"] == "causal"
        assert all(w == 0 for w in now["weights"][target + 1 :]), now["weights"]
        if target == 0:
            assert now["weights"][0] == 1.0  # the first token can only see itself

    # 5. Clicking a heatmap cell masks it (custom mode, starting from the causal mask); again unmasks it.
    i, j = n - 1, 0
    tokens.nth(i).click()
    canvas = root.locator("canvas.lx-heatmap")
    cx, cy = _heatmap_cell_centre(canvas, i, j)
    canvas.click(position={"x": cx, "y": cy})
    now = shown(root)
    assert now["mask_mode"] == "custom" and [i, j] in now["masked_cells"]
    assert now["weights"][j] == 0
    assert_attention_matches_numpy(root, data, "custom mask after clicking a cell")
    canvas.click(position={"x": cx, "y": cy})
    assert [i, j] not in shown(root)["masked_cells"]
    # Keyboard on the heatmap: Enter toggles the focused cell.
    canvas.focus()
    page.keyboard.press("Home")  # first key of the focused row (the row last clicked)
    page.keyboard.press("Enter")
    assert [i, 0] in shown(root)["masked_cells"]
    page.keyboard.press("Enter")
    assert [i, 0] not in shown(root)["masked_cells"]
    root.locator("input[type=radio][value=none]").check()
    assert_attention_matches_numpy(root, data, "mask off again")


def _heatmap_cell_centre(canvas, i, j):
    """Centre of cell (i, j) in canvas CSS pixels, from the geometry the heatmap stores on its canvas."""
    g = json.loads(canvas.get_attribute("data-geometry"))
    return g["left"] + (j + 0.5) * g["cell"], g["top"] + (i + 0.5) * g["cell"]


# --- SoftLookupExplorer ---------------------------------------------------------------------------


def assert_soft_lookup_matches_numpy(root, data, what):
    now = shown(root)
    keys, values = np.array(data["key_vectors"]), np.array(data["value_vectors"])
    output, weights = ll.soft_lookup(np.array(now["query"]), keys, values, scale=now["scale"])
    assert_close(now["weights"], weights, f"{what}: weights")
    assert_close(now["output"], output, f"{what}: output")
    assert_close(cell_values(root, "weight"), weights, f"{what}: weights in the table")
    assert_weight_text_matches(root, weights)
    return now


def check_soft_lookup(page, root, data):
    labels = data["labels"]
    start = assert_soft_lookup_matches_numpy(root, data, "as loaded")
    # Keyboard: arrow keys move the query.
    plot = root.locator("svg.lx-plot")
    plot.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowUp")
    moved = assert_soft_lookup_matches_numpy(root, data, "after arrow keys")
    assert moved["query"][0] > start["query"][0] and moved["query"][1] > start["query"][1]
    # Drag: press on the query and drop it on each key in turn.
    plot.scroll_into_view_if_needed()
    for j, label in enumerate(labels[:3]):
        target = root.locator(".lx-keymark").nth(j).bounding_box()
        query_box = root.locator(".lx-query path").bounding_box()
        page.mouse.move(query_box["x"] + query_box["width"] / 2, query_box["y"] + query_box["height"] / 2)
        page.mouse.down()
        page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2, steps=4)
        page.mouse.up()
        now = assert_soft_lookup_matches_numpy(root, data, f"dragged onto {label}")
        key = np.array(data["key_vectors"][j])
        assert np.abs(np.array(now["query"]) - key).max() < 0.05 * max(1.0, np.abs(key).max()), (now["query"], key)
    # Typing a coordinate sets it exactly.
    x_input = root.locator("input[type=number]").first
    x_input.fill("0.25")
    x_input.press("Enter")
    assert shown(root)["query"][0] == 0.25
    assert_soft_lookup_matches_numpy(root, data, "typed x")
    # The scale slider: larger scale, sharper weights.
    before = shown(root)
    slider = root.locator("input.lx-slider")
    slider.focus()
    page.keyboard.press("End")
    after = assert_soft_lookup_matches_numpy(root, data, "largest scale")
    assert after["scale"] > before["scale"]
    assert ll.entropy(np.array(after["weights"])) <= ll.entropy(np.array(before["weights"])) + 1e-12


# --- HeadsExplorer ---------------------------------------------------------------------------------


def assert_heads_matches(root, data, what):
    now = shown(root)
    row = np.array(data["weights"])[now["layer"], now["selected_head"], now["query_index"]]
    assert_close(now["weights"], row, f"{what}: weights")
    assert_close(cell_values(root, "weight"), row, f"{what}: weights in the table")
    # Weights from a float32 model sum to 1 only to ~1e-6, which ll.entropy refuses; the page uses −Σ p ln p as is.
    positive = row[row > 0]
    assert_close(now["entropy"], -np.sum(positive * np.log(positive)), f"{what}: entropy")
    assert_weight_text_matches(root, row)
    return now


def check_heads(page, root, data):
    heads = len(data["head_labels"])
    n = len(data["tokens"])
    thumbs = root.locator("button.lx-thumb")
    assert thumbs.count() == heads
    # Clicking a head enlarges it.
    for h in sorted({heads - 1, 0, heads // 2}):
        thumbs.nth(h).click()
        now = assert_heads_matches(root, data, f"head {h}")
        assert now["selected_head"] == h
        assert thumbs.nth(h).get_attribute("aria-pressed") == "true"
        assert sum(t == "true" for t in thumbs.evaluate_all("ts => ts.map(t => t.getAttribute('aria-pressed'))")) == 1
        assert data["head_labels"][h] in root.locator(".lx-subtitle").inner_text()
    # Keyboard between heads.
    thumbs.nth(0).click()
    thumbs.nth(0).focus()
    page.keyboard.press("ArrowRight")
    assert shown(root)["selected_head"] == min(1, heads - 1)
    # Picking the query token.
    tokens = root.locator("button.lx-token")
    for target in sorted({n - 1, n // 2}):
        tokens.nth(target).click()
        assert assert_heads_matches(root, data, f"query {target}")["query_index"] == target
    # Clicking a row of the enlarged heatmap picks that query too.
    canvas = root.locator("canvas.lx-heatmap")
    cx, cy = _heatmap_cell_centre(canvas, 0, 0)
    canvas.click(position={"x": cx, "y": cy})
    assert shown(root)["query_index"] == 0
    # Layers, when there are several.
    if data["has_layers"]:
        select = root.locator("select.lx-select")
        last = len(data["layer_labels"]) - 1
        select.select_option(str(last))
        assert assert_heads_matches(root, data, f"layer {last}")["layer"] == last


# --- OnlineSoftmaxExplorer -------------------------------------------------------------------------


def check_online_softmax(page, root, data):
    q, k, v = (np.array(data[name]) for name in ("q", "k", "v"))
    steps = online_softmax_steps(q, k, v, data["block_size"], data["scale"])
    exact_output = ll.scaled_dot_product_attention(q[None], k, v, scale=data["scale"])[0][0]
    start = root.get_by_role("button", name="Back to the start (no blocks processed)")
    if start.is_enabled():
        start.click()
    assert start.is_disabled()
    assert shown(root)["step"] == 0 and shown(root)["output"] is None
    next_button = root.get_by_role("button", name="Process the next key block")
    for s, expected in enumerate(steps, start=1):
        next_button.click()
        now = shown(root)
        assert now["step"] == s
        assert_close(now["m"], expected["m"], f"running max after block {s}")
        assert_close(now["l"], expected["l"], f"running sum after block {s}")
        assert_close(now["output"], expected["output"], f"running output after block {s}")
    assert next_button.is_disabled()
    final = shown(root)
    assert final["step"] == len(steps)
    assert_close(final["output"], exact_output, "the output after the last block is the exact attention output")
    assert final["max_difference"] < 1e-12
    # The slider and the back button walk the same steps.
    root.get_by_role("button", name="Undo the last block").click()
    assert shown(root)["step"] == len(steps) - 1
    slider = root.locator("input.lx-slider")
    slider.focus()
    page.keyboard.press("Home")
    assert shown(root)["step"] == 0
    root.get_by_role("button", name="Process every block").click()
    assert_close(shown(root)["output"], exact_output, "end button")


CHECKS = {
    "AttentionExplorer": check_attention,
    "SoftLookupExplorer": check_soft_lookup,
    "HeadsExplorer": check_heads,
    "OnlineSoftmaxExplorer": check_online_softmax,
}
