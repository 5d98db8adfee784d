"""The Debian I/O edge against the real archive named by this host's apt sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.debian.archive import DebianArchive, PackagesIndex, Suite
from distroless.debian.deb import deb_entries, read_control
from distroless.debian.fetch import fetch_debs
from distroless.debian.sources import discover_mirrors, distro, read_apt_sources
from distroless.layers.entry import EntryType
from distroless.reporter import RecordingReporter

pytestmark = [pytest.mark.integration, pytest.mark.network]

WANTED = ("base-files", "ca-certificates")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("debian-cache")


@pytest.fixture(scope="module")
def archive(cache: Path) -> Iterator[DebianArchive]:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    with DebianArchive(cache) as opened:
        yield opened


@pytest.fixture(scope="module")
def trixie(archive: DebianArchive) -> Suite:
    mirrors = discover_mirrors(env={})
    return archive.suite(mirrors.main, distro("debian13").codename)


def test_trixie_inrelease_verifies(trixie: Suite) -> None:
    assert trixie.release.codename == "trixie"
    assert len(trixie.inrelease_sha256) == 64
    assert {"amd64", "arm64"} <= set(trixie.release.architectures)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_packages_for_both_arches(archive: DebianArchive, trixie: Suite, arch: str) -> None:
    index = archive.packages(trixie, arch)
    found = {p["Package"]: p for p in index.paragraphs() if p["Package"] in WANTED}
    assert set(found) == set(WANTED)
    assert found["base-files"]["Architecture"] == arch


def test_debs_become_merged_usr_entries(archive: DebianArchive, trixie: Suite, cache: Path) -> None:
    index: PackagesIndex = archive.packages(trixie, "amd64")
    refs = [index.deb_ref(p) for p in index.paragraphs() if p["Package"] in WANTED]
    reporter = RecordingReporter()
    paths = fetch_debs(refs, cache, client=archive.client, reporter=reporter)
    fetch_debs(refs, cache, client=archive.client, reporter=reporter)
    assert reporter.kinds().count("deb-cached") == len(WANTED)
    for ref in refs:
        deb = paths[ref.sha256]
        assert read_control(deb)["Package"] == ref.name
        entries = {e.path: e for e in deb_entries(deb, merged_usr=True)}
        status = entries[f"var/lib/dpkg/status.d/{ref.name}"].open().read().decode()
        assert "Status: install ok installed" in status
        assert f"var/lib/dpkg/status.d/{ref.name}.md5sums" in entries
        moved = [p for p in entries if p.split("/")[0] in {"sbin", "lib", "lib64"}]
        assert all(entries[p].type is EntryType.SYMLINK for p in moved)
    by_name = {ref.name: paths[ref.sha256] for ref in refs}
    base = {e.path: e for e in deb_entries(by_name["base-files"], merged_usr=True)}
    assert base["bin"].linkname == "usr/bin"
    assert base["etc/os-release"].type is EntryType.SYMLINK
    certs = {e.path: e for e in deb_entries(by_name["ca-certificates"], merged_usr=True)}
    assert any(p.startswith("usr/share/ca-certificates/mozilla/") for p in certs)
