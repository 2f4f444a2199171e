"""Write a benchmark's latest table into README.md, between `<!-- name -->` and `<!-- /name -->`."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def update_readme(name: str, lines: list[str]) -> None:
    """Replace the README block marked ``name`` with ``lines``; the markers must already be there."""
    begin, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {begin} … {end} block to update")
    block = begin + "\n" + "\n".join(lines) + "\n" + end
    README.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
    print(f"\nUpdated {README} ({begin})")
