"""The built book in Chromium, opened from disk (file://), offline and with no kernel: every page in _toc.yml loads cleanly, its
math renders, every explorer on it renders, responds and shows numpy's numbers, and passes axe-core.

Each page is loaded once and shared by its tests (the checks start from whatever the explorer shows).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from browser_support import (
    HTML_DIR,
    ROOT,
    axe_violations,
    chapter_pages,
    missing,
    new_context,
    new_probe,
    page_explorers,
    screenshot,
    wait_for_explorers,
)
from explorer_checks import CHECKS, explorer_names

PAGES = chapter_pages()
EXPLORER_CALL = re.compile(r"\b(?:" + "|".join(explorer_names()) + r")(?:\.from_\w+)?\(")  # a constructor or a from_… classmethod


def _explorers_in_built_pages():
    """(page, index, kind) for every explorer in the built pages, found when the tests are collected."""
    found = []
    for page in PAGES:
        path = HTML_DIR / page
        if path.is_file():
            for index, explorer in enumerate(page_explorers(path.read_text(encoding="utf-8"))):
                found.append(pytest.param(page, index, explorer["kind"], id=f"{Path(page).stem}-{index}-{explorer['kind']}"))
    return found or [pytest.param(None, None, None, id="no-built-book")]


def _explorer_calls_in_notebook(page: str) -> int:
    """How many explorers the chapter's notebook displays (code cells that construct one)."""
    notebook = ROOT / Path(page).with_suffix(".ipynb")
    if not notebook.is_file():
        return 0
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum(1 for cell in cells if cell["cell_type"] == "code" and EXPLORER_CALL.search("".join(cell["source"])))


@pytest.fixture(scope="module")
def loaded_pages(browser, book_url, npm_url):
    """page path → (probe, explorers on it); each page is opened once, on first use."""
    cache = {}
    context = new_context(browser, npm_url)  # one context: the CDN stand-ins are fetched once

    def load(page: str):
        if page not in cache:
            if not (HTML_DIR / page).is_file():
                pytest.fail(f"{page} is listed in _toc.yml but was not built")
            html = (HTML_DIR / page).read_text(encoding="utf-8")
            explorers = page_explorers(html)
            probe = new_probe(context, book_url + page)
            if explorers:
                wait_for_explorers(probe.page, len(explorers))
            cache[page] = (probe, explorers, html)
        cache[page][0].page.bring_to_front()  # a background tab gets no animation frames: Playwright would crawl
        return cache[page]

    yield load
    context.close()


@pytest.mark.parametrize("page", PAGES, ids=[Path(p).stem for p in PAGES])
def test_page_loads_cleanly_with_math_and_explorers(loaded_pages, page):
    probe, explorers, html = loaded_pages(page)
    assert probe.page.url.startswith("file://"), "the book is tested as a reader opens it: from disk"
    # Explorers that the notebook displays must be live in the page: widget state saved at execution.
    expected = _explorer_calls_in_notebook(page)
    if expected:
        assert "application/vnd.jupyter.widget-state+json" in html, (
            f"{page}: no widget state in the page; re-execute the notebook (make execute) so explorers stay live"
        )
    assert len(explorers) >= expected, f"{page}: the notebook shows {expected} explorers, the page has {len(explorers)}"
    roots = probe.page.locator(".lx-root[data-explorer]")
    assert roots.count() == len(explorers)
    for index, explorer in enumerate(explorers):
        root = roots.nth(index)
        box = root.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, f"{explorer['kind']} did not render"
        screenshot(probe.page, root, f"{Path(page).stem}-{index}-{explorer['kind']}.png")
    # Math: MathJax typesets every formula, without errors.
    if 'class="math' in html:
        probe.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        probe.page.evaluate("() => MathJax.startup.promise")
        assert probe.page.locator("mjx-container").count() > 0, f"{page}: MathJax rendered nothing"
        assert probe.page.locator("mjx-merror").count() == 0, f"{page}: MathJax reports errors"
    assert probe.problems() == [], f"{page}: " + "\n".join(probe.problems())


@pytest.mark.parametrize("page, index, kind", _explorers_in_built_pages())
def test_explorer_in_book_responds_and_matches_numpy(loaded_pages, page, index, kind):
    if page is None:
        missing(f"the built book is missing ({HTML_DIR}); run `make book` first")
    probe, explorers, _ = loaded_pages(page)
    root = probe.page.locator(".lx-root[data-explorer]").nth(index)
    CHECKS[kind](probe.page, root, explorers[index]["state"])
    assert probe.problems() == [], "\n".join(probe.problems())


def _pages_with_explorers():
    pages = sorted({p.values[0] for p in _explorers_in_built_pages() if p.values[0] is not None})
    return [pytest.param(p, id=Path(p).stem) for p in pages] or [pytest.param(None, id="no-built-book")]


@pytest.mark.parametrize("page", _pages_with_explorers())
def test_explorers_have_no_serious_accessibility_violations(loaded_pages, page):
    if page is None:
        missing(f"the built book is missing ({HTML_DIR}); run `make book` first")
    probe, explorers, _ = loaded_pages(page)
    violations = axe_violations(probe.page)
    assert not violations, json.dumps(violations, indent=1, ensure_ascii=False)
