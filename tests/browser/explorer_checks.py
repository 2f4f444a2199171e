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
import lessons_lib.explorers
from lessons_lib import online_softmax_steps
from lessons_lib.explorers import (
    AttentionExplorer,
    BlockPathExplorer,
    HeadsExplorer,
    OnlineSoftmaxExplorer,
    RopeExplorer,
    SoftLookupExplorer,
    TrainingExplorer,
)
from lessons_lib.explorers._base import ExplorerBase
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

    controls = data.get("controls", ["scale", "mask"])
    assert root.locator('[data-control="scale"]').is_visible() == ("scale" in controls)
    assert root.locator('[data-control="mask"]').is_visible() == ("mask" in controls)
    if "scale" in controls:
        _check_attention_scale(page, root, data)
    if "mask" in controls:
        _check_attention_mask(page, root, data)
    else:  # without mask controls a heatmap click picks the query, and the mask never changes
        canvas = root.locator("canvas.lx-heatmap")
        before = shown(root)
        cx, cy = _heatmap_cell_centre(canvas, n // 2, 0)
        canvas.click(position={"x": cx, "y": cy})
        now = assert_attention_matches_numpy(root, data, "heatmap row clicked")
        assert now["query_index"] == n // 2
        assert (now["mask_mode"], now["masked_cells"]) == (before["mask_mode"], before["masked_cells"])


def _check_attention_scale(page, root, data):
    n = len(data["tokens"])
    # 3. Moving the scale slider up lowers the entropy of the row.
    if "mask" in data.get("controls", ["mask"]):
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


def _check_attention_mask(page, root, data):
    n = len(data["tokens"])
    tokens = root.locator("button.lx-token")
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



# --- RopeExplorer ---------------------------------------------------------------------------------


def assert_rope_matches_numpy(root, data, what):
    now = shown(root)
    q, k = np.array(data["q"])[None], np.array(data["k"])[None]
    q_rot = ll.rope(q, [now["query_position"]], base=data["base"])[0]
    k_rot = ll.rope(k, [now["key_position"]], base=data["base"])[0]
    half = q_rot.size // 2
    assert_close(now["score"], q_rot @ k_rot, f"{what}: score")
    assert_close(now["contributions"], q_rot[:half] * k_rot[:half] + q_rot[half:] * k_rot[half:], f"{what}: pairs")
    assert now["offset"] == now["query_position"] - now["key_position"]
    score_text = root.locator('[data-role="score"]')
    assert abs(shown_text_number(score_text.inner_text()) - now["score"]) <= 0.5e-4 + 1e-12
    return now


def check_rope(page, root, data):
    start = assert_rope_matches_numpy(root, data, "as loaded")
    sliders = root.locator("input[type=range]")
    sliders.nth(0).fill("20")
    sliders.nth(1).fill("9")
    moved = assert_rope_matches_numpy(root, data, "after the sliders")
    assert (moved["query_position"], moved["key_position"]) == (20, 9)
    forward = root.locator('button[data-role="both-forward"]')
    for step in range(1, 4):
        forward.click()
        now = assert_rope_matches_numpy(root, data, f"both +{step}")
        assert (now["query_position"], now["key_position"]) == (20 + step, 9 + step)
        assert abs(now["score"] - moved["score"]) < 1e-9, "moving both positions together must keep the score"
    root.locator('button[data-role="both-back"]').click()
    assert shown(root)["query_position"] == 22
    sliders.nth(0).fill(str(start["query_position"]))
    sliders.nth(1).fill(str(start["key_position"]))
    assert_rope_matches_numpy(root, data, "back to the start")


# --- BlockPathExplorer ----------------------------------------------------------------------------


def assert_block_path_matches_numpy(root, data, what):
    now = shown(root)
    order = "pre" if now["norm_first"] else "post"
    stages, weights = np.array(data[f"{order}_stages"]), np.array(data[f"{order}_weights"])
    token = now["token_index"]
    assert now["names"] == data[f"{order}_names"], f"{what}: stage names"
    assert_close(now["norms"], np.linalg.norm(stages[:, token], axis=-1), f"{what}: norms")
    assert_close(now["attention"], weights[:, token], f"{what}: attention rows")
    assert_close(cell_values(root, "norm"), np.linalg.norm(stages[:, token], axis=-1), f"{what}: norms in the table")
    assert_close(cell_values(root, "attention"), weights[:, token].ravel(), f"{what}: weights in the table")
    return now


def check_block_path(page, root, data):
    tokens = root.locator("button.lx-token")
    assert tokens.count() == len(data["tokens"])
    assert_block_path_matches_numpy(root, data, "as loaded")
    for target in (0, len(data["tokens"]) - 1):
        tokens.nth(target).click()
        assert shown(root)["token_index"] == target
        assert_block_path_matches_numpy(root, data, f"token {target}")
    root.locator("input[type=radio][value=post]").check()
    assert shown(root)["norm_first"] is False
    assert_block_path_matches_numpy(root, data, "post-norm")
    norms = shown(root)["norms"]
    assert abs(norms[-1] - math.sqrt(len(data["pre_stages"][0][0]))) < 1e-3  # post-norm ends on a LayerNorm (gamma 1)
    root.locator("input[type=radio][value=pre]").check()
    assert_block_path_matches_numpy(root, data, "pre-norm again")

# --- TrainingExplorer ------------------------------------------------------------------------------


def assert_training_matches(root, data, what):
    now = shown(root)
    matrix = np.array(data["snapshots"])[now["snapshot_index"], now["head"]]
    assert now["step"] == data["snapshot_steps"][now["snapshot_index"]], what
    assert_close(now["weights"], matrix, f"{what}: weights")
    values = root.locator("td.lx-map-cell").evaluate_all("cells => cells.map(c => Number(c.dataset.value))")
    assert_close(values, matrix.ravel(), f"{what}: the map's cells")
    texts = root.locator("td.lx-map-cell").all_inner_texts()
    assert all(abs(shown_text_number(t) - w) <= 0.005 + 1e-12 for t, w in zip(texts, matrix.ravel())), what
    assert_close(now["loss"], data["losses"][min(now["step"], len(data["losses"]) - 1)], f"{what}: loss")
    assert f"step {now['step']} of" in root.locator("output.lx-num").inner_text()
    return now


def check_training(page, root, data):
    slider = root.locator("input.lx-slider")
    last = len(data["snapshot_steps"]) - 1
    slider.focus()
    page.keyboard.press("Home")
    assert assert_training_matches(root, data, "first snapshot")["snapshot_index"] == 0
    page.keyboard.press("ArrowRight")
    assert assert_training_matches(root, data, "second snapshot")["snapshot_index"] == min(1, last)
    page.keyboard.press("End")
    assert assert_training_matches(root, data, "last snapshot")["snapshot_index"] == last
    heads = len(data["head_labels"])
    if heads > 1:
        root.locator("select.lx-select").select_option(str(heads - 1))
        assert assert_training_matches(root, data, "last head")["head"] == heads - 1
    # The marker on the loss curve sits at the snapshot's step.
    assert root.locator("svg line.lx-step-marker").count() == 1


CHECKS = {
    "AttentionExplorer": check_attention,
    "SoftLookupExplorer": check_soft_lookup,
    "HeadsExplorer": check_heads,
    "OnlineSoftmaxExplorer": check_online_softmax,
    "RopeExplorer": check_rope,
    "BlockPathExplorer": check_block_path,
    "TrainingExplorer": check_training,
}


def _examples():
    rng = np.random.default_rng(3)
    tokens = ["The", "cat", "sat", "on", "the", "mat"]
    return {
        "AttentionExplorer": AttentionExplorer(tokens, *rng.normal(size=(3, 6, 4))),
        "SoftLookupExplorer": SoftLookupExplorer([[0.9, 0.0], [1.0, 0.1], [0.1, 1.0]], [[1, 0], [0, 1], [0.5, 0.5]], ["cat", "dog", "car"]),
        "HeadsExplorer": HeadsExplorer(tokens, ll.softmax(rng.normal(size=(2, 3, 6, 6)) * 2)),
        "OnlineSoftmaxExplorer": OnlineSoftmaxExplorer(rng.normal(size=3), rng.normal(size=(7, 3)) * 3, rng.normal(size=(7, 2)), 3),
        "TrainingExplorer": TrainingExplorer(tokens[:4], ll.softmax(rng.normal(size=(5, 2, 4, 4)) * 2), [0, 2, 5, 10, 20], np.geomspace(3, 0.1, 20)),
        "RopeExplorer": RopeExplorer(rng.normal(size=8), rng.normal(size=8), 5, 2, base=100.0, max_position=31),
        "BlockPathExplorer": BlockPathExplorer(tokens, rng.normal(size=(6, 8)), ll.init_block_params(8, 2, 16), 2),
    }


def explorer_names() -> list[str]:
    """Every explorer the package exports (lessons_lib.explorers.__all__): each needs a check and an example."""
    return [
        name
        for name in lessons_lib.explorers.__all__
        if isinstance(getattr(lessons_lib.explorers, name), type) and issubclass(getattr(lessons_lib.explorers, name), ExplorerBase)
    ]


def example(name: str):
    """A small explorer of the class ``name``, for the harness page (KeyError: add one to _examples)."""
    return _examples()[name]
