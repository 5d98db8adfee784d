from __future__ import annotations

import lzma
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from distroless.debian.archive import DebianArchive, index_cache_path
from distroless.debian.keyring import load_keyring
from distroless.debian.sources import SuiteSource
from distroless.errors import IntegrityError, NotFoundError
from distroless.reporter import RecordingReporter
from tests.debian.archive_fakes import (
    FakeArchive,
    Mirror,
    build_deb,
    listing,
    make_archive,
    new_key,
    serve,
)

NOW = datetime(2025, 11, 2, tzinfo=UTC)


@dataclass
class Setup:
    fake: FakeArchive
    mirror: Mirror
    cache: Path
    reporter: RecordingReporter

    def archive(self) -> DebianArchive:
        return DebianArchive(
            self.cache, keyring=load_keyring([self.fake.keyfile]), reporter=self.reporter, now=NOW
        )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    fake = make_archive(tmp_path / "mirror", tmp_path)
    for name in ("alpha", "beta"):
        fake.debs[name] = build_deb(
            tmp_path / f"mirror/pool/main/{name[0]}/{name}/{name}_1.0_amd64.deb",
            name,
            {"./etc/": None, f"./etc/{name}": name.encode()},
        )
    fake.publish("trixie", ("amd64", "arm64"))
    cache = tmp_path / "cache"
    cache.mkdir()
    with serve(fake.root) as mirror:
        yield Setup(fake, mirror, cache, RecordingReporter())


def test_suite_and_packages(setup: Setup) -> None:
    with setup.archive() as archive:
        suite = archive.suite(setup.mirror.url + "/", "trixie")
        assert suite.url == f"{setup.mirror.url}/dists/trixie"
        assert suite.date == datetime(2025, 11, 1, 10, tzinfo=UTC)
        assert len(suite.inrelease_sha256) == 64
        for arch in ("amd64", "arm64"):
            index = archive.packages(suite, arch)
            names = [p["Package"] for p in index.paragraphs()]
            assert names == ["alpha", "beta"]
            assert index.path == index_cache_path(setup.cache, index.sha256)
        ref = index.deb_ref(next(iter(index.paragraphs())))
        assert ref.url == f"{setup.mirror.url}/pool/main/a/alpha/alpha_1.0_amd64.deb"
        assert ref.size == setup.fake.debs["alpha"].stat().st_size


def test_cached_index_is_not_downloaded_again(setup: Setup) -> None:
    with setup.archive() as archive:
        archive.packages(archive.suite(setup.mirror.url, "trixie"), "amd64")
    with setup.archive() as archive:
        archive.packages(archive.suite(setup.mirror.url, "trixie"), "amd64")
    assert setup.mirror.requests["/dists/trixie/InRelease"] == 2
    assert setup.mirror.requests["/dists/trixie/main/binary-amd64/Packages.xz"] == 1
    assert "index-cached" in setup.reporter.kinds()


def test_by_hash_is_preferred(setup: Setup) -> None:
    setup.fake.publish("trixie", ("amd64",), by_hash=True)
    with setup.archive() as archive:
        index = archive.packages(archive.suite(setup.mirror.url, "trixie"), "amd64")
    assert setup.mirror.requests[f"/dists/trixie/main/binary-amd64/by-hash/SHA256/{index.sha256}"]
    assert not setup.mirror.requests["/dists/trixie/main/binary-amd64/Packages.xz"]


def test_tampered_packages_is_refused_and_nothing_kept(setup: Setup) -> None:
    with setup.archive() as archive:  # warm the cache with arm64
        archive.packages(archive.suite(setup.mirror.url, "trixie"), "arm64")
    before = listing(setup.cache)
    target = setup.fake.root / "dists/trixie/main/binary-amd64/Packages.xz"
    text = lzma.decompress(target.read_bytes()).replace(b"alpha", b"alphx")
    target.write_bytes(lzma.compress(text))
    with setup.archive() as archive, pytest.raises(IntegrityError) as info:
        archive.packages(archive.suite(setup.mirror.url, "trixie"), "amd64")
    assert "binary-amd64/Packages.xz" in str(info.value)
    assert listing(setup.cache) == before


def test_tampered_packages_from_empty_cache(setup: Setup) -> None:
    target = setup.fake.root / "dists/trixie/main/binary-amd64/Packages.xz"
    target.write_bytes(target.read_bytes()[:-1] + b"\0")
    with setup.archive() as archive, pytest.raises(IntegrityError, match=r"Packages\.xz"):
        archive.packages(archive.suite(setup.mirror.url, "trixie"), "amd64")
    assert listing(setup.cache) == []


def test_inrelease_by_stranger_is_refused(setup: Setup, tmp_path: Path) -> None:
    stranger, _ = new_key(tmp_path, "stranger")
    setup.fake.publish("trixie", ("amd64",), signer=stranger)
    with setup.archive() as archive, pytest.raises(IntegrityError) as info:
        archive.suite(setup.mirror.url, "trixie")
    assert "dists/trixie/InRelease" in str(info.value)
    assert listing(setup.cache) == []


def test_expired_inrelease_is_refused(setup: Setup) -> None:
    setup.fake.publish("trixie", ("amd64",), valid_until="Sat, 01 Nov 2025 12:00:00 UTC")
    with setup.archive() as archive, pytest.raises(IntegrityError, match="expired"):
        archive.suite(setup.mirror.url, "trixie")


def test_missing_suite_and_arch(setup: Setup) -> None:
    with setup.archive() as archive:
        with pytest.raises(NotFoundError, match="dists/forky/InRelease"):
            archive.suite(setup.mirror.url, "forky")
        suite = archive.suite(setup.mirror.url, "trixie")
        with pytest.raises(NotFoundError, match="binary-riscv64"):
            archive.packages(suite, "riscv64")


def test_indices_for_suite_sources(setup: Setup) -> None:
    setup.fake.publish("trixie-updates", ("amd64", "arm64"))
    sources = [
        SuiteSource(setup.mirror.url, "trixie"),
        SuiteSource(setup.mirror.url, "trixie-updates"),
    ]
    with setup.archive() as archive:
        amd64 = archive.indices(sources, "amd64")
        arm64 = archive.indices(sources, "arm64")
    assert [i.suite.name for i in amd64] == ["trixie", "trixie-updates"]
    assert [i.arch for i in arm64] == ["arm64", "arm64"]
    assert setup.mirror.requests["/dists/trixie/InRelease"] == 1


def test_empty_index(setup: Setup) -> None:
    setup.fake.debs.clear()
    setup.fake.publish("empty", ("amd64",))
    with setup.archive() as archive:
        index = archive.packages(archive.suite(setup.mirror.url, "empty"), "amd64")
        assert list(index.paragraphs()) == []
