"""Labels that try to break out of the page's embedded widget state (issue 17, item 1).

A tiny book is built here, with the course's Sphinx extensions, from a notebook whose explorer has hostile
token labels (the stored outputs and widget state are written from Python; no kernel runs). The state
must parse as JSON up to the real end of its ``<script>`` element, as an HTML parser ends it, and in
Chromium no injected markup may run while the explorer shows the labels as plain text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser_support import ROOT, new_context, new_probe, wait_for_explorers

HOSTILE_LABELS = [
    '</SCRIPT><img src=x onerror="window.__injected = 1">',
    '</script ><img src=x onerror="window.__injected = 2">',
    "<!--<script>",
    '<img src=x onerror="window.__injected = 3">',
]
STATE_OPEN = '<script type="application/vnd.jupyter.widget-state+json">'
# Where an HTML parser ends a script element's text: "</script" (any case) then whitespace, "/" or ">".
SCRIPT_END = re.compile(r"</script[\t\n\f\r />]", re.I)


def hostile_notebook(path: Path) -> None:
    """A notebook with one stored explorer output (and its widget state), as `make execute` stores them."""
    import nbformat
    from ipywidgets.embed import embed_data

    from lessons_lib.explorers import AttentionExplorer

    rng = np.random.default_rng(0)
    explorer = AttentionExplorer(HOSTILE_LABELS, rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))
    data = embed_data(views=[explorer], drop_defaults=False)
    cell = nbformat.v4.new_code_cell("explorer", execution_count=1, outputs=[nbformat.v4.new_output(
        "display_data", data={"text/plain": "AttentionExplorer", "application/vnd.jupyter.widget-view+json": data["view_specs"][0]})])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Hostile labels"), cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": data["manager_state"]}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> Path:
    pytest.importorskip("anywidget")
    source = tmp_path_factory.mktemp("hostile_book")
    hostile_notebook(source / "hostile.ipynb")
    config = (ROOT / "_config.yml").read_text()
    local = re.search(r"  local_extensions:\n((?:    \S+: \S+\n)+)", config).group(1)
    (source / "_config.yml").write_text(
        'title: "hostile labels"\nexecute:\n  execute_notebooks: "off"\nsphinx:\n  local_extensions:\n'
        + local.replace("_ext/", f"{ROOT / '_ext'}/")
    )
    (source / "_toc.yml").write_text("format: jb-book\nroot: hostile\n")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(source), "-W", "-n", "--keep-going"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return source / "_build" / "html" / "hostile.html"


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
