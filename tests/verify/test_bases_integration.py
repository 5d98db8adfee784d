"""The verifiers against real base images built from Debian packages.

Builds ``static`` (latest and debug) for the host architecture, then checks that it is
distroless, passes its structure tests (command tests need runc) and yields schema-valid,
reproducible SBOMs whose packages are exactly its ``status.d`` entries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from distroless.oci.models import Platform
from distroless.store import Store
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store
from distroless.verify.packages import status_entries
from tests.helpers.cli import run_cli
from tests.helpers.require import require_root, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.network]

STRUCTURE = Path(__file__).parent.parent / "structure"
SPDX_SCHEMA = Path(__file__).parent / "schemas" / "spdx-schema.json"


@pytest.fixture(scope="module")
def bases_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import PACKAGE_CACHE

    PACKAGE_CACHE.mkdir(parents=True, exist_ok=True)
    root = tmp_path_factory.mktemp("bases-store")
    arch = Platform.host().debian_arch()
    built = run_cli(
        "bases",
        "build",
        "static:latest",
        "static:debug",
        "--arch",
        arch,
        root=root,
        env={"DISTROLESS_CACHE": str(PACKAGE_CACHE)},
    )
    if built.exit_code != 0:
        pytest.fail(f"building the static base failed: {built.stderr}")
    return root


def configs(*names: str) -> list[str]:
    out: list[str] = []
    for name in names:
        out += ["--config", os.fspath(STRUCTURE / f"{name}.yaml")]
    return out


def test_static_is_distroless(bases_root: Path) -> None:
    result = run_cli("check", "distroless/static:latest", "--json", root=bases_root)
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["passed"], report["findings"]
    debug = json.loads(
        run_cli("check", "distroless/static:debug", "--json", root=bases_root).stdout
    )
    assert debug["passed"], debug["findings"]
    assert "/busybox/sh" in {n["path"] for n in debug["notes"] if n["kind"] == "debug-shell"}


def test_static_passes_its_structure_tests(bases_root: Path) -> None:
    result = run_cli(
        "test", "distroless/static:latest", *configs("static", "latest"), "--json", root=bases_root
    )
    failures = [r for r in json.loads(result.stdout)["results"] if not r["passed"]]
    assert result.exit_code == 0, failures


def test_static_debug_passes_its_structure_tests_in_runc(bases_root: Path) -> None:
    require_root()
    require_tool("runc")
    result = run_cli(
        "test", "distroless/static:debug", *configs("static", "debug"), "--json", root=bases_root
    )
    failures = [r for r in json.loads(result.stdout)["results"] if not r["passed"]]
    assert result.exit_code == 0, failures


def test_static_sbom_is_valid_complete_and_reproducible(bases_root: Path) -> None:
    first = run_cli("sbom", "distroless/static:latest", root=bases_root).check().stdout
    again = run_cli("sbom", "distroless/static:latest", root=bases_root).check().stdout
    assert first == again
    doc = json.loads(first)
    jsonschema.validate(doc, json.loads(SPDX_SCHEMA.read_text()))
    fs = FileSystemView.from_image(from_store(Store(bases_root), "distroless/static:latest"))
    declared = {p.rsplit("/", 1)[1] for p in status_entries(fs)}
    listed = {p["name"] for p in doc["packages"] if p["SPDXID"] != "SPDXRef-Image"}
    assert listed == declared
    assert {"base-files", "netbase", "tzdata", "media-types", "ca-certificates"} <= listed
