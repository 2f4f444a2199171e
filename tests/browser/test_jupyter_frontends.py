"""An explorer in a live kernel, in JupyterLab 4 and in Notebook 7: it renders, and its state syncs both ways.

One Jupyter server (``jupyter lab``, which also serves Notebook 7's /notebooks pages) is started for the
module, on 127.0.0.1, with its own config, data, runtime and IPython directories under a temporary
directory (so the user's settings play no part) and a ``python3`` kernelspec that runs this Python.
Each front-end opens its own notebook in a fresh browser context, runs it from the Run menu, then:
Python → page (``w.query_index = 3`` in a new cell shows in the explorer's ``data-state``) and
page → Python (clicking token 1 makes ``print(w.query_index)`` print 1). Requests to anywhere but
127.0.0.1 are blocked: the front-ends and anywidget's lab extension must be served locally.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_support import missing

FRONTENDS = {"jupyterlab": "lab/tree/{}", "notebook7": "notebooks/{}"}
SERVER_START_TIMEOUT = 90  # s; two slow cores
LOAD_TIMEOUT = 90_000  # ms; JupyterLab's first load takes 10+ s here
ROOT_SELECTOR = ".lx-root[data-explorer]"
# Uncaught errors Notebook 7.6 throws from its own start-up on any notebook, even with the widget
# extensions disabled (races between its plugins: the shortcuts plugin reads a settings schema that is
# not loaded yet; a menu item runs a file-browser command that the notebook page never registers).
# Ignored only when thrown from Notebook's own bundle, never from anywidget or an explorer.
KNOWN_FRONTEND_ERRORS = {
    "notebook7": ("Cannot read properties of undefined (reading 'schema')", "Command 'filebrowser:open-path' not registered."),
}

NOTEBOOK_CELL = """\
import numpy as np
from lessons_lib.explorers import AttentionExplorer

rng = np.random.default_rng(0)
tokens = ["the", "cat", "sat", "on", "mats"]
w = AttentionExplorer(tokens, rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=(5, 3)))
w"""


class Jupyter:
    def __init__(self, base_url: str, token: str, root: Path):
        self.base_url, self.token, self.root = base_url, token, root

    def api(self, method: str, path: str, timeout: float = 5):
        request = urllib.request.Request(self.base_url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _isolated_env(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython", "JUPYTERLAB_SETTINGS_DIR": "lab-settings", "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces"}
    for var, name in dirs.items():
        (base / name).mkdir()
        env[var] = str(base / name)
    # The kernel is this Python (the one with lessons_lib), whatever kernelspecs exist elsewhere: with
    # JUPYTER_PREFER_ENV_PATH=0 the (isolated) user data dir comes first in the kernelspec search path.
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    spec = base / "data" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
    }))
    # Nothing the test does not need: no language server, no terminals, no update checks or news.
    (base / "config" / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"jupyter_lsp": False, "jupyter_server_terminals": False}},
        "LabApp": {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate", "news_url": None,
                   "extension_manager": "readonly"},
    }))
    (base / "config" / "labconfig").mkdir()
    (base / "config" / "labconfig" / "page_config.json").write_text(json.dumps({
        "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
    }))
    return env


def _stop(proc: subprocess.Popen, jupyter: Jupyter):
    """Shut the server down (it shuts its kernels down), then kill whatever of it and its kernels is left."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        children = []
    if proc.poll() is None:
        try:
            jupyter.api("POST", "api/shutdown")
        except OSError:  # urllib's errors included
            pass
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(children, timeout=5)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    for package in ("jupyterlab", "notebook", "ipykernel", "anywidget", "psutil"):
        if importlib.util.find_spec(package) is None:
            missing(f"the {package} Python package is not installed")
    base = tmp_path_factory.mktemp("jupyter")
    root = base / "root"
    root.mkdir()
    env = _isolated_env(base)
    token, port = secrets.token_hex(16), _free_port()
    with open(base / "server.log", "wb") as log:  # the server keeps its own copy of the file descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={root}"] + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    server = Jupyter(f"http://127.0.0.1:{port}/", token, root)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{(base / 'server.log').read_text()[-3000:]}")
            try:
                server.api("GET", "api/status", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {SERVER_START_TIMEOUT} s:\n"
                                f"{(base / 'server.log').read_text()[-3000:]}")
                time.sleep(0.25)
        spec = server.api("GET", "api/kernelspecs")["kernelspecs"]["python3"]["spec"]
        assert spec["argv"][0] == sys.executable, f"the python3 kernel is not this Python: {spec['argv']}"
        yield server
    finally:
        _stop(proc, server)


def _write_notebook(path: Path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


def _wait_for_idle_kernel(jupyter: Jupyter, name: str, timeout: float = 60) -> str:
    """The id of the session the front-end started for notebook ``name``, once its kernel is idle."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for session in jupyter.api("GET", "api/sessions"):
            if session["path"] == name and session["kernel"]["execution_state"] == "idle":
                return session["id"]
        time.sleep(0.25)
    raise AssertionError(f"no idle kernel for {name} after {timeout} s: {jupyter.api('GET', 'api/sessions')}")


def _run_in_new_cell(page, code: str):
    """Add a cell below the last one (command mode, B), type ``code``, run it (Shift+Enter); returns the cell."""
    from playwright.sync_api import expect

    cells = page.locator(".jp-Notebook .jp-Cell")
    n = cells.count()
    cells.last.locator(".jp-InputPrompt").click()  # selects the cell, in command mode
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    expect(cells).to_have_count(n + 1)
    cell = cells.nth(n)
    cell.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    expect(cell.locator(".cm-content")).to_have_text(code)
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=30_000)  # ran
    return cell


def _shown_query_index(page, value: int):
    page.wait_for_function(
        """([sel, value]) => {
             const root = document.querySelector(sel);
             return !!root?.dataset.state && JSON.parse(root.dataset.state).query_index === value;
           }""",
        arg=[ROOT_SELECTOR, value], timeout=30_000,
    )


@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_explorer_syncs_both_ways_in_a_live_kernel(browser, jupyter, frontend):
    from playwright.sync_api import expect

    name = f"{frontend}.ipynb"
    _write_notebook(jupyter.root / name)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    blocked: list[str] = []

    def block(route):
        blocked.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), block)
    page = context.new_page()
    page_errors: list[str] = []

    def on_error(error):
        stack = (error.stack or "").splitlines()
        first_frame = next((line for line in stack if line.strip().startswith("at ")), "")
        if error.message in KNOWN_FRONTEND_ERRORS.get(frontend, ()) and "/static/notebook/" in first_frame:
            return
        page_errors.append(f"{error.message}\n  {first_frame.strip()}")

    page.on("pageerror", on_error)
    try:
        page.goto(f"{jupyter.base_url}{FRONTENDS[frontend].format(name)}?token={jupyter.token}")
        expect(page.locator(".jp-Notebook .jp-Cell .cm-content").first).to_contain_text("AttentionExplorer",
                                                                                       timeout=LOAD_TIMEOUT)
        _wait_for_idle_kernel(jupyter, name)

        # Run → Run All Cells (the same Lumino menu in both front-ends)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        root = page.locator(ROOT_SELECTOR)
        expect(root).to_have_count(1, timeout=60_000)
        expect(root).to_have_attribute("data-state", re.compile(r"^\{"), timeout=30_000)
        assert json.loads(root.get_attribute("data-state"))["query_index"] == 0

        # Python → page
        _run_in_new_cell(page, "w.query_index = 3")
        _shown_query_index(page, 3)

        # page → Python
        root.locator("button.lx-token").nth(1).click()
        _shown_query_index(page, 1)
        cell = _run_in_new_cell(page, "print(w.query_index)")
        output = cell.locator(".jp-OutputArea-output")
        expect(output).to_have_text(re.compile(r"\S"), timeout=30_000)
        assert output.inner_text().strip() == "1"

        assert not page_errors, f"uncaught errors in {frontend}: {page_errors}"
        assert not blocked, f"{frontend} asked for files outside 127.0.0.1: {blocked}"
    finally:
        context.close()
        try:  # free the kernel (two slow cores)
            for session in jupyter.api("GET", "api/sessions"):
                if session["path"] == name:
                    jupyter.api("DELETE", f"api/sessions/{session['id']}")
        except OSError:
            pass  # the server is gone; the fixture's teardown kills what is left
