"""Helpers for the browser tests over the built book (``_build/html``), offline, in Debian's Chromium.

Every page is opened from disk (file://), as a reader opens ``_build/html/index.html``. The book serves
its own scripts (require.js, the widget html-manager, anywidget, MathJax) from ``_static/vendor-js``
(_ext/self_contained.py), so every request that is not file:// is blocked, recorded and reported: a page
that needs the network fails its test. Without Chromium or the built book the tests skip — or fail
when the ``CI`` environment variable is set."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

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

# Requests a page may make: its own files, and data/blob URLs it creates itself (anywidget imports each
# explorer's front-end from a blob: URL). Anything else goes to another origin.
LOCAL_URL = re.compile(r"^(?:file|data|blob|about):")


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


def explorer_notebook(path: Path, explorer, data: dict | None = None, title: str = "Explorer") -> None:
    """Write a notebook that shows ``explorer``, stored as `make execute` stores it (its widget view, with
    ``data``'s other mime types beside it, and the widget state), without running a kernel."""
    import nbformat
    from ipywidgets.embed import dependency_state, embed_data

    # Only this explorer's state (by default embed_data takes every widget alive in the process).
    embedded = embed_data(views=[explorer], drop_defaults=False, state=dependency_state([explorer], drop_defaults=False))
    bundle = {"text/plain": type(explorer).__name__, **(data or {}),
              "application/vnd.jupyter.widget-view+json": embedded["view_specs"][0]}
    cell = nbformat.v4.new_code_cell("explorer", execution_count=1,
                                     outputs=[nbformat.v4.new_output("display_data", data=bundle)])
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}"), cell])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": embedded["manager_state"]}
    nbformat.write(notebook, path)


def build_small_book(source: Path, root: str) -> Path:
    """Build the notebook ``source/<root>.ipynb`` as a one-page book with the course's own Sphinx extensions
    (those _config.yml lists); return the built page."""
    import subprocess
    import sys

    config = (ROOT / "_config.yml").read_text()
    local = re.search(r"  local_extensions:\n((?:    \S+: \S+\n)+)", config).group(1)
    (source / "_config.yml").write_text(
        f'title: "{root}"\nexecute:\n  execute_notebooks: "off"\nsphinx:\n  local_extensions:\n'
        + local.replace("_ext/", f"{ROOT / '_ext'}/")
    )
    (source / "_toc.yml").write_text(f"format: jb-book\nroot: {root}\n")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(source), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return source / "_build" / "html" / f"{root}.html"


def static_widget_page(views, path: Path, title: str) -> str:
    """Write ``views`` as a static widget page, as the book embeds widgets (no kernel, the pinned npm
    copies of require.js, the html-manager and anywidget from js/node_modules); return its file:// URL."""
    from ipywidgets.embed import embed_minimal_html

    manager = (NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js").as_uri()
    embed_minimal_html(path, views=views, title=title, embed_url=manager, requirejs=False, cors=False, drop_defaults=False)
    loader = (
        f'<script src="{(NODE_MODULES / "requirejs" / "require.js").as_uri()}"></script>\n'
        f'<script>requirejs.config({{paths: {{anywidget: "{(NODE_MODULES / "anywidget" / "dist" / "index").as_uri()}"}}}});</script>\n'
    )
    path.write_text(path.read_text(encoding="utf-8").replace("<body>", "<body>\n" + loader, 1), encoding="utf-8")
    return path.as_uri()


# Errors that every Jupyter Book 1 page shows, from the theme stack rather than from this course:
# sphinx-thebe's config script is emitted twice (a second `const THEBE_JS_URL` is a SyntaxError), and
# pydata-sphinx-theme complains about the empty theme mode it finds on a first visit.
KNOWN_THEME_ERRORS = (
    "Identifier 'THEBE_JS_URL' has already been declared",
    "Got invalid theme mode",
)
# Requests that fail for every reader too and break nothing: the html-manager asks for Font Awesome
# files next to the page (only ipywidgets' own controls use them).
KNOWN_MISSING = (re.compile(r"/[0-9a-f]{20}\.(?:woff2?|ttf|eot|svg)$"),)


ANYWIDGET_SLOW_INIT = "[anywidget] Failed to initialize model."


class PageProbe:
    """A page plus what went wrong on it: uncaught errors, console errors, failed or blocked requests."""

    def __init__(self, page):
        self.page = page
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.requests: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda req: self.failed.append(f"{req.url} ({req.failure})"))
        page.on("response", lambda res: res.status >= 400 and self.failed.append(f"{res.url} (HTTP {res.status})"))

    def _console(self, msg):
        # "Failed to load resource" repeats a failed response, which self.failed already records with its URL.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(f"console.error: {msg.text}")

    def other_origin_requests(self) -> list[str]:
        """Requests the page made to another origin than its own (all blocked; there must be none)."""
        own = _origin(self.page.url)
        return [url for url in self.requests if not LOCAL_URL.match(url) and _origin(url) != own]

    def problems(self) -> list[str]:
        """Everything that went wrong, minus the known theme-stack noise listed above."""
        errors = [e for e in self.errors if not any(known in e for known in KNOWN_THEME_ERRORS)]
        if any(ANYWIDGET_SLOW_INIT in e for e in errors) and self._every_explorer_rendered():
            # anywidget 0.11 rejects a model that is not ready within 2 s (AbortSignal.timeout(2e3)) even when it
            # goes on to render: on a loaded 2-core test machine a page of many explorers can take that long.
            # Only an explorer that never rendered is a problem, and _every_explorer_rendered() checks that.
            errors = [e for e in errors if ANYWIDGET_SLOW_INIT not in e]
        failed = [f for f in self.failed if not any(p.search(f.split(" (")[0]) for p in KNOWN_MISSING)]
        if not getattr(self.page.context, "javascript_enabled", True):
            failed = [f for f in failed if not f.endswith("(csp)")]  # scripts are refused when JavaScript is off
        remote = self.other_origin_requests()
        failed = [f for f in failed if f.split(" (")[0] not in remote]
        return errors + [f"request failed: {f}" for f in failed] + [f"request to another origin: {url}" for url in remote]

    def goto(self, url: str):
        self.page.goto(url, wait_until="load")
        return self

    def _every_explorer_rendered(self) -> bool:
        """Every widget view the page embeds has become an explorer (or another rendered widget)."""
        return self.page.evaluate(
            "() => { const views = document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]').length;"
            " return views > 0 && document.querySelectorAll('.lx-root[data-explorer]').length >= views; }"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return "file://" if parts.scheme == "file" else f"{parts.scheme}://{parts.netloc}"


# The pydata theme keeps the reader's choice in localStorage ("theme": light, dark or auto; older
# versions read "mode"); set before any page script runs.
_THEME_SCRIPT = "try {{ localStorage.setItem('theme', '{0}'); localStorage.setItem('mode', '{0}'); }} catch (e) {{}}"


def new_context(browser, width: int = 1280, height: int = 900, *, theme: str = "light", javascript: bool = True,
                origin: str | None = None):
    """A browser context in which every request that leaves the page's own files is blocked (and recorded by
    the probes): file://, or ``origin`` (the local server of a test that serves the book over HTTP).
    ``theme``: the book's light or dark mode; ``javascript=False``: a reader whose scripts are off."""
    context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=theme,
                                  java_script_enabled=javascript)
    context.set_default_timeout(10_000)
    context.javascript_enabled = javascript  # read by PageProbe.problems
    context.add_init_script(_THEME_SCRIPT.format(theme))
    allowed = re.escape(origin.rstrip("/")) + "/" if origin else "file:"
    context.route(re.compile(rf"^(?!{allowed}|data:|blob:).*"), lambda route: route.abort("blockedbyclient"))
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
    """Serious and critical axe-core violations inside the elements matching ``selector``.

    ``preload: false``: axe would otherwise fetch the page's stylesheets again by XMLHttpRequest (for
    its CSS-orientation rule), which a page opened from disk refuses, as a reader's browser does.
    """
    page.add_script_tag(path=str(NODE_MODULES / "axe-core" / "axe.min.js"))
    result = page.evaluate(
        "async sel => await axe.run({ include: [[sel]] }, { resultTypes: ['violations'], preload: false })", selector
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


