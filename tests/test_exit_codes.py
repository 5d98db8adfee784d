"""The README's exit-code table is the one ``distroless --help`` prints, row for row."""

from __future__ import annotations

import re
from pathlib import Path

from distroless.cli.app import exit_code_table

README = Path(__file__).resolve().parents[1] / "README.md"


def _help_rows() -> list[tuple[str, str]]:
    rows = []
    for line in exit_code_table().splitlines()[2:]:
        code, text = line.strip().split(None, 1)
        rows.append((code, text))
    return rows


def _readme_rows() -> list[tuple[str, str]]:
    text = README.read_text()
    table = text[text.index("| exit code | meaning |") :]
    rows = []
    for line in table.splitlines()[2:]:
        match = re.fullmatch(r"\| (\S+) \| (.+) \|", line)
        if match is None:
            break
        rows.append((match[1], match[2]))
    return rows


def test_readme_lists_the_exit_codes_of_the_help_in_its_order() -> None:
    assert _readme_rows() == _help_rows()
    assert ("12", "a registry rejected the credentials, or none were found for it") in _help_rows()
