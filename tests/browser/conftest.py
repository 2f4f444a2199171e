"""Fixtures for the browser tests: the built book over a local server, and one Chromium per session.

The helpers (offline CDN routing, page probes, axe-core, screenshots) live in browser_support.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, HTML_DIR, NODE_MODULES, missing, serve


@pytest.fixture(scope="session")
def book_url():
    if not (HTML_DIR / "index.html").is_file():
        missing(f"the built book is missing ({HTML_DIR}); run `make book` first")
    url, server = serve(HTML_DIR)
    yield url
    server.shutdown()
    server.server_close()


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


