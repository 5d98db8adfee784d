"""``check`` of an index: every platform checked, each item labelled with its platform."""

from __future__ import annotations

import json
from pathlib import Path

from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig, Platform
from distroless.store import Store
from distroless.verify.platforms import check_stored
from tests.helpers.cli import run_cli
from tests.verify.elftree import AMD64, ARM64, glibc_layer, program
from tests.verify.fakeimage import base_entries, make_index

AMD = Platform("linux", "amd64")
ARM = Platform("linux", "arm64")
CONFIG = ContainerConfig(entrypoint=("/app",), env=("PATH=/usr/bin",))


def two_arch(root: Path, *, arm_app: bytes) -> Store:
    """An index whose arm64 image holds ``arm_app`` as its program."""
    app = program(AMD64)
    return make_index(
        root,
        "t/multi:1",
        {
            AMD: [base_entries(), glibc_layer(AMD64), [Entry.file("app", app, mode=0o755)]],
            ARM: [base_entries(), glibc_layer(ARM64), [Entry.file("app", arm_app, mode=0o755)]],
        },
        config=CONFIG,
    )


def test_every_platform_is_checked_and_the_worst_decides(tmp_path: Path) -> None:
    store = two_arch(tmp_path, arm_app=program(AMD64))
    result = check_stored(store, "t/multi:1")
    assert [r.platform for r in result.reports] == ["linux/amd64", "linux/arm64"]
    assert [r.passed for r in result.reports] == [True, False]
    assert not result.passed
    assert [(p, f.kind) for p, f in result.findings()] == [("linux/arm64", "wrong-architecture")]
    assert result.digest == store.resolve("t/multi:1").digest
    one = check_stored(store, "t/multi:1", AMD)
    assert one.passed and one.digest == one.reports[0].digest != result.digest


def test_an_index_of_right_programs_passes(tmp_path: Path) -> None:
    store = two_arch(tmp_path, arm_app=program(ARM64))
    assert check_stored(store, "t/multi:1").passed


def test_cli_reports_each_platform_and_labels_every_item(tmp_path: Path) -> None:
    two_arch(tmp_path, arm_app=program(AMD64))
    result = run_cli("check", "t/multi:1", "--json", root=tmp_path)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert [(f["platform"], f["kind"], f["path"]) for f in report["findings"]] == [
        ("linux/arm64", "wrong-architecture", "/app")
    ]
    assert {n["platform"] for n in report["notes"]} == {"linux/amd64", "linux/arm64"}
    assert [(p["platform"], p["passed"]) for p in report["platforms"]] == [
        ("linux/amd64", True),
        ("linux/arm64", False),
    ]
    assert "layers" not in report  # per platform only, when there are several
    assert "linux/arm64" in result.stderr and "/app" in result.stderr
    text = run_cli("check", "t/multi:1", root=tmp_path).stdout
    assert "linux/amd64: passed" in text and "linux/arm64: FAILED (1 finding)" in text
    assert "2 platforms, failed: linux/arm64" in text


def test_cli_with_one_platform_keeps_the_single_image_report(tmp_path: Path) -> None:
    two_arch(tmp_path, arm_app=program(AMD64))
    result = run_cli("check", "t/multi:1", "--platform", "linux/amd64", "--json", root=tmp_path)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["platform"] == "linux/amd64" and report["passed"] is True
    assert {"image", "digest", "user", "layers", "largest", "total_size"} <= set(report)
    assert report["digest"] == report["platforms"][0]["digest"]


def test_the_same_digest_gets_the_same_report_under_any_name(tmp_path: Path) -> None:
    store = two_arch(tmp_path, arm_app=program(AMD64))
    desc = store.resolve("t/multi:1")
    for name in ("t/multi:debug", "t/multi:troubleshoot", "t/multi:nonroot"):
        store.tag(name, desc)
    reports = []
    for name in ("t/multi:1", "t/multi:debug", "t/multi:troubleshoot", "t/multi:nonroot"):
        result = run_cli("check", name, "--json", root=tmp_path)
        report = json.loads(result.stdout)
        assert report.pop("image") == name
        reports.append((result.exit_code, report))
    by_digest = run_cli("check", desc.digest, "--json", root=tmp_path)
    reports.append((by_digest.exit_code, {**json.loads(by_digest.stdout), "image": None}))
    reports[-1][1].pop("image")
    assert all(r == reports[0] for r in reports)
