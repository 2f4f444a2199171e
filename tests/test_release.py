"""One version everywhere: pyproject, the package, the citation, the changelog, the book's release tag."""

import re
import tomllib
from pathlib import Path

import lessons_lib

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CONFIG = (ROOT / "_config.yml").read_text()


def test_package_version_matches_pyproject():
    assert lessons_lib.__version__ == VERSION


def test_book_is_built_from_the_release_tag_and_shows_the_version():
    branch = re.search(r"^repository:\n(?:[ \t]+.*\n)*?[ \t]+branch:\s*(\S+)", CONFIG, re.M)
    assert branch and branch.group(1) == f"v{VERSION}", "repository.branch in _config.yml must be the release tag"
    footer = re.search(r"^\s+extra_footer:\s*(.+)$", CONFIG, re.M)
    assert footer and VERSION in footer.group(1), "every page's footer shows the version"
    assert re.search(r"^\s+colab_url:\s*https://colab\.research\.google\.com", CONFIG, re.M)


def test_citation_and_changelog_name_this_version():
    citation = (ROOT / "CITATION.cff").read_text()
    assert re.search(rf"^version:\s*{re.escape(VERSION)}\s*$", citation, re.M)
    first_entry = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert first_entry and first_entry.group(1) == VERSION


def test_licences_for_code_and_content():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "CC BY 4.0" in (ROOT / "LICENSE-CONTENT.md").read_text()
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text()


def test_workflow_actions_run_on_current_runners():
    """Node 20 actions are retired: each action is pinned at a major version that runs on Node 24."""
    workflow = (ROOT / ".github/workflows/book.yml").read_text()
    minimum = {"actions/checkout": 5, "actions/setup-python": 6, "actions/setup-node": 5,
               "actions/upload-pages-artifact": 5, "actions/deploy-pages": 5, "actions/upload-artifact": 6}
    used = re.findall(r"uses:\s*([\w-]+/[\w-]+)@v(\d+)", workflow)
    assert used, "the workflow uses no actions?"
    for action, major in used:
        assert action in minimum, f"{action} is not known to run on Node 24; add it here once checked"
        assert int(major) >= minimum[action], f"{action}@v{major} runs on the retired Node 20"
