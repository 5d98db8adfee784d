"""Generated files: user database, os-release, directories, the CA bundle, busybox."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.bases.busybox import applet_names, busybox_entries
from distroless.bases.generated import GROUPS, USERS, GeneratedFiles, ca_bundle, os_release
from distroless.errors import ArchiveError
from distroless.layers.entry import EntryType
from tests.bases.fakes import BUSYBOX_BINARY, PEM_A, PEM_B, FakeDebs
from tests.debian.archive_fakes import build_deb


def test_user_database_is_byte_exact() -> None:
    assert USERS == (
        "root:x:0:0:root:/root:/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    )
    assert GROUPS == "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"


def test_os_release_per_distro() -> None:
    text = os_release("debian12")
    assert text.startswith('PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\n')
    # as the published images write it (Debian's own file says VERSION="12 (bookworm)")
    assert 'VERSION_ID="12"' in text and 'VERSION="Debian GNU/Linux 12 (bookworm)"' in text
    assert 'VERSION="Debian GNU/Linux 13 (trixie)"' in os_release("debian13")
    assert 'VERSION_ID="13"' in os_release("debian13")


def test_generated_layer_contents(tmp_path: Path) -> None:
    debs = FakeDebs(tmp_path)
    files = GeneratedFiles(
        "debian13", "amd64", debs.paths["ca-certificates"], (("/usr/bin/python", "python3.13"),)
    )
    entries = {e.path: e for e in files.entries()}
    assert entries["etc/passwd"].open().read() == USERS.encode()
    assert entries["tmp"].mode == 0o1777 and entries["root"].mode == 0o700
    home = entries["home/nonroot"]
    assert (home.mode, home.uid, home.gid) == (0o700, 65532, 65532)
    assert entries["usr/bin/python"].linkname == "python3.13"
    assert "etc/ld.so.cache" not in entries
    assert "etc/os-release" not in entries  # base-files' link to /usr/lib/os-release stays


def test_ca_bundle_concatenates_in_path_order(tmp_path: Path) -> None:
    debs = FakeDebs(tmp_path)
    entries = {e.path: e for e in ca_bundle(debs.paths["ca-certificates"], merged_usr=True)}
    assert set(entries) == {
        "etc/ssl/certs/ca-certificates.crt",
        "usr/share/doc/ca-certificates/copyright",
        "var/lib/dpkg/status.d/ca-certificates",
    }
    assert entries["etc/ssl/certs/ca-certificates.crt"].open().read() == PEM_A + PEM_B + b"\n"
    status = entries["var/lib/dpkg/status.d/ca-certificates"].open().read().decode()
    assert status.startswith("Package: ca-certificates\nStatus: install ok installed\n")


def test_ca_bundle_needs_certificates(tmp_path: Path) -> None:
    empty = build_deb(tmp_path / "ca.deb", "ca-certificates", {"./usr/share/doc/x": b""})
    with pytest.raises(ArchiveError, match="ships no certificates"):
        ca_bundle(empty, merged_usr=True)


def test_busybox_applets_from_the_name_table() -> None:
    assert applet_names(BUSYBOX_BINARY) == ["[", "[[", "ash", "cat", "sh", "true"]
    with pytest.raises(ArchiveError, match="no applet name table"):
        applet_names(b"\x7fELF nothing here")
    with pytest.raises(ArchiveError, match="no 'sh'"):
        applet_names(b"[\0[[\0cat\0\0")


def test_busybox_layer(tmp_path: Path) -> None:
    debs = FakeDebs(tmp_path)
    entries = {e.path: e for e in busybox_entries(debs.paths["busybox-static"], merged_usr=True)}
    binary = entries["busybox/busybox"]
    assert binary.type is EntryType.FILE and binary.mode == 0o755
    assert binary.open().read() == BUSYBOX_BINARY
    assert entries["busybox/sh"].linkname == "busybox"
    assert "var/lib/dpkg/status.d/busybox-static" in entries
    assert not any(p.startswith(("bin/", "usr/bin/")) for p in entries)  # no /bin/sh
