"""The built book as other readers get it: in dark mode, on a phone, with JavaScript off, and from a
sub-path of a static web server. Every request that leaves the book's own files is blocked and counted.

- dark mode (the theme's toggle, kept in localStorage): the page is dark, explorers render, axe-core finds
  no serious or critical violation (colour contrast included) in the explorers;
- phone, 390 × 844: no page scrolls sideways; explorer controls are at least 24 × 24 px to tap;
- JavaScript off: every explorer's place shows its static picture (and its one-line summary);
- served over HTTP under a sub-path: the pages load nothing from another origin.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from browser_support import (
    HTML_DIR,
    axe_violations,
    build_small_book,
    chapter_pages,
    explorer_notebook,
    missing,
    new_context,
    new_probe,
    page_explorers,
    screenshot,
    wait_for_explorers,
)

PAGES = chapter_pages()
PAGE_IDS = [Path(p).stem for p in PAGES]
PHONE = {"width": 390, "height": 844}
TAP_MIN = 24  # px, WCAG 2.2 target size (minimum)
# Explorer controls a reader taps; a radio button or checkbox inside a <label> is tapped through its label.
TAP_TARGETS_JS = """root => [...root.querySelectorAll('button, input, select, [role=button], [role=slider], [role=tab]')]
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden')
  .map(e => { const t = e.closest('label') || e; const r = t.getBoundingClientRect();
              return {what: (t.outerHTML || '').slice(0, 80), width: r.width, height: r.height}; })"""
FALLBACK_PICTURES_JS = """() => [...document.querySelectorAll('.lx-fallback-picture img')]
  .map(img => ({visible: img.getClientRects().length > 0 && img.getBoundingClientRect().width > 50,
                loaded: img.complete && img.naturalWidth > 0, alt: img.alt}))"""


def built(page: str) -> str:
    if not (HTML_DIR / page).is_file():
        missing(f"{page} is not built ({HTML_DIR}); run `make book` first")
    return (HTML_DIR / page).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def contexts(browser):
    """One browser context per reader: dark (desktop), phone (light) and no-JavaScript (desktop)."""
    made = {
        "dark": new_context(browser, theme="dark"),
        "phone": new_context(browser, **PHONE),
        "nojs": new_context(browser, javascript=False),
    }
    yield made
    for context in made.values():
        context.close()


@contextlib.contextmanager
def open_page(contexts, mode: str, book_url: str, page: str):
    """The page in the ``mode`` reader's context, explorers rendered (unless JavaScript is off); after the
    test's checks, nothing may have gone wrong on it (requests to other origins included)."""
    html = built(page)
    probe = new_probe(contexts[mode], book_url + page)
    try:
        explorers = page_explorers(html)
        if mode != "nojs" and explorers:
            wait_for_explorers(probe.page, len(explorers))
        yield probe, explorers
        assert probe.problems() == [], "\n".join(probe.problems())
    finally:
        probe.page.close()


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_dark_mode_page_is_dark_and_explorers_are_accessible(contexts, book_url, page):
    with open_page(contexts, "dark", book_url, page) as (probe, explorers):
        assert probe.page.evaluate("() => document.documentElement.dataset.theme") == "dark"
        background = probe.page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        channels = [int(c) for c in background[background.index("(") + 1 : -1].split(",")[:3]]
        assert max(channels) < 80, f"{page}: the dark theme's page background is {background}"
        for index, explorer in enumerate(explorers):
            screenshot(probe.page, probe.page.locator(".lx-root[data-explorer]").nth(index),
                       f"dark-{Path(page).stem}-{index}-{explorer['kind']}.png")
        if explorers:
            violations = axe_violations(probe.page)
            assert not violations, json.dumps(violations, indent=1, ensure_ascii=False)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_phone_page_does_not_scroll_sideways_and_controls_are_tappable(contexts, book_url, page):
    with open_page(contexts, "phone", book_url, page) as (probe, explorers):
        width = probe.page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{page} is {width} px wide at a {PHONE['width']} px viewport: it scrolls sideways"
        small = []
        roots = probe.page.locator(".lx-root[data-explorer]")
        for index in range(roots.count()):
            for target in roots.nth(index).evaluate(TAP_TARGETS_JS):
                if target["width"] < TAP_MIN or target["height"] < TAP_MIN:
                    small.append(f"{explorers[index]['kind']}: {target['width']:.0f}×{target['height']:.0f} {target['what']}")
        assert not small, f"{page}: explorer controls smaller than {TAP_MIN} px:\n" + "\n".join(small[:10])


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_without_javascript_every_explorer_shows_its_picture(contexts, book_url, page):
    with open_page(contexts, "nojs", book_url, page) as (probe, explorers):
        pictures = probe.page.evaluate(FALLBACK_PICTURES_JS)
        assert len(pictures) == len(explorers), (
            f"{page}: {len(explorers)} explorers but {len(pictures)} static pictures; the explorers' stored outputs need "
            "an image/svg+xml picture (re-execute the notebook with the current lessons_lib: make execute)"
        )
        assert all(p["visible"] and p["loaded"] for p in pictures), pictures
        assert all(p["alt"] and "object at 0x" not in p["alt"] for p in pictures), pictures
        assert probe.page.locator(".lx-root").count() == 0


FIXTURE_SVG = ('<svg class="lx-fallback" xmlns="http://www.w3.org/2000/svg" width="480" height="200" viewBox="0 0 480 200">'
               '<rect width="480" height="200" fill="#eef"/><text x="20" y="100">weights 0.39 0.43 0.18</text></svg>')
FIXTURE_SUMMARY = "Soft lookup of query (1, 0) over cat, dog, car: weights 0.39, 0.43, 0.18"


@pytest.fixture(scope="module")
def fallback_page(tmp_path_factory) -> Path:
    """A one-page book whose explorer output carries a picture and a summary beside its widget view."""
    pytest.importorskip("anywidget")
    from lessons_lib.explorers import SoftLookupExplorer

    explorer = SoftLookupExplorer(np.array([[0.9, 0], [1, 0.1], [0.1, 1]]), np.array([[1, 0], [0, 1], [0.5, 0.5]]),
                                  ["cat", "dog", "car"])
    source = tmp_path_factory.mktemp("fallback_book")
    explorer_notebook(source / "fallback.ipynb", explorer, {"image/svg+xml": FIXTURE_SVG, "text/plain": FIXTURE_SUMMARY})
    return build_small_book(source, "fallback")


@pytest.mark.parametrize("reader", ["nojs", "live", "print"])
def test_fallback_picture_shows_exactly_when_the_live_explorer_does_not(browser, fallback_page, reader):
    context = new_context(browser, javascript=reader != "nojs")
    try:
        probe = new_probe(context, fallback_page.as_uri())
        page = probe.page
        if reader != "nojs":
            wait_for_explorers(page, 1)
        if reader == "print":
            page.emulate_media(media="print")
        pictures = page.evaluate(FALLBACK_PICTURES_JS)
        assert len(pictures) == 1 and pictures[0]["loaded"] and pictures[0]["alt"] == FIXTURE_SUMMARY, pictures
        caption = page.locator(".lx-fallback-caption")
        if reader == "live":
            assert not pictures[0]["visible"] and not caption.is_visible(), "the picture must hide once the explorer renders"
            assert page.locator(".lx-root").is_visible()
        else:
            assert pictures[0]["visible"] and caption.inner_text() == FIXTURE_SUMMARY
            if reader == "print":
                assert not page.locator(".lx-root").is_visible(), "in print the live widget gives way to the picture"
        assert probe.problems() == [], "\n".join(probe.problems())
    finally:
        context.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def translate_path(self, path):
        # The book lives under /course/self-attention/ on this host, as on a project's GitHub Pages site.
        prefix = "/course/self-attention/"
        return super().translate_path("/" + path[len(prefix):] if path.startswith(prefix) else "/missing")


def test_book_under_a_sub_path_of_a_web_server_loads_nothing_from_another_origin(browser):
    page = next((p for p in PAGES if (HTML_DIR / p).is_file() and page_explorers(built(p))), None)
    if page is None:
        missing("no built chapter with an explorer; run `make book` first")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML_DIR)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    context = new_context(browser, origin=origin)
    try:
        probe = new_probe(context, f"{origin}/course/self-attention/{page}")
        wait_for_explorers(probe.page, len(page_explorers(built(page))))
        probe.page.evaluate("() => MathJax.startup.promise")
        assert probe.page.locator("mjx-container").count() > 0
        assert len(probe.requests) > 10 and probe.other_origin_requests() == []
        assert probe.problems() == [], "\n".join(probe.problems())
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def test_print_shows_solutions_unfolded(browser, book_url):
    """Solutions are folded on screen; printed (and in the PDF edition) they are shown."""
    page = next((p for p in PAGES if 'class="solution dropdown' in built(p)), None)
    assert page is not None, "no chapter has a folded solution (the chapter standard asks for them)"
    context = new_context(browser)
    try:
        probe = new_probe(context, book_url + page)
        first_code = probe.page.locator(".solution.dropdown .highlight pre").first
        probe.page.wait_for_function("() => document.querySelector('.solution.dropdown.toggle-hidden')")
        assert not first_code.is_visible(), "on screen, solutions start folded"
        probe.page.emulate_media(media="print")
        assert first_code.is_visible(), "in print, solutions must be shown"
    finally:
        context.close()
