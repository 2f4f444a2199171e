"""requirements-lock.txt pins, with hashes, every package the top-level requirements pin, at the same version."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_every_top_level_pin_is_locked_at_its_version():
    locked = _pins(ROOT / "requirements-lock.txt")
    for name in ("requirements.txt", "requirements-dev.txt"):
        for package, version in _pins(ROOT / name).items():
            assert locked.get(package) == version, f"{name} pins {package}=={version}, the lock has {locked.get(package)}: regenerate it (CONTRIBUTING.md)"


def test_every_locked_package_has_a_hash():
    text = (ROOT / "requirements-lock.txt").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    entries = [block for block in blocks if re.match(r"[A-Za-z0-9_.-]+==", block)]
    assert len(entries) > 50
    for entry in entries:
        assert "--hash=sha256:" in entry, entry.splitlines()[0]


def test_make_installs_the_lock_with_hashes_required():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements-lock.txt" in makefile
