"""Print the whole book to one PDF: Chromium (Playwright) prints the single-page build after MathJax has
typeset every formula. Usage (the Makefile's `pdf` target builds the single page first):

    python tools/book_pdf.py _build/print/_build/singlehtml/book/intro.html   # writes _build/html/self-attention-executable.pdf

Offline like the book: every request that is not a file of the build is blocked, and the script fails if
one was made. The printed page uses the book's print rules (_ext/static/print.css: solutions unfolded;
_ext/static/explorer-fallback.css: each explorer's static picture instead of the live widget). A
"Contents" list of the chapters, with links, is added before the first chapter; the PDF also carries an
outline (bookmarks) of the headings.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from print_edition import BOOK_PDF  # noqa: E402  (the name the book's download menu links)

DEFAULT_PDF = ROOT / "_build" / "html" / BOOK_PDF
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# A contents list from the chapters' titles (in the single page, each page of the table of contents is a
# section of the toctree wrapper, titled by an h2), inserted after the book's own title; each starts a new page.
CONTENTS_JS = """() => {
  const article = document.querySelector('article') || document.body;
  const chapters = [...article.querySelectorAll('.toctree-wrapper > section > h2')];
  const nav = document.createElement('nav');
  nav.className = 'lx-print-contents';
  nav.innerHTML = '<h2>Contents</h2><ul style="list-style: none"></ul>';  // titles carry their own numbers
  for (const h of chapters) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = '#' + h.parentElement.id;
    a.textContent = h.textContent.replace(/#$/, '').trim();
    li.appendChild(a);
    nav.querySelector('ul').appendChild(li);
    h.parentElement.style.breakBefore = 'page';
  }
  const title = article.querySelector('h1');
  title.after(nav);
  document.querySelector('#jb-print-toc')?.remove();  // the theme's print-only list of the page's sections, unlinked
  document.querySelectorAll('details').forEach(d => { if (!d.classList.contains('hide')) d.open = true; });
  return chapters.map(h => h.textContent.trim());
}"""
WAIT_JS = """async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  await document.fonts.ready;
  await Promise.all([...document.images].map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  return {math: document.querySelectorAll('mjx-container').length, errors: document.querySelectorAll('mjx-merror').length};
}"""
FOOTER = '<div style="font-size:8px;width:100%;text-align:center;color:#555"><span class="pageNumber"></span> / <span class="totalPages"></span></div>'


def at_build_root(page_html: Path) -> Path:
    """The single page, at the top of its build. Sphinx's singlehtml builder writes the root document
    (book/intro.html) with links relative to the build's top (_static/, _images/), so print a copy there."""
    page_html = page_html.resolve()
    root = next((p for p in page_html.parents if (p / "_static").is_dir()), page_html.parent)
    if root == page_html.parent:
        return page_html
    copy = root / "print-edition.html"
    copy.write_text(page_html.read_text(encoding="utf-8"), encoding="utf-8")
    return copy


def print_pdf(page_html: Path, pdf: Path) -> dict:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        sys.exit(f"Chromium not found at {CHROMIUM}; run tools/ensure_chromium.sh")
    remote = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1100, "height": 1400})

        def block(route):
            remote.append(route.request.url)
            route.abort()

        context.route(re.compile(r"^(?!file:|data:|blob:).*"), block)
        page = context.new_page()
        page.goto(at_build_root(page_html).as_uri(), wait_until="load")
        page.emulate_media(media="print")
        chapters = page.evaluate(CONTENTS_JS)
        typeset = page.evaluate(WAIT_JS)
        if typeset["errors"]:
            sys.exit(f"MathJax reports {typeset['errors']} errors in {page_html}")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(pdf), format="A4", print_background=True, outline=True, tagged=True,
                 display_header_footer=True, header_template="<span></span>", footer_template=FOOTER,
                 margin={"top": "16mm", "bottom": "16mm", "left": "14mm", "right": "14mm"})
        browser.close()
    if remote:
        sys.exit(f"the single page asked other origins (blocked): {remote[:5]}")
    return {"chapters": chapters, "formulas": typeset["math"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the single-page build (singlehtml), e.g. _build/print/_build/singlehtml/book/intro.html")
    parser.add_argument("pdf", type=Path, nargs="?", default=DEFAULT_PDF, help=f"where to write the PDF (default {DEFAULT_PDF})")
    args = parser.parse_args()
    result = print_pdf(args.page, args.pdf)
    print(f"wrote {args.pdf}: {len(result['chapters'])} chapters, {result['formulas']} formulas typeset")


if __name__ == "__main__":
    main()
