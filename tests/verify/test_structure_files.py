"""The base images' structure-test files are valid configurations (they run once bases exist)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.verify.structure_config import load_config

STRUCTURE = Path(__file__).parent.parent / "structure"
FILES = sorted(STRUCTURE.glob("*.yaml"))


def test_every_base_and_tag_has_a_file() -> None:
    names = {p.stem for p in FILES}
    assert {"static", "base", "cc", "python3"} <= names
    assert {"latest", "nonroot", "debug", "debug-nonroot"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_structure_file_is_valid(path: Path) -> None:
    config = load_config(path)
    counted = (
        len(config.commandTests)
        + len(config.fileExistenceTests)
        + len(config.fileContentTests)
        + len(config.licenseTests)
        + (config.metadataTest is not None)
    )
    assert counted > 0


def test_python3_checks_its_exact_package_list() -> None:
    config = load_config(STRUCTURE / "python3.yaml")
    packages = {
        t.path.rsplit("/", 1)[1]
        for t in config.fileExistenceTests
        if t.path.startswith("/var/lib/dpkg/status.d/") and not t.path.endswith(".md5sums")
    }
    assert len(packages) == 24
    assert {"libpython3.13-stdlib", "python3.13-venv", "libc-bin"} <= packages
