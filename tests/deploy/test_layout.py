"""docs/architecture.md's layout table names every module of every package folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(?P<folder>[^`]+)` \| [^|]+ \| (?P<modules>[^|]+) \|$", re.M)
PACKAGES = [ROOT / "shared", *sorted((ROOT / "services").iterdir())]


def _documented() -> dict[str, set[str]]:
    text = (ROOT / "docs/architecture.md").read_text()
    return {m["folder"]: set(m["modules"].split()) for m in ROW.finditer(text)}


def _tree() -> dict[str, set[str]]:
    folders: dict[str, set[str]] = {}
    for package in PACKAGES:
        for init in (package / "hookline").glob("*/**/__init__.py"):
            modules = {p.stem for p in init.parent.glob("*.py") if not p.stem.startswith("__")}
            if modules:
                folders[str(init.parent.relative_to(ROOT))] = modules
    return folders


def test_the_layout_table_matches_the_tree() -> None:
    assert _documented() == _tree()
