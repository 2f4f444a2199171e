"""Build the environment Binder builds, from Binder's files alone, and register it as a Jupyter kernel.

repo2docker reads `runtime.txt` (Python version), installs `requirements.txt`, then runs `postBuild`.
We do the same in a fresh virtual environment `.binder-env/` (rebuilt whenever one of those files
changes), and install a kernelspec named `course-binder` into it. `make test` runs nbval with that
kernel, so every notebook is executed — and its outputs compared — in the environment Binder gives
students, not in the richer development environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = ROOT / ".binder-env"
BINDER_FILES = ("runtime.txt", "requirements.txt", "postBuild", "requirements-model.txt", "pyproject.toml")
KERNEL_NAME = "course-binder"


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in BINDER_FILES:
        digest.update(name.encode())
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def check_runtime_pin() -> None:
    pin = (ROOT / "runtime.txt").read_text().strip()
    if not pin.startswith("python-"):
        raise SystemExit(f"runtime.txt should read like 'python-3.11', found {pin!r}")
    wanted = tuple(int(p) for p in pin.removeprefix("python-").split(".")[:2])
    if sys.version_info[:2] < wanted:
        raise SystemExit(f"runtime.txt pins Python {pin}, but this is Python {sys.version.split()[0]}")


def build() -> None:
    stamp = ENV / ".fingerprint"
    wanted = fingerprint()
    if stamp.exists() and stamp.read_text() == wanted:
        print(f"binder env: up to date ({ENV.relative_to(ROOT)})")
        return
    check_runtime_pin()
    shutil.rmtree(ENV, ignore_errors=True)
    print("binder env: creating a fresh virtual environment from runtime.txt, requirements.txt, postBuild")
    subprocess.run([sys.executable, "-m", "venv", str(ENV)], check=True)
    bin_dir = ENV / "bin"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(ENV))
    env.pop("PYTHONPATH", None)
    run = lambda cmd: subprocess.run(cmd, check=True, cwd=ROOT, env=env)  # noqa: E731
    run(["python", "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run(["pip", "install", "-q", "-r", "requirements.txt"])
    run(["bash", "postBuild"])
    run(["python", "-m", "ipykernel", "install", "--prefix", str(ENV), "--name", KERNEL_NAME,
         "--display-name", "Python 3 (Binder environment)"])
    spec = json.loads((ENV / "share/jupyter/kernels" / KERNEL_NAME / "kernel.json").read_text())
    print("binder env: kernel", KERNEL_NAME, "runs", spec["argv"][0])
    stamp.write_text(wanted)


if __name__ == "__main__":
    build()
