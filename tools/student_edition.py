"""Build the student edition: every chapter notebook without its solutions and without outputs.

The book keeps each solution folded under its exercise. The student edition, built from the same
sources, drops every cell from a ``{solution-start}`` cell to its ``{solution-end}`` cell, clears all
outputs and stored widget state, and keeps everything else (the Colab setup cell, the starter cells
and the check cells, which print "Not yet" until the student's own answer is right).

    python tools/student_edition.py [--out _build/student]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
DEFAULT_OUT = ROOT / "_build" / "student"


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def is_solution_start(cell) -> bool:
    return cell["cell_type"] == "markdown" and "{solution-start}" in _source(cell)


def is_solution_end(cell) -> bool:
    return cell["cell_type"] == "markdown" and "{solution-end}" in _source(cell)


def student_cells(cells: list) -> list:
    """The cells outside every solution-start … solution-end span (a span left open is an error)."""
    kept, inside = [], None
    for index, cell in enumerate(cells):
        if inside is None and is_solution_start(cell):
            inside = index
        elif inside is not None and is_solution_end(cell):
            inside = None
        elif inside is None:
            if is_solution_end(cell):
                raise ValueError(f"cell {index}: a solution-end without its solution-start")
            kept.append(cell)
    if inside is not None:
        raise ValueError(f"cell {inside}: a solution-start without its solution-end")
    return kept


def student_notebook(notebook: dict) -> dict:
    result = copy.deepcopy(notebook)
    result["cells"] = student_cells(result["cells"])
    for cell in result["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    result["metadata"].pop("widgets", None)
    return result


def build(out: Path = DEFAULT_OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(BOOK.glob("[0-9][0-9]_*.ipynb")):
        notebook = student_notebook(json.loads(path.read_text()))
        target = out / path.name
        target.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
