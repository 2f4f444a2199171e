"""The PDF edition (`make pdf`): one PDF of the whole book, read back with poppler-utils.

Every chapter's title is in its text, there is a contents list, the formulas were typeset (no TeX source
left), every raster figure of the single-page build is in it, every explorer's static picture caption is
in it, and the solutions are printed with their exercises."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from print_edition import BOOK_PDF  # noqa: E402

PDF = ROOT / "_build" / "html" / BOOK_PDF
SINGLE_PAGE = ROOT / "_build" / "print" / "_build" / "singlehtml" / "book" / "intro.html"


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def _poppler(tool: str, *args: str) -> str:
    if shutil.which(tool) is None:
        _missing(f"{tool} is missing; run tools/ensure_poppler.sh (apt-get install poppler-utils)")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def pdf_text() -> str:
    if not PDF.is_file() or not SINGLE_PAGE.is_file():
        _missing(f"the PDF edition is missing ({PDF}); run `make pdf`")
    text = _poppler("pdftotext", "-enc", "UTF-8", str(PDF), "-")
    text = text.replace("\u2019", "'").replace("\u2018", "'")  # the book's typography curls the apostrophes
    return re.sub(r"\s+", " ", text)


def chapter_titles() -> list[str]:
    titles = []
    for entry in re.findall(r"file:\s*(book/\d\d_\S+)", (ROOT / "_toc.yml").read_text()):
        cells = json.loads((ROOT / f"{entry}.ipynb").read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]) if cells[0]["cell_type"] == "markdown" else ""
        match = re.search(r"^# (.+)$", first, re.M)
        assert match, f"{entry} has no '# Title' in its first cell"
        titles.append(re.sub(r"^\d+\.\s*", "", match.group(1)).replace("$", "").strip())
    return titles


def test_pdf_has_every_chapter_and_a_contents_list(pdf_text):
    pages = int(re.search(r"Pages:\s+(\d+)", _poppler("pdfinfo", str(PDF))).group(1))
    titles = chapter_titles()
    assert pages >= 8 * len(titles), f"{pages} pages for {len(titles)} chapters"
    missing = [t for t in titles if t not in pdf_text]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"
    contents = pdf_text[pdf_text.index("Contents") : pdf_text.index("Contents") + 2000]
    assert all(t in contents for t in titles), "the contents list does not name every chapter"


def test_pdf_math_is_typeset(pdf_text):
    for tex in ("\\frac", "\\sqrt", "$$", "\\begin{"):
        assert tex not in pdf_text, f"TeX source {tex!r} printed as text: MathJax did not typeset it"


def test_pdf_has_every_figure_and_explorer_picture(pdf_text):
    page = SINGLE_PAGE.read_text(encoding="utf-8")
    figures = len(re.findall(r'<img[^>]+src="[^"]+\.png"', page))
    listing = _poppler("pdfimages", "-list", str(PDF)).splitlines()[2:]
    images = sum(1 for line in listing if line.split()[2] == "image")
    assert figures > 0 and images >= figures, f"{images} raster images in the PDF, {figures} PNG figures in the book"
    captions = [html_lib.unescape(re.sub(r"<[^>]+>", "", c)) for c in
                re.findall(r'<p class="lx-fallback-caption">(.*?)</p>', page, re.S)]
    missing = [c for c in captions if re.sub(r"\s+", " ", c).strip() not in pdf_text]
    assert not missing, f"explorer pictures missing from the PDF: {missing}"


def test_pdf_prints_the_solutions(pdf_text):
    """Each solution (folded on screen) is printed: its heading and the start of its code."""
    page = SINGLE_PAGE.read_text(encoding="utf-8")
    solutions = page.split('<div class="solution dropdown admonition"')[1:]
    assert solutions and pdf_text.count("Solution to Exercise") == len(solutions)
    unprinted = []
    for solution in solutions:
        code = re.search(r"<pre>(.*?)</pre>", solution, re.S)
        if code:
            first_line = html_lib.unescape(re.sub(r"<[^>]+>", "", code.group(1))).strip().splitlines()[0]
            if re.sub(r"\s+", " ", first_line)[:25] not in pdf_text:
                unprinted.append(first_line)
    assert not unprinted, f"solution code missing from the PDF: {unprinted}"
