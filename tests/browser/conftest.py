"""Fixtures for the browser tests: the built book opened from disk, and one Chromium per session.

The helpers (request blocking, page probes, axe-core, screenshots) live in browser_support.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, HTML_DIR, NODE_MODULES, missing


@pytest.fixture(scope="session")
def book_url():
    """The built book as a reader opens it from disk: a file:// URL of _build/html/."""
    if not (HTML_DIR / "index.html").is_file():
        missing(f"the built book is missing ({HTML_DIR}); run `make book` first")
    return HTML_DIR.as_uri() + "/"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        missing(f"Chromium not found at {CHROMIUM}; run tools/ensure_chromium.sh")
    for needed in ("requirejs", "@jupyter-widgets/html-manager", "anywidget", "axe-core"):
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
