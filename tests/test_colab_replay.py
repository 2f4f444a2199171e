"""Replay the Colab path, and check the student edition.

A fresh virtual environment holds only what Colab gives (Python, numpy, matplotlib, ipykernel,
ipywidgets): no ``lessons_lib``, no ``myst_nb``. Each chapter's student edition (the chapter without
its solutions, tools/student_edition.py) runs top to bottom in it, through its own Colab setup cell,
which installs ``lessons_lib`` from a wheel of this checkout instead of the release archive
(``COURSE_SOURCE``). The exercises' checks must then say "Not yet": no solution ran.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import notebook_setup  # noqa: E402
import student_edition  # noqa: E402

CHAPTERS = notebook_setup.chapters()
KERNEL = "colab-replay"


def _requirement(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(rf"{name}==", line):
            return line.split("#")[0].strip()
    raise AssertionError(f"{name} is not pinned in requirements.txt")


def _source(cell) -> str:
    return "".join(cell["source"])


def test_every_chapter_has_the_colab_setup_cell_and_no_myst_nb_import():
    result = subprocess.run([sys.executable, str(ROOT / "tools/notebook_setup.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_requirements_have_no_myst_nb():
    names = [line.split("==")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "myst-nb" not in names and "myst_nb" not in names


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_edition_drops_exactly_the_solutions(path):
    full = json.loads(path.read_text())
    student = student_edition.student_notebook(full)
    sources = [_source(cell) for cell in student["cells"]]
    assert not any("%%solution" in s or "{solution-start}" in s or "{solution-end}" in s for s in sources)
    assert all(not cell.get("outputs") for cell in student["cells"] if cell["cell_type"] == "code")
    kept = [_source(cell) for cell in full["cells"] if _source(cell) in sources]
    assert kept == sources, "the student edition must keep every other cell, in order"
    exercises = sum("{exercise}" in s or "{exercise-start}" in s for s in sources)
    checks = sum("check(" in s for s in sources)
    assert exercises >= 2 and checks >= exercises, f"{path.name}: {exercises} exercises, {checks} check cells"


def test_student_edition_refuses_an_unclosed_solution():
    cell = {"cell_type": "markdown", "source": ["```{solution-start} x\n```"], "metadata": {}}
    with pytest.raises(ValueError, match="solution-start without"):
        student_edition.student_cells([cell])


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory):
    """A Colab-like virtual environment, a wheel of this checkout, and the student edition."""
    base = tmp_path_factory.mktemp("colab")
    env_dir = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LESSONS_LIB_SOLUTIONS")}
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    colab_base = [_requirement(n) for n in ("numpy", "matplotlib", "ipykernel", "ipywidgets")]
    subprocess.run(pip + colab_base, check=True, env=clean)
    subprocess.run([str(python), "-m", "ipykernel", "install", "--prefix", str(env_dir), "--name", KERNEL], check=True, env=clean, capture_output=True)
    for missing in ("lessons_lib", "myst_nb", "anywidget"):
        probe = subprocess.run([str(python), "-c", f"import {missing}"], env=clean, capture_output=True, cwd=base)
        assert probe.returncode != 0, f"the Colab-like base must not have {missing}"
    wheels = base / "wheels"
    subprocess.run([str(python), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)], check=True, env=clean, capture_output=True)
    [wheel] = wheels.glob("lessons_lib-*.whl")
    student = student_edition.build(base / "student")
    env = dict(clean, COURSE_COLAB_REPLAY="1", COURSE_SOURCE=wheel.as_uri(), JUPYTER_PATH=str(env_dir / "share" / "jupyter"))
    return {"env": env, "student": {p.name: p for p in student}, "cwd": base}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_edition_runs_top_to_bottom_in_a_colab_like_environment(colab_env, path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", colab_env["env"]["JUPYTER_PATH"])
    notebook = nbformat.read(colab_env["student"][path.name], as_version=4)
    client = NotebookClient(notebook, kernel_name=KERNEL, timeout=600, resources={"metadata": {"path": str(colab_env["cwd"])}})
    client.execute(env=colab_env["env"])
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") or "".join(str(v) for v in output.get("data", {}).values()))
    printed = "\n".join(texts)
    assert "Not yet" in printed, "the exercises' checks should say 'Not yet' when no solution has run"
    assert "Solution hidden" not in printed, "the student edition has no solution cells"
