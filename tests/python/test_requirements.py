"""What a spec's ``python:`` key asks pip for, and the digest a lock is tied to."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import SpecError
from distroless.python.requirements import requirement_lines, requirements_digest
from distroless.spec.model import PythonSpec

PYPROJECT = """\
[project]
name = "sizes"
version = "1.0"
dependencies = ["humanize==4.12.3", "markupsafe>=3; python_version >= '3.9'"]

[tool.other]
dependencies = "not these"
"""


def _pyproject(tmp_path: Path, text: str | bytes) -> PythonSpec:
    path = tmp_path / "pyproject.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return PythonSpec(pyproject=path)


def test_a_pyproject_gives_its_project_dependencies(tmp_path: Path) -> None:
    spec = _pyproject(tmp_path, PYPROJECT)
    assert requirement_lines(spec) == ["humanize==4.12.3", "markupsafe>=3; python_version >= '3.9'"]


def test_a_pyproject_without_dependencies_asks_for_nothing(tmp_path: Path) -> None:
    assert requirement_lines(_pyproject(tmp_path, '[project]\nname = "x"\n')) == []
    assert requirement_lines(_pyproject(tmp_path, "[tool.x]\na = 1\n")) == []


def test_the_digest_follows_the_dependencies_not_the_rest_of_the_file(tmp_path: Path) -> None:
    spec = _pyproject(tmp_path, PYPROJECT)
    first = requirements_digest(spec)
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    _pyproject(tmp_path, PYPROJECT.replace('version = "1.0"', 'version = "2.0"'))
    assert requirements_digest(spec) == first  # the project's own version: not asked for
    _pyproject(tmp_path, PYPROJECT.replace("4.12.3", "4.12.2"))
    assert requirements_digest(spec) != first
    # the same lines from a requirements file tie a lock the same way
    (tmp_path / "requirements.txt").write_text(
        "humanize==4.12.2\nmarkupsafe>=3; python_version >= '3.9'\n"
    )
    assert requirements_digest(PythonSpec(requirements=tmp_path / "requirements.txt")) == (
        requirements_digest(spec)
    )
    pinned = PythonSpec(pyproject=spec.pyproject, version="3.13")
    assert requirements_digest(pinned) != requirements_digest(spec)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[project\nname = 1\n", r"pyproject\.toml: cannot read it \("),
        (b"[project]\nname = '\xff'\n", r"pyproject\.toml: cannot read it \("),
        ('[project]\ndependencies = "flask"\n', r"dependencies must be a list of strings$"),
        ("[project]\ndependencies = [1]\n", r"dependencies must be a list of strings$"),
        ('project = "sizes"\n', r"pyproject\.toml: \[project\] must be a table$"),
        (
            '[project]\nname = "x"\ndynamic = ["version", "dependencies"]\n',
            r"dependencies are dynamic; list them in \[project\] dependencies or give a",
        ),
    ],
)
def test_a_bad_pyproject_is_one_clear_error(
    tmp_path: Path, text: str | bytes, message: str
) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        requirement_lines(_pyproject(tmp_path, text))
    assert "\n" not in str(caught.value)


def test_an_unreadable_requirements_file(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"flask\xff\n")
    with pytest.raises(SpecError, match=r"requirements\.txt: cannot read it"):
        requirement_lines(PythonSpec(requirements=tmp_path / "requirements.txt"))
