"""The lookup tables over the real archive's indices resolve exactly as a full parse does."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.debian.indexcache import LazyPackageIndex, sidecar_path
from distroless.debian.provider import PackageSource
from distroless.debian.resolver import PackageIndex, resolve
from distroless.debian.sources import distro, read_apt_sources, suite_sources
from distroless.errors import DebianError
from tests.helpers import require

pytestmark = [pytest.mark.integration, pytest.mark.network]

REQUESTS = [
    "python3.13-minimal",
    "libpython3.13-stdlib",
    "ca-certificates",
    "openssl",
    "perl",
    "default-jre-headless",
    "nodejs",
    "mail-transport-agent",
    "awk",
]


def test_lazy_index_matches_full_parse_on_the_real_archive(package_cache: Path) -> None:
    require(read_apt_sources(Path("/")), "this host's apt sources name no Debian archive")
    source = PackageSource(package_cache)
    try:
        sources = suite_sources(distro("debian13"), source.mirrors)
        indices = source.archive.indices(sources, "amd64")
        lazy = LazyPackageIndex.open("amd64", indices)
        full = PackageIndex.from_paragraphs("amd64", *(i.paragraphs() for i in indices))
    finally:
        source.close()
    assert isinstance(lazy, LazyPackageIndex)
    assert all(sidecar_path(i.path).is_file() for i in indices)
    assert lazy.names() == full.names()
    for request in REQUESTS:
        for mode in (True, False):
            try:
                want: object = [str(p) for p in resolve(full, [request], resolve=mode)]
            except DebianError as exc:
                want = exc.message
            try:
                got: object = [str(p) for p in resolve(lazy, [request], resolve=mode)]
            except DebianError as exc:
                got = exc.message
            assert got == want, request
