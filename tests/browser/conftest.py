"""Fixtures for the browser tests: the built book opened from disk, the CDN stand-ins on a local server,
and one Chromium per session.

The helpers (offline CDN routing, page probes, axe-core, screenshots) live in browser_support.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, HTML_DIR, NODE_MODULES, copy_without_sri, missing, serve_npm


@pytest.fixture(scope="session")
def npm_url():
    """A local server for the pinned npm packages that stand in for the pages' CDN scripts."""
    url, server = serve_npm()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def book_url(tmp_path_factory):
    """The built book as a reader opens it from disk: a file:// URL (of a copy whose pages do not pin
    the CDN scripts' hashes, so that the local stand-ins are accepted)."""
    if not (HTML_DIR / "index.html").is_file():
        missing(f"the built book is missing ({HTML_DIR}); run `make book` first")
    return copy_without_sri(HTML_DIR, tmp_path_factory.mktemp("book") / "html").as_uri() + "/"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        missing(f"Chromium not found at {CHROMIUM}; run tools/ensure_chromium.sh")
    for needed in ("requirejs", "@jupyter-widgets/html-manager", "anywidget", "mathjax", "axe-core"):
        if not (NODE_MODULES / needed).is_dir():
            missing(f"js/node_modules/{needed} is missing; run `make js-deps` (npm ci in js/)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright Python package is not installed")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


