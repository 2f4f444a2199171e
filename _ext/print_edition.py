"""The print edition: one PDF of the whole book (``make pdf``: Chromium prints the single-page build,
tools/book_pdf.py), and print rules that every page shares.

- ``singlehtml`` builds: MyST-NB (folded code cells) and sphinx-design (dropdowns) register their nodes
  for the ``html`` builder only, and Sphinx looks handlers up by builder name first, so the single-page
  build fails without copying them.
- print.css: solutions print unfolded; the theme's buttons are not printed.
- The download menu of every page links the book's PDF (``book_pdf`` below, written beside the HTML).
"""

from __future__ import annotations

from sphinx.application import Sphinx

BOOK_PDF = "self-attention-executable.pdf"  # in _build/html/, next to index.html (tools/book_pdf.py writes it)


def add_book_pdf_to_download_menu(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append({
                "type": "link",
                "url": context["pathto"](BOOK_PDF, 1),
                "text": "book .pdf",
                "tooltip": "Download the whole book as one PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })


def html_handlers_for_singlehtml(app: Sphinx) -> None:
    """Give the single-page builder every node handler an extension registered for ``html`` only."""
    if app.builder.name == "singlehtml":
        handlers = app.registry.translation_handlers
        for node_name, visit_depart in handlers.get("html", {}).items():
            handlers.setdefault("singlehtml", {}).setdefault(node_name, visit_depart)


def setup(app: Sphinx):
    app.connect("builder-inited", html_handlers_for_singlehtml)
    app.add_css_file("print.css")  # in _ext/static/, which self_contained adds to html_static_path
    app.connect("html-page-context", add_book_pdf_to_download_menu, priority=600)  # after the theme's buttons (500/501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
