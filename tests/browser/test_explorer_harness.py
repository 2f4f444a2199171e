"""Explorers with long inputs (64 tokens, 12 heads, 6 layers), in a static widget page built here from
Python (no kernel), driven in Chromium.

The page is what ipywidgets' embedding writes (the same require.js, html-manager 1.0.6 and anywidget
front-end the book loads). Every explorer kind is checked in full on the book's own pages
(test_book_pages.py), which store the current front-end (tests/test_book_files.py); this page adds
the sizes the chapters do not reach."""

from __future__ import annotations

import json

import numpy as np
import pytest
from browser_support import (
    axe_violations,
    new_context,
    new_probe,
    page_explorers,
    screenshot,
    static_widget_page,
    wait_for_explorers,
)

import lessons_lib as ll
from lessons_lib.explorers import AttentionExplorer, HeadsExplorer
from explorer_checks import check_attention


def long_explorers():
    rng = np.random.default_rng(4)
    tokens64 = [f"w{i}" for i in range(64)]
    tokens16 = [f"t{i}" for i in range(16)]
    return [
        AttentionExplorer(tokens64, rng.normal(size=(64, 16)), rng.normal(size=(64, 16)), rng.normal(size=(64, 8))),
        HeadsExplorer(tokens64, ll.softmax(rng.normal(size=(12, 64, 64)) * 3)),
        HeadsExplorer(tokens16, ll.softmax(rng.normal(size=(6, 12, 16, 16)) * 3)),
        # The controls option: the slider alone, and no controls at all (chapter 2 shows only the tokens).
        AttentionExplorer(tokens16[:5], *rng.normal(size=(3, 5, 4)), controls=("scale",)),
        AttentionExplorer(tokens16[:5], *rng.normal(size=(3, 5, 4)), mask_mode="causal", controls=()),
    ]


@pytest.fixture(scope="module")
def harness(browser, tmp_path_factory):
    """The static page of long inputs, loaded once: (probe, explorers on it)."""
    views = long_explorers()
    path = tmp_path_factory.mktemp("harness") / "long.html"
    context = new_context(browser)
    probe = new_probe(context, static_widget_page(views, path, "explorers: long inputs"))
    wait_for_explorers(probe.page, len(views))
    yield probe, page_explorers(path.read_text(encoding="utf-8"))
    context.close()


def test_long_inputs_stay_usable(harness):
    """64 tokens, 64 tokens × 12 heads, 6 layers × 12 heads: they render inside the page, respond, show numbers."""
    probe, explorers = harness
    probe.page.bring_to_front()
    page = probe.page
    roots = page.locator(".lx-root[data-explorer]")
    assert roots.count() == len(explorers)
    viewport = page.viewport_size["width"]
    for i, explorer in enumerate(explorers[:3]):
        root = roots.nth(i)
        box = root.bounding_box()
        assert box["width"] <= viewport, f"{explorer['kind']} is wider than the window"
        screenshot(page, root, f"harness-long-{i}-{explorer['kind']}.png")
    attention, heads64, heads_layers = (roots.nth(i) for i in range(3))
    attention.locator("button.lx-token").nth(63).click()
    state = json.loads(attention.get_attribute("data-state"))
    data = explorers[0]["state"]
    expected = ll.scaled_dot_product_attention(np.array(data["q"]), np.array(data["k"]), np.array(data["v"]))[1][63]
    np.testing.assert_allclose(state["weights"], expected, rtol=1e-9, atol=1e-12)
    heads64.locator("button.lx-thumb").nth(11).click()
    assert json.loads(heads64.get_attribute("data-state"))["selected_head"] == 11
    heads_layers.locator("select.lx-select").select_option("5")
    heads_layers.locator("button.lx-thumb").nth(7).click()
    state = json.loads(heads_layers.get_attribute("data-state"))
    assert (state["layer"], state["selected_head"]) == (5, 7)
    np.testing.assert_array_equal(state["weights"], np.array(explorers[2]["state"]["weights"])[5, 7, state["query_index"]])
    assert probe.problems() == []
    violations = axe_violations(page)
    assert not violations, json.dumps(violations, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("index, controls", [(3, ["scale"]), (4, [])])
def test_attention_controls_option_hides_the_others(harness, index, controls):
    probe, explorers = harness
    probe.page.bring_to_front()
    assert explorers[index]["state"]["controls"] == controls
    check_attention(probe.page, probe.page.locator(".lx-root[data-explorer]").nth(index), explorers[index]["state"])
    assert probe.problems() == []
