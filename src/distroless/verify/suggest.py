"""Which Debian package would bring a missing library, from the Packages indices alone.

Debian has no file list in its ``Packages`` indices (that is ``Contents``, tens of
megabytes more per architecture), but its policy names a shared library's package after
the library's ``SONAME``: ``libstdc++.so.6`` is in ``libstdc++6``, ``libsqlite3.so.0`` in
``libsqlite3-0`` (a dash when the name ends in a digit), ``libgcc_s.so.1`` in
``libgcc-s1`` (no underscores in package names).  Packages renamed since (the 64-bit
``time_t`` transition's ``libssl3t64``) and packages named otherwise (``zlib1g``) declare
the policy name in ``Provides``, so a candidate that is no real package is looked up among
the providers.  glibc's libraries and OpenSSL's ``libcrypto`` are the few that neither rule
reaches; they are named here.

The guess is only offered when the index holds a package of that name for the image's
architecture, and is presented as the package that *would provide* the library, not as a
fact about the file.

Which index: by default only those already in the package cache (``check`` stays fast and
offline), and only those that belong to the image's release.  An index belongs to it when
it lists one of the image's own ``status.d`` packages at exactly the installed version, or
when its ``base-files`` carries the image's ``VERSION_ID`` as its major version (Debian
numbers ``base-files`` after the release: ``13.8`` is Debian 13).  The cached files were
verified against the archive's signature when they were downloaded; nothing here writes
to the cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from distroless.errors import DistrolessError
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle
from distroless.verify.packages import installed_packages, os_release

if TYPE_CHECKING:
    # the index code brings the HTTP client with it: imported only when hints are made
    from distroless.debian.resolver import PackageIndex

#: glibc's sonames: one package, libc6, holds them all
GLIBC_PACKAGE = "libc6"
_GLIBC = re.compile(
    r"(ld-linux[-\w.]*\.so\.\d+|ld64\.so\.\d|ld\.so\.1|ld-linux\.so\.\d|"
    r"lib(c|m|mvec|dl|rt|pthread|resolv|util|anl|BrokenLocale|thread_db|c_malloc_debug|"
    r"nss_(files|dns|compat|hesiod))\.so\.\d+|libnsl\.so\.1)"
)
#: libraries whose package follows no naming rule and provides no policy name
_NAMED = {
    "libcrypto.so.3": "libssl3",
    "libcrypto.so.1.1": "libssl1.1",
}
_SONAME = re.compile(r"(?P<stem>.+?)\.so(?:\.(?P<version>[0-9][0-9.]*))?")
_HEX = re.compile(r"[0-9a-f]{64}")


class PackageHints(Protocol):
    """Something that can name the package of a library (None when it cannot)."""

    def package_for(self, soname: str) -> str | None: ...


class NoHints:
    def package_for(self, soname: str) -> str | None:
        return None


def policy_names(soname: str) -> list[str]:
    """Package names Debian's policy would give ``soname``, most likely first."""
    if _GLIBC.fullmatch(soname):
        return [GLIBC_PACKAGE]
    if soname in _NAMED:
        return [_NAMED[soname]]
    match = _SONAME.fullmatch(soname.rsplit("/", 1)[-1])
    if match is None:
        return []
    stem = match.group("stem").lower().replace("_", "-")
    version = match.group("version")
    out: list[str] = []
    if version:
        for v in dict.fromkeys((version, version.split(".")[0])):
            out.append(f"{stem}-{v}" if stem[-1].isdigit() else f"{stem}{v}")
    else:
        # libdb-5.3.so: the version is part of the name, and the package drops the dash
        out.append(re.sub(r"-(?=[0-9][0-9.]*$)", "", stem))
    out.append(stem)  # libpython3.13.so.1.0 is in libpython3.13
    return list(dict.fromkeys(n for n in out if re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", n)))


class IndexHints:
    """Package names from Packages indices of one architecture, searched in order."""

    def __init__(self, indices: Sequence[PackageIndex]) -> None:
        self.indices = tuple(indices)
        self._memo: dict[str, str | None] = {}

    def package_for(self, soname: str) -> str | None:
        if soname not in self._memo:
            self._memo[soname] = self._find(soname)
        return self._memo[soname]

    def _find(self, soname: str) -> str | None:
        from distroless.debian.relations import Relation

        for name in policy_names(soname):
            for index in self.indices:
                if name in index:
                    return name
                providers = index.providers(Relation(name))
                if providers:
                    return providers[0].name
        return None


def _cached_files(cache_dir: Path) -> list[tuple[Path, str]]:
    from distroless.debian.archive import index_cache_path

    directory = index_cache_path(cache_dir, "0" * 64).parent
    try:
        names = sorted(p.name for p in directory.iterdir())
    except OSError:
        return []
    return [(directory / n, n) for n in names if _HEX.fullmatch(n)]


def _same_release(
    index: PackageIndex, installed: Iterable[tuple[str, str]], version_id: str
) -> bool:
    for name, version in installed:
        if any(str(p.version) == version for p in index.candidates(name)):
            return True
    if version_id:
        base_files = index.candidates("base-files")
        return any(str(p.version).split(".", 1)[0] == version_id for p in base_files)
    return False


def cached_hints(
    cache_dir: Path,
    debian_arch: str,
    installed: Sequence[tuple[str, str]],
    version_id: str,
) -> PackageHints:
    """Hints from the cached indices of the image's release and architecture (read only).

    ``installed`` is the image's packages as (name, version); ``version_id`` its
    ``os-release`` ``VERSION_ID``.  An index without its lookup table beside it (one no
    build has used yet) is passed over rather than scanned.
    """
    from distroless.debian.indexcache import LazyPackageIndex, read_table

    indices: list[PackageIndex] = []
    for path, key in _cached_files(cache_dir):
        table = read_table(path, key)
        if table is None or debian_arch not in table.archs:
            continue
        try:
            index = LazyPackageIndex.from_files(debian_arch, [(path, key, f"cached index {key}")])
            if _same_release(index, installed, version_id):
                indices.append(index)
        except DistrolessError:
            continue  # a damaged cache entry gives no hint, and no error
    return IndexHints(indices) if indices else NoHints()


def fetched_hints(
    cache_dir: Path, debian_arch: str, version_id: str, mirror: str | None = None
) -> PackageHints:
    """Hints from the verified indices of the image's release, downloaded when not cached.

    This asks the mirror for the release's signed ``InRelease`` files (and any index the
    cache lacks), so it is only used when asked for (``check --suggest fetch``).  An
    image whose ``VERSION_ID`` names no release distroless builds from gets no hints.
    """
    from distroless.debian.provider import PackageSource
    from distroless.debian.sources import DISTROS

    names = [d.name for d in DISTROS.values() if d.version == version_id]
    if not names:
        return NoHints()
    source = PackageSource(cache_dir, mirror=mirror)
    try:
        return IndexHints([source.index(names[0], debian_arch)])
    finally:
        source.close()


def hints_for_image(
    fs: FileSystemView,
    image: ImageHandle,
    cache_dir: Path,
    *,
    fetch: bool = False,
    mirror: str | None = None,
) -> PackageHints:
    """The hints for ``image``: its release and architecture found from its own files."""
    from distroless.elf.machine import loader_for_arch

    platform = image.config.platform
    loader = loader_for_arch(platform.architecture, platform.variant)
    if loader is None:
        return NoHints()
    release = os_release(fs)
    version_id = release.version_id if release is not None else ""
    if fetch:
        return fetched_hints(cache_dir, loader.debian_arch, version_id, mirror)
    # os-release names the release in one small file; the status.d entries, read from
    # every layer, are the fallback for an image without one
    installed = [] if version_id else [(p.name, p.version) for p in installed_packages(fs)]
    return cached_hints(cache_dir, loader.debian_arch, installed, version_id)
