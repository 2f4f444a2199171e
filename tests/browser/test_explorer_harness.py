"""Every explorer the package exports, and explorers with long inputs (64 tokens, 12 heads, 6 layers), in
static widget pages built here from Python (no kernel), driven in Chromium.

The page is what ipywidgets' embedding writes (the same require.js, html-manager 1.0.6 and anywidget
front-end the book loads). Every explorer kind is checked in full on the book's own pages
(test_book_pages.py), which store the current front-end (tests/test_book_files.py); this page adds
the sizes the chapters do not reach."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydata_sphinx_theme
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
from lessons_lib.explorers import AttentionExplorer, HeadsExplorer, OnlineSoftmaxExplorer, SoftLookupExplorer, TrainingExplorer
from explorer_checks import CHECKS, check_attention, example, explorer_names


def open_page(browser, npm_url, views, path: Path, **viewport):
    """A static widget page of ``views``, opened and rendered: (context, probe, explorers as embedded)."""
    context = new_context(browser, npm_url, **viewport)
    probe = new_probe(context, static_widget_page(views, path, path.stem))
    wait_for_explorers(probe.page, len(views))
    return context, probe, page_explorers(path.read_text(encoding="utf-8"))


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
def harness(browser, npm_url, tmp_path_factory):
    """The static page of long inputs, loaded once: (probe, explorers on it)."""
    context, probe, explorers = open_page(browser, npm_url, long_explorers(), tmp_path_factory.mktemp("harness") / "long.html")
    yield probe, explorers
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


def test_every_explorer_has_a_browser_check_and_an_example():
    """A new explorer in lessons_lib.explorers.__all__ fails here until explorer_checks.py checks it."""
    names = explorer_names()
    assert {"AttentionExplorer", "SoftLookupExplorer", "HeadsExplorer", "OnlineSoftmaxExplorer"} <= set(names)
    for name in names:
        assert name in CHECKS, f"{name}: add a check to tests/browser/explorer_checks.py CHECKS"
        assert type(example(name)).__name__ == name


@pytest.fixture(scope="module")
def every_explorer(browser, npm_url, tmp_path_factory):
    """One small example of each exported explorer on one static page: (probe, explorers on it)."""
    views = [example(name) for name in explorer_names()]
    context, probe, explorers = open_page(browser, npm_url, views, tmp_path_factory.mktemp("every") / "every.html")
    yield probe, explorers
    context.close()


@pytest.mark.parametrize("name", explorer_names())
def test_each_explorer_responds_and_matches_numpy(every_explorer, name):
    probe, explorers = every_explorer
    probe.page.bring_to_front()
    index = explorer_names().index(name)
    assert explorers[index]["kind"] == name
    CHECKS[name](probe.page, probe.page.locator(".lx-root[data-explorer]").nth(index), explorers[index]["state"])
    assert probe.problems() == []


RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: unisolated, it reverses all the text after it in its paragraph
NOT_ISOLATED = """
([root, labels]) => {
  const RLO = "\\u202e";
  const wrapped = (text) => text.split(RLO).length - 1 === (text.match(/\\u2068[^\\u2069]*\\u202e[^\\u2069]*\\u2069/g) || []).length;
  const bad = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.includes(RLO) || wrapped(node.data)) continue;
    const parent = node.parentElement;
    const isolated = parent.tagName.toLowerCase() === "bdi" || ["isolate", "isolate-override", "plaintext"].includes(getComputedStyle(parent).unicodeBidi);
    // the label alone, in an isolating element: the override ends with it
    if (!isolated || parent.textContent !== node.data || !labels.includes(node.data)) bad.push(parent.outerHTML.slice(0, 160));
  }
  for (const element of root.querySelectorAll("*")) {
    for (const name of ["aria-label", "title", "aria-valuetext"]) {
      const value = element.getAttribute(name);
      if (value && value.includes(RLO) && !wrapped(value)) bad.push(`${name}="${value}"`);
    }
  }
  return bad;
}
"""


def _strings(x):
    if isinstance(x, str):
        return [x]
    values = x.values() if isinstance(x, dict) else x if isinstance(x, list) else []
    return [s for item in values for s in _strings(item)]


def hostile_label_explorers():
    rng = np.random.default_rng(5)
    tokens = ["The", f"{RLO}cat", "sat", f"on{RLO}"]
    labels = [f"{RLO}head A", "head B"]
    return [
        AttentionExplorer(tokens, *rng.normal(size=(3, 4, 2)), title=f"{RLO}sentence"),
        SoftLookupExplorer([[1, 0], [0, 1]], [1.0, 2.0], [f"{RLO}cat", "dog"], axis_labels=(f"{RLO}x", "y")),
        HeadsExplorer(tokens, ll.softmax(rng.normal(size=(2, 2, 4, 4))), head_labels=labels, layer_labels=[f"{RLO}L0", "L1"]),
        OnlineSoftmaxExplorer(rng.normal(size=2), rng.normal(size=(4, 2)), rng.normal(size=(4, 1)), 2, key_labels=[f"{RLO}a", "b", "c", "d"]),
        TrainingExplorer(tokens, ll.softmax(rng.normal(size=(3, 2, 4, 4))), [0, 1, 2], [3.0, 2.0, 1.0], head_labels=labels),
    ]


def test_labels_with_a_right_to_left_override_are_isolated(browser, npm_url, tmp_path):
    """A label with U+202E must not reverse the caption around it: every label is in <bdi> (or FSI…PDI in attributes)."""
    views = hostile_label_explorers()
    context, probe, _ = open_page(browser, npm_url, views, tmp_path / "rlo.html")
    roots = probe.page.locator(".lx-root[data-explorer]")
    roots.nth(0).locator("button.lx-token").nth(1).click()  # the caption now names the hostile token
    roots.nth(2).locator("button.lx-token").nth(1).click()
    bad = {}
    for i, view in enumerate(views):
        labels = [x for x in _strings(view.get_state()) if RLO in x]
        bad[type(view).__name__] = probe.page.evaluate(NOT_ISOLATED, [roots.nth(i).element_handle(), labels])
    assert not any(bad.values()), f"labels not isolated: {bad}"
    # The caption around the label reads left to right: "step by step" ends the line, not starts it.
    caption = roots.nth(0).locator("caption")
    start, end = caption.evaluate(
        "c => { const box = (t, a, b) => { const r = document.createRange(); r.setStart(t, a); r.setEnd(t, b); return r.getBoundingClientRect(); };"
        " const first = c.firstChild, last = c.lastChild;"
        " return [box(first, 0, 5).left, box(last, last.data.length - 4, last.data.length).left]; }"
    )
    assert end > start, "“step by step” was drawn left of “Query”: the label reversed the caption"
    assert probe.problems() == []
    context.close()


# --- the book's light and dark themes, and a phone ------------------------------------------------------------

THEME_CSS = next(
    Path(pydata_sphinx_theme.__file__).parent.glob("theme/pydata_sphinx_theme/static/styles/pydata-sphinx-theme.css")
)
LUMINANCE = """
(colour) => {
  const c = document.createElement("canvas").getContext("2d"); c.fillStyle = colour; c.fillRect(0, 0, 1, 1);
  const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
  const lin = (x) => (x /= 255) <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}
"""


@pytest.fixture(scope="module")
def themed(browser, npm_url, tmp_path_factory):
    """Every explorer on a page styled by the book's theme (pydata-sphinx-theme); mode set per test."""
    views = [example(name) for name in explorer_names()]
    context, probe, _ = open_page(browser, npm_url, views, tmp_path_factory.mktemp("themed") / "themed.html")
    probe.page.add_style_tag(path=str(THEME_CSS))
    yield probe
    context.close()


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_explorers_follow_the_book_theme_and_stay_readable(themed, mode):
    page = themed.page
    page.bring_to_front()
    page.evaluate("mode => { document.documentElement.dataset.theme = mode; }", mode)
    page_background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    roots = page.locator(".lx-root[data-explorer]")
    for i in range(roots.count()):
        root = roots.nth(i)
        colours = root.evaluate("r => { const s = getComputedStyle(r); return [s.backgroundColor, s.color]; }")
        background, text = (page.evaluate(LUMINANCE, c) for c in colours)
        if mode == "dark":
            assert background < 0.05 and text > 0.4, f"{root.get_attribute('data-explorer')}: not dark ({colours}, page {page_background})"
        else:
            assert background > 0.9 and text < 0.1, f"{root.get_attribute('data-explorer')}: not light ({colours})"
        screenshot(page, root, f"theme-{mode}-{root.get_attribute('data-explorer')}.png")
    violations = axe_violations(page)  # colour contrast included
    assert not violations, json.dumps(violations, indent=1, ensure_ascii=False)
    assert themed.problems() == []


def test_explorers_fit_a_phone_or_scroll_inside_their_box(browser, npm_url, tmp_path):
    """At 390 × 844 the page never scrolls sideways; a wider explorer scrolls in its own box, with a cue; tap targets >= 24 px."""
    names = explorer_names()
    rng = np.random.default_rng(8)
    views = [example(name) for name in names] + [AttentionExplorer([f"w{i}" for i in range(24)], *rng.normal(size=(3, 24, 8)))]
    context, probe, _ = open_page(browser, npm_url, views, tmp_path / "phone.html", width=390, height=844)
    page = probe.page
    assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 390, "the page scrolls sideways"
    roots = page.locator(".lx-root[data-explorer]")
    for i in range(roots.count()):
        root = roots.nth(i)
        kind = root.get_attribute("data-explorer")
        box = root.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, f"{kind} sticks out of the window"
        screenshot(page, root, f"phone-{i}-{kind}.png")
        # Whatever is wider than its box scrolls inside it, and that box shows the edge shadows.
        for region in root.evaluate(
            "r => [r, ...r.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))"
            ".map(e => getComputedStyle(e).backgroundImage)"
        ):
            assert "radial-gradient" in region, f"{kind}: a scrolling box without a scroll cue"
        small = root.evaluate(
            "r => [...r.querySelectorAll('button, input, select')].filter(e => e.offsetParent !== null)"
            ".map(e => [e.outerHTML.slice(0, 80), (e.closest('label') || e).getBoundingClientRect().height])"  # a label is the input's target too
            ".filter(([, h]) => h < 24)"
        )
        assert not small, f"{kind}: tap targets under 24 px tall: {small[:5]}"
    assert probe.problems() == []
    context.close()
