"""Labels that try to break out of the page's embedded widget state (issue 17, item 1).

A tiny book is built here, with the course's Sphinx extensions, from a notebook whose explorer has hostile
token labels (the stored outputs and widget state are written from Python; no kernel runs). The state
must parse as JSON up to the real end of its ``<script>`` element, as an HTML parser ends it, and in
Chromium no injected markup may run while the explorer shows the labels as plain text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from browser_support import build_small_book, explorer_notebook, new_context, new_probe, wait_for_explorers

HOSTILE_LABELS = [
    '</SCRIPT><img src=x onerror="window.__injected = 1">',
    '</script ><img src=x onerror="window.__injected = 2">',
    "<!--<script>",
    '<img src=x onerror="window.__injected = 3">',
]
STATE_OPEN = '<script type="application/vnd.jupyter.widget-state+json">'
# Where an HTML parser ends a script element's text: "</script" (any case) then whitespace, "/" or ">".
SCRIPT_END = re.compile(r"</script[\t\n\f\r />]", re.I)


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> Path:
    pytest.importorskip("anywidget")
    from lessons_lib.explorers import AttentionExplorer

    rng = np.random.default_rng(0)
    explorer = AttentionExplorer(HOSTILE_LABELS, rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
    source = tmp_path_factory.mktemp("hostile_book")
    explorer_notebook(source / "hostile.ipynb", explorer, title="Hostile labels")
    return build_small_book(source, "hostile")


def test_widget_state_parses_as_json_up_to_the_real_end_tag(hostile_page):
    html = hostile_page.read_text(encoding="utf-8")
    start = html.index(STATE_OPEN) + len(STATE_OPEN)
    body = html[start : SCRIPT_END.search(html, start).start()]
    assert "<" not in body, "every '<' in the embedded state must be escaped (\\u003c)"
    state = json.loads(body)["state"]
    tokens = [model["state"]["tokens"] for model in state.values() if "tokens" in model["state"]]
    assert tokens == [HOSTILE_LABELS], "the labels must survive the escaping unchanged"


def test_no_injected_script_runs_and_labels_show_as_text(browser, hostile_page):
    context = new_context(browser)
    probe = new_probe(context, hostile_page.as_uri())
    try:
        wait_for_explorers(probe.page, 1)
        probe.page.wait_for_timeout(300)  # an injected onerror would have fired by now
        assert probe.page.evaluate("() => window.__injected") is None, "markup from a label ran in the page"
        assert probe.page.locator("img[src='x']").count() == 0
        text = probe.page.locator(".lx-root").first.inner_text()
        assert "</SCRIPT>" in text and "<!--<script>" in text, "the labels must be shown as plain text"
        assert probe.problems() == [], "\n".join(probe.problems())
    finally:
        context.close()
