"""The parser corpus: valid Dockerfiles with their expected AST, invalid ones with their error.

Each ``valid/NAME.Dockerfile`` has ``valid/NAME.json`` (``Dockerfile.to_dict()``), each
``invalid/NAME.Dockerfile`` has ``invalid/NAME.error`` (the exact message).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from distroless.dockerfile import parse
from distroless.dockerfile.parser import _KEYWORDS
from distroless.errors import DockerfileError

CORPUS = Path(__file__).parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.Dockerfile"))
INVALID = sorted((CORPUS / "invalid").glob("*.Dockerfile"))
LOCATED = re.compile(r"^Dockerfile:(\d+):(\d+): \S")


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def test_corpus_is_large_enough() -> None:
    assert len(VALID) >= 40
    assert len(INVALID) >= 40


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_dockerfile_parses_to_expected_ast(path: Path) -> None:
    parsed = parse(_text(path), "Dockerfile")
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(parsed.to_dict())) == expected


def test_valid_corpus_covers_every_instruction() -> None:
    seen: set[str] = set()
    for path in VALID:
        for instruction in parse(_text(path)).instructions():
            seen.add(instruction.keyword.lower())
    assert seen == set(_KEYWORDS)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_dockerfile_reports_expected_error(path: Path) -> None:
    text = _text(path)
    with pytest.raises(DockerfileError) as caught:
        parse(text, "Dockerfile")
    message = str(caught.value)
    assert message == path.with_suffix(".error").read_text(encoding="utf-8").rstrip("\n")
    located = LOCATED.match(message)
    assert located is not None, message
    assert 1 <= int(located.group(1)) <= max(len(text.splitlines()), 1)
    assert int(located.group(2)) >= 1
