"""The distroless policy: every finding names its path; notes never fail an image."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from distroless.layers.entry import Entry, EntryType
from distroless.oci.models import ContainerConfig
from distroless.verify.check import Severity, check_image
from tests.verify.fakeimage import base_entries, make_image, package_entries

# These tests build images with shells and setuid files on purpose.
pytestmark = pytest.mark.unsafe_images


def clean_layers() -> list[list[Entry]]:
    return [
        base_entries(),
        package_entries("base-files", "13.8", {"usr/lib/os-release.d/x": b"x"}),
        package_entries("libc6", "2.41-12", {"usr/lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF"}),
    ]


def by_kind(report_items: object) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for item in report_items:  # type: ignore[attr-defined]
        out.setdefault(item.kind, set()).add(item.path)
    return out


def test_clean_image_passes(tmp_path: Path) -> None:
    image = make_image(tmp_path, "test/clean:latest", clean_layers())
    report = check_image(image)
    assert report.passed, report.findings
    assert "root-user" in report.kinds()  # a note on a root tag
    assert all(n.severity is Severity.NOTE for n in report.items)
    json.dumps(report.to_dict())  # JSON-serialisable as it is


def test_dirty_image_names_each_offending_path(tmp_path: Path) -> None:
    dirty = [
        Entry.file("usr/bin/dash", b"ELF", mode=0o755),
        Entry.symlink("usr/bin/sh", "dash"),
        Entry.file("usr/bin/bash", b"ELF", mode=0o755),
        Entry.file("usr/bin/apt", b"ELF", mode=0o755),
        Entry.file("usr/bin/dpkg", b"ELF", mode=0o755),
        Entry.file("usr/bin/passwd", b"ELF", mode=0o4755),
        Entry.file("usr/bin/wall", b"ELF", mode=0o2755),
        Entry(
            path="usr/bin/ping",
            type=EntryType.FILE,
            mode=0o755,
            size=3,
            xattrs={"security.capability": "\x01\x00\x00\x02"},
            opener=lambda: io.BytesIO(b"ELF"),
        ),
        Entry.directory("srv/drop", mode=0o777),
        Entry.file("var/lib/dpkg/status", b"Package: x\n"),
        Entry.file("usr/share/doc/dpkg/README", b"documentation is not a package manager"),
    ]
    image = make_image(tmp_path, "test/dirty:latest", [*clean_layers(), dirty])
    report = check_image(image)
    assert not report.passed
    found = by_kind(report.findings)
    assert found["shell"] == {"/usr/bin/dash", "/usr/bin/sh", "/usr/bin/bash"}
    assert found["package-manager"] == {"/usr/bin/apt", "/usr/bin/dpkg"}
    assert found["setuid"] == {"/usr/bin/passwd"}
    assert found["setgid"] == {"/usr/bin/wall"}
    assert found["file-capabilities"] == {"/usr/bin/ping"}
    assert found["world-writable"] == {"/srv/drop"}
    assert found["dpkg-database"] == {"/var/lib/dpkg/status"}
    assert all(f.path in f.message for f in report.findings if f.kind != "dpkg-database")


def test_shell_reached_through_a_merged_usr_link_is_found(tmp_path: Path) -> None:
    image = make_image(
        tmp_path,
        "test/merged:latest",
        [*clean_layers(), [Entry.file("usr/bin/zsh", b"ELF", mode=0o755)]],
    )
    assert by_kind(check_image(image).findings)["shell"] == {"/usr/bin/zsh"}


def test_tmp_sticky_dirs_and_symlinks_are_not_world_writable_findings(tmp_path: Path) -> None:
    layer = [
        Entry.directory("tmp/cache", mode=0o777),
        Entry.directory("var/tmp", mode=0o1777),
        Entry.symlink("etc/mtab", "/proc/self/mounts"),
    ]
    report = check_image(make_image(tmp_path, "t/ww:latest", [*clean_layers(), layer]))
    assert report.passed
    assert by_kind(report.notes)["world-writable-sticky"] == {"/var/tmp"}


def test_busybox_under_busybox_is_a_note_whatever_the_tag(tmp_path: Path) -> None:
    debug = [
        Entry.file("busybox/busybox", b"ELF", mode=0o755),
        Entry.symlink("busybox/sh", "busybox"),
        Entry.symlink("busybox/dpkg", "busybox"),
    ]
    layers = [*clean_layers(), debug]
    reports = [
        check_image(make_image(tmp_path / str(i), name, layers))
        for i, name in enumerate(("t/img:debug", "t/img:latest", "t/img:troubleshoot"))
    ]
    for report in reports:
        assert report.passed, report.findings
        assert by_kind(report.notes)["debug-shell"] == {"/busybox/busybox", "/busybox/sh"}
        assert by_kind(report.notes)["debug-package-manager"] == {"/busybox/dpkg"}
    assert reports[0].items == reports[1].items == reports[2].items


def test_a_shell_under_busybox_that_is_not_busybox_is_a_finding(tmp_path: Path) -> None:
    layers = [
        *clean_layers(),
        [
            Entry.file("busybox/busybox", b"ELF", mode=0o755),
            Entry.file("busybox/bash", b"ELF", mode=0o755),
            Entry.symlink("busybox/sh", "/usr/bin/dash"),
            Entry.file("usr/bin/dash", b"ELF", mode=0o755),
        ],
    ]
    report = check_image(make_image(tmp_path, "t/img:debug", layers))
    assert by_kind(report.findings)["shell"] == {"/busybox/bash", "/busybox/sh", "/usr/bin/dash"}
    assert by_kind(report.notes)["debug-shell"] == {"/busybox/busybox"}


def test_busybox_elsewhere_is_a_finding_on_a_debug_tag(tmp_path: Path) -> None:
    layers = [*clean_layers(), [Entry.file("usr/bin/busybox", b"ELF", mode=0o755)]]
    report = check_image(make_image(tmp_path, "t/img:debug", layers))
    assert by_kind(report.findings)["shell"] == {"/usr/bin/busybox"}


def test_pip_is_a_note(tmp_path: Path) -> None:
    layer = [Entry.file("usr/local/bin/pip3", b"#!python", mode=0o755)]
    report = check_image(make_image(tmp_path, "t/py:latest", [*clean_layers(), layer]))
    assert report.passed
    assert by_kind(report.notes)["pip"] == {"/usr/local/bin/pip3"}


def test_the_tag_name_changes_nothing(tmp_path: Path) -> None:
    as_root = [
        check_image(make_image(tmp_path / tag, f"t/img:{tag}", clean_layers()))
        for tag in ("nonroot", "latest", "debug-nonroot")
    ]
    assert all(r.passed for r in as_root)
    assert as_root[0].items == as_root[1].items == as_root[2].items
    assert "root-user" in as_root[0].kinds()
    by_name = check_image(
        make_image(
            tmp_path / "b",
            "t/img:latest",
            clean_layers(),
            config=ContainerConfig(user="nonroot"),
        )
    )
    assert by_name.passed
    assert "root-user" not in by_name.kinds()


def test_unknown_user_is_a_finding(tmp_path: Path) -> None:
    report = check_image(
        make_image(tmp_path, "t/u:latest", clean_layers(), config=ContainerConfig(user="ghost"))
    )
    assert by_kind(report.findings)["unknown-user"] == {"/etc/passwd"}


def test_missing_data_and_package_metadata_are_notes(tmp_path: Path) -> None:
    layers = [
        [Entry.file("etc/passwd", b"root:x:0:0::/root:/sbin/nologin\n")],
        package_entries("tzdata", "2025b", {"usr/share/tz/x": b"x"}, md5sums=False),
        [Entry.file("usr/lib/stray.so", b"ELF")],
    ]
    report = check_image(make_image(tmp_path, "t/bare:latest", layers))
    assert report.passed
    notes = by_kind(report.notes)
    assert notes["no-ca-bundle"] == {"/etc/ssl/certs/ca-certificates.crt"}
    assert notes["no-tzdata"] == {"/usr/share/zoneinfo"}
    assert notes["no-md5sums"] == {"/var/lib/dpkg/status.d/tzdata"}
    assert "no-copyright" not in notes
    assert "/usr/lib/stray.so" in notes["unowned-file"]
    assert "/usr/share/doc/tzdata/copyright" in notes["unowned-file"]


def test_md5sums_paths_are_matched_through_merged_usr_links(tmp_path: Path) -> None:
    legacy = package_entries("oldpkg", "1.0", {"lib/oldpkg/data": b"d"})
    # the package lists lib/oldpkg/data, the image holds it under /usr/lib via the /lib link
    moved = [
        Entry.file("usr/lib/oldpkg/data", b"d") if e.path == "lib/oldpkg/data" else e
        for e in legacy
    ]
    report = check_image(make_image(tmp_path, "t/m:latest", [*clean_layers(), moved]))
    assert "/usr/lib/oldpkg/data" not in by_kind(report.notes).get("unowned-file", set())


def test_sizes_per_layer_and_largest_files(tmp_path: Path) -> None:
    big = [Entry.file("opt/big", b"x" * 5000), Entry.file("opt/mid", b"y" * 3000)]
    image = make_image(tmp_path, "t/s:latest", [*clean_layers(), big])
    report = check_image(image, largest=2)
    assert [f.path for f in report.largest] == ["/opt/big", "/opt/mid"]
    assert len(report.layers) == 4
    assert report.layers[3].content_bytes == 8000
    assert report.layers[3].digest == image.layers[3].digest
    assert report.total_size == sum(d.size for d in image.layers)


def test_tag_is_read_from_the_name_not_from_a_registry_port_or_digest(tmp_path: Path) -> None:
    import dataclasses

    image = make_image(tmp_path, "t/img:debug-nonroot", clean_layers())
    assert image.tag == "debug-nonroot"
    assert dataclasses.replace(image, name="localhost:5000/app").tag is None
    assert dataclasses.replace(image, name=image.digest).tag is None
    assert dataclasses.replace(image, name="localhost:5000/app:v1@" + image.digest).tag == "v1"


def test_package_without_copyright_is_a_note(tmp_path: Path) -> None:
    orphan = [e for e in package_entries("orphan", "1", {"usr/lib/o": b"o"}) if "doc" not in e.path]
    linked = [
        *[e for e in package_entries("libfoo1", "1", {"usr/lib/f": b"f"}) if "doc" not in e.path],
        Entry.symlink("usr/share/doc/libfoo1", "libc6"),
    ]
    report = check_image(make_image(tmp_path, "t/c:latest", [*clean_layers(), orphan, linked]))
    assert report.passed
    assert by_kind(report.notes)["no-copyright"] == {"/usr/share/doc/orphan/copyright"}
