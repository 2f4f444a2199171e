"""Helpers for the browser tests over the built book (``_build/html``), offline, in Debian's Chromium.

Every page is opened from disk (file://), as a reader opens ``_build/html/index.html``. The CDN
scripts the pages load (require.js, the widget html-manager, anywidget, MathJax) are intercepted and
redirected to the pinned npm packages in ``js/node_modules`` on a local server. The copies the tests open drop
``integrity``/``crossorigin`` so the local require.js is accepted; the built pages keep their CDN
URLs for readers. Any other request to the internet is blocked and reported. Without Chromium, the
built book or the npm packages, the tests skip — or fail when the ``CI`` environment variable is set."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html")  # BOOK_HTML: test another build of the book
NODE_MODULES = ROOT / "js" / "node_modules"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# CDN URL pattern → file under js/node_modules (group 1, when present, is the path inside the package).
CDN_ROUTES = [
    (re.compile(r"^https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/2\.3\.\d+/require(?:\.min)?\.js$"), "requirejs/require.js"),
    (re.compile(r"^https://cdn\.jsdelivr\.net/npm/@jupyter-widgets/html-manager@[^/]+/dist/([^?#]+)"), "@jupyter-widgets/html-manager/dist/{}"),
    (re.compile(r"^https://cdn\.jsdelivr\.net/npm/anywidget@[^/]+/dist/([^?#]+)"), "anywidget/dist/{}"),
    (re.compile(r"^https://cdn\.jsdelivr\.net/npm/mathjax@3[^/]*/([^?#]+)"), "mathjax/{}"),
]
NPM_PREFIX = "__npm__/"
CONTENT_TYPES = {".js": "application/javascript", ".css": "text/css", ".woff": "font/woff", ".woff2": "font/woff2",
                 ".ttf": "font/ttf", ".svg": "image/svg+xml", ".eot": "application/vnd.ms-fontobject", ".json": "application/json"}
_SRI = re.compile(r'\s(?:integrity="[^"]*"|crossorigin="[^"]*"|crossorigin(?=[\s>]))')


def missing(reason: str):
    """Skip locally; fail in CI, where every browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def chapter_pages() -> list[str]:
    """Every chapter in _toc.yml, as a page path relative to _build/html (e.g. book/01_soft_lookup.html)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts") or toc.get("chapters") or [])
    return [f"{Path(f).with_suffix('')}.html" for f in files]


def widget_state(html: str) -> dict:
    """The widget state embedded in a built page ({} when the page has none)."""
    match = re.search(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))["state"] if match else {}


def page_explorers(html: str) -> list[dict]:
    """The explorers displayed on a page, in page order: [{"kind": "AttentionExplorer", "state": {...}}]."""
    state = widget_state(html)
    views = re.findall(r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>', html, re.S)
    out = []
    for view in views:
        model = state.get(json.loads(view)["model_id"], {}).get("state", {})
        anywidget_id = model.get("_anywidget_id", "")
        if anywidget_id.startswith("lessons_lib.explorers."):
            out.append({"kind": anywidget_id.rsplit(".", 1)[1], "state": model})
    return out


class _NpmHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def translate_path(self, path):
        # /__npm__/<package>/<file>: the pinned npm packages the CDN URLs are redirected to (see _serve_cdn).
        if path.startswith("/" + NPM_PREFIX):
            relative = path[len(NPM_PREFIX) + 1 :].split("?")[0].split("#")[0]
            target = (NODE_MODULES / relative).resolve()
            return str(target) if target.is_relative_to(NODE_MODULES.resolve()) else str(NODE_MODULES / "missing")
        return super().translate_path(path)

    def end_headers(self):
        if self.path.startswith("/" + NPM_PREFIX):
            # Cached across pages (so the 4 MB html-manager loads once per session), usable by fonts.
            self.send_header("Cache-Control", "public, max-age=86400")
            self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()


def copy_without_sri(source: Path, target: Path) -> Path:
    """Copy a built site, dropping ``integrity``/``crossorigin`` from its HTML (the original keeps them)."""
    shutil.copytree(source, target)
    for page in target.rglob("*.html"):
        page.write_text(_SRI.sub("", page.read_text(encoding="utf-8")), encoding="utf-8")
    return target


BOOK_EMBED_URL = "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/embed-amd.js"
"""The widget manager the book's pages load (Jupyter Book 1 embeds html-manager 1.0.6)."""


def static_widget_page(views, path: Path, title: str) -> str:
    """Write ``views`` as a static widget page, as the book embeds widgets (no kernel); return its file:// URL."""
    from ipywidgets.embed import embed_minimal_html

    embed_minimal_html(path, views=views, title=title, embed_url=BOOK_EMBED_URL, drop_defaults=False)
    path.write_text(_SRI.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")
    return path.as_uri()


def serve_npm():
    """Serve the pinned npm packages (js/node_modules) that stand in for the CDN; returns (base_url, server)."""
    handler = functools.partial(_NpmHandler, directory=str(NODE_MODULES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def _serve_cdn(route, base_url: str):
    """Redirect a CDN URL to the same file in js/node_modules, on the local server; block anything else."""
    url = route.request.url
    for pattern, target in CDN_ROUTES:
        match = pattern.match(url)
        if match:
            relative = target.format(*match.groups()) if match.groups() else target
            if (NODE_MODULES / relative).is_file():
                route.fulfill(status=302, headers={"Location": f"{base_url}{NPM_PREFIX}{relative}",
                                                   "Access-Control-Allow-Origin": "*"})
                return
            break
    route.abort()


# Errors that every Jupyter Book 1 page shows, from the theme stack rather than from this course:
# sphinx-thebe's config script is emitted twice (a second `const THEBE_JS_URL` is a SyntaxError), and
# pydata-sphinx-theme complains about the empty theme mode it finds on a first visit.
KNOWN_THEME_ERRORS = (
    "Identifier 'THEBE_JS_URL' has already been declared",
    "Got invalid theme mode",
)
# Requests that fail for every reader too and break nothing: the html-manager asks for Font Awesome
# files next to the page (only ipywidgets' own controls use them), and require.js first looks for a
# local `anywidget.js` before the html-manager falls back to the CDN.
KNOWN_MISSING = (
    re.compile(r"/@jupyter-widgets/html-manager/dist/[0-9a-f]+\.(?:woff2?|ttf|eot|svg)$"),
    re.compile(r"/anywidget\.js$"),
)


class PageProbe:
    """A page plus what went wrong on it: uncaught errors, console errors, failed or blocked requests."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda req: self.failed.append(f"{req.url} ({req.failure})"))
        page.on("response", lambda res: res.status >= 400 and self.failed.append(f"{res.url} (HTTP {res.status})"))

    def _console(self, msg):
        # "Failed to load resource" repeats a failed response, which self.failed already records with its URL.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(f"console.error: {msg.text}")

    def problems(self) -> list[str]:
        """Everything that went wrong, minus the known theme-stack noise listed above."""
        errors = [e for e in self.errors if not any(known in e for known in KNOWN_THEME_ERRORS)]
        failed = [f for f in self.failed if not any(p.search(f.split(" (")[0]) for p in KNOWN_MISSING)]
        return errors + [f"request failed: {f}" for f in failed]

    def goto(self, url: str):
        self.page.goto(url, wait_until="load")
        return self


def new_context(browser, base_url: str, width: int = 1280, height: int = 900):
    """A browser context whose internet requests go to js/node_modules on ``base_url``'s server (or are blocked)."""
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme="light")
    context.set_default_timeout(10_000)
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), functools.partial(_serve_cdn, base_url=base_url))
    return context


def new_probe(context, url: str) -> PageProbe:
    """Open ``url`` in a new page of ``context``, recording what goes wrong."""
    return PageProbe(context.new_page()).goto(url)


def screenshot(page, locator, name: str):
    """Save a picture of one element into _build/screenshots/ (whole element, even when taller than the window)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    box = page.evaluate(
        "e => { const r = e.getBoundingClientRect(); return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; }",
        locator.element_handle(),
    )
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True, clip=box)


def axe_violations(page, selector: str = ".lx-root") -> list[dict]:
    """Serious and critical axe-core violations inside the elements matching ``selector``."""
    page.add_script_tag(path=str(NODE_MODULES / "axe-core" / "axe.min.js"))
    result = page.evaluate(
        "async sel => await axe.run({ include: [[sel]] }, { resultTypes: ['violations'] })", selector
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5],
         "why": v["nodes"][0].get("failureSummary", "")}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def wait_for_explorers(page, count: int, timeout: float = 20_000):
    """Wait until ``count`` explorers have rendered (each root carries its current numbers in data-state)."""
    page.wait_for_function(
        "n => document.querySelectorAll('.lx-root[data-state]').length >= n", arg=count, timeout=timeout
    )
    return page.locator(".lx-root[data-explorer]")


