"""``distroless check``, ``test`` and ``sbom`` on images in a temporary store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from distroless.layers.entry import Entry
from tests.helpers.cli import run_cli
from tests.verify.fakeimage import base_entries, make_image, package_entries

# These tests build images with shells and setuid files on purpose.
pytestmark = pytest.mark.unsafe_images


def build(root: Path) -> None:
    clean = [base_entries(), package_entries("libc6", "2.41-12", {"usr/lib/libc.so.6": b"ELF"})]
    make_image(root, "t/clean:latest", clean)
    make_image(root, "t/dirty:latest", [*clean, [Entry.file("usr/bin/sh", b"ELF", mode=0o755)]])


def test_check_exit_codes_and_json(tmp_path: Path) -> None:
    build(tmp_path)
    ok = run_cli("check", "t/clean:latest", root=tmp_path)
    assert ok.exit_code == 0, ok.stderr
    assert "t/clean:latest" in ok.stdout and "linux/amd64: passed" in ok.stdout
    bad = run_cli("check", "t/dirty:latest", "--json", root=tmp_path)
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["passed"] is False
    assert [f["path"] for f in report["findings"]] == ["/usr/bin/sh"]
    assert "/usr/bin/sh" in bad.stderr and "FAILED" not in bad.stderr
    text = run_cli("check", "t/dirty:latest", root=tmp_path)
    assert "linux/amd64: FAILED (1 finding)" in text.stdout


def test_check_unknown_image_is_not_found(tmp_path: Path) -> None:
    build(tmp_path)
    result = run_cli("check", "t/absent:latest", root=tmp_path)
    assert result.exit_code == 4
    assert "t/absent:latest" in result.stderr


def test_test_command_writes_junit_and_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    build(tmp_path)
    config = tmp_path / "cst.yaml"
    config.write_text(
        "schemaVersion: 2.0.0\nfileExistenceTests:\n"
        "  - {name: passwd, path: /etc/passwd}\n  - {name: shell, path: /bin/sh}\n"
    )
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    result = run_cli(
        "test", "t/clean:latest", "--config", config, "--junit", junit, "--json", root=tmp_path
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert {r["name"]: r["passed"] for r in data["results"]} == {"passwd": True, "shell": False}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    passing = run_cli("test", "t/dirty:latest", "--config", config, root=tmp_path)
    assert passing.exit_code == 0, passing.stdout + passing.stderr
    assert "2 passed, 0 failed" in passing.stdout


def test_test_command_reports_a_bad_config_with_its_line(tmp_path: Path) -> None:
    build(tmp_path)
    config = tmp_path / "bad.yaml"
    config.write_text("schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: x\n")
    result = run_cli("test", "t/clean:latest", "--config", config, root=tmp_path)
    assert result.exit_code == 3
    assert f"{config}:3: fileExistenceTests[0].path" in result.stderr


def test_sbom_to_file_is_deterministic(tmp_path: Path) -> None:
    build(tmp_path)
    out1 = tmp_path / "a.spdx.json"
    out2 = tmp_path / "b.spdx.json"
    env = {"SOURCE_DATE_EPOCH": "86400"}
    run_cli("sbom", "t/clean:latest", "-o", out1, root=tmp_path, env=env).check()
    run_cli("sbom", "t/clean:latest", "-o", out2, root=tmp_path, env=env).check()
    assert out1.read_bytes() == out2.read_bytes()
    doc = json.loads(out1.read_bytes())
    assert doc["creationInfo"]["created"] == "1970-01-02T00:00:00Z"
    cdx = run_cli("sbom", "t/clean:latest", "--format", "cyclonedx-json", root=tmp_path).check()
    assert json.loads(cdx.stdout)["bomFormat"] == "CycloneDX"


def test_sbom_rejects_a_bad_source_date_epoch(tmp_path: Path) -> None:
    build(tmp_path)
    result = run_cli("sbom", "t/clean:latest", root=tmp_path, env={"SOURCE_DATE_EPOCH": "soon"})
    assert result.exit_code == 3
    assert "SOURCE_DATE_EPOCH" in result.stderr
