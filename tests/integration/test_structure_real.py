"""`distroless test` on real base images: the committed structure files pass, and for every
test type a deliberately wrong expectation fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import Cli, require_root, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.network]

STRUCTURE = Path(__file__).resolve().parents[1] / "structure"
PYTHON3 = "distroless/python3:latest"
STATIC_DEBUG = "distroless/static:debug"


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Cli:
    require_root()
    require_tool("runc")
    cli = Cli(tmp_path_factory.mktemp("structure") / "store")
    env = {"DISTROLESS_CACHE": str(package_cache)}
    cli("bases", "build", "python3:latest", "static:debug", "--arch", "amd64", env=env).check()
    return cli


def _every_type(image: str) -> dict[str, Any]:
    """One test of each kind, all true of ``image``."""
    if image == PYTHON3:
        command = {
            "name": "python runs",
            "command": "/usr/bin/python3",
            "args": ["-c", "import sqlite3, sys; print(sys.version_info[:2])"],
            "expectedOutput": [r"^\(3, 13\)$"],
            "excludedError": ["Traceback"],
            "exitCode": 0,
        }
        entrypoint = ["/usr/bin/python3.13"]
        executable = "/usr/bin/python3.13"
    else:
        command = {
            "name": "busybox echoes",
            "command": "/busybox/sh",
            "args": ["-c", "echo ok"],
            "expectedOutput": ["^ok$"],
            "exitCode": 0,
        }
        entrypoint = ["/busybox/sh"]
        executable = "/busybox/busybox"
    return {
        "schemaVersion": "2.0.0",
        "commandTests": [command],
        "fileExistenceTests": [
            {
                "name": "the program",
                "path": executable,
                "shouldExist": True,
                "uid": 0,
                "isExecutableBy": "any",
            },
            {"name": "no shell at /bin/sh", "path": "/bin/sh", "shouldExist": False},
        ],
        "fileContentTests": [
            {
                "name": "nonroot user",
                "path": "/etc/passwd",
                "expectedContents": ["nonroot:x:65532:65532:"],
                "excludedContents": ["/bin/bash"],
            }
        ],
        "metadataTest": {
            "env": [{"key": "SSL_CERT_FILE", "value": "/etc/ssl/certs/ca-certificates.crt"}],
            "entrypoint": entrypoint,
            "workdir": "/",
        },
        "licenseTests": [{"debian": True, "files": []}],
    }


WRONG = {
    "command": lambda c: c["commandTests"][0].update(exitCode=7),
    "fileExistence": lambda c: c["fileExistenceTests"][1].update(shouldExist=True),
    "fileContent": lambda c: c["fileContentTests"][0].update(expectedContents=["^mallory:"]),
    "metadata": lambda c: c["metadataTest"].update(workdir="/srv"),
    "license": lambda c: c["licenseTests"][0].update(files=["/usr/share/doc/nothing/copyright"]),
}


def _run(cli: Cli, tmp_path: Path, image: str, config: dict[str, Any]) -> tuple[int, Any]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = cli("test", image, "--config", path, "--json")
    return result.exit_code, result.json()


@pytest.mark.parametrize("image", [PYTHON3, STATIC_DEBUG])
def test_every_test_type_passes_when_true(bases: Cli, tmp_path: Path, image: str) -> None:
    code, report = _run(bases, tmp_path, image, _every_type(image))
    assert code == 0, [r for r in report["results"] if not r["passed"]]
    kinds = {r["kind"] for r in report["results"]}
    assert len(kinds) == 5, kinds


@pytest.mark.parametrize("image", [PYTHON3, STATIC_DEBUG])
@pytest.mark.parametrize("kind", sorted(WRONG))
def test_a_wrong_expectation_of_each_type_fails(
    bases: Cli, tmp_path: Path, image: str, kind: str
) -> None:
    config = _every_type(image)
    WRONG[kind](config)
    code, report = _run(bases, tmp_path, image, config)
    assert code == 1
    assert report["failures"] == 1, report
    failed = next(r for r in report["results"] if not r["passed"])
    assert failed["message"]


def test_committed_structure_files_pass_on_python3(bases: Cli) -> None:
    files = ["static", "base", "cc", "python3", "latest", "python3-entrypoint"]
    args: list[str | Path] = []
    for name in files:
        args += ["--config", STRUCTURE / f"{name}.yaml"]
    result = bases("test", PYTHON3, *args)
    assert result.exit_code == 0, result.stdout + result.stderr
