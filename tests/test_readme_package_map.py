"""The README's package map names every package and top-level module of the source tree."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "distroless"


def _map_rows() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Architecture\n") :]
    table = section[section.index("| package | what it holds |") :]
    return [line for line in table.splitlines() if line.startswith("| `")]


def _named() -> set[str]:
    first_cells = (row.split("|")[1] for row in _map_rows())
    return {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}


def test_every_package_and_module_is_in_the_map() -> None:
    present = {f"{p.name}/" for p in SOURCE.iterdir() if (p / "__init__.py").is_file()}
    present |= {p.name for p in SOURCE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}}
    assert present - _named() == set()


def test_the_map_names_nothing_that_is_gone() -> None:
    gone = {name for name in _named() if not (SOURCE / name.rstrip("/")).exists()}
    assert gone == set()
