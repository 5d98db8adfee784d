"""Packages for a build: from names (or a lock) to verified .debs in the cache.

Resolution reads verified indices; a lock skips them and pins every .deb by sha256.  What
the .debs become in an image is ``distroless.assemble.packages``' business: this side knows
nothing of images or specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from distroless.debian.archive import DebianArchive
from distroless.debian.fetch import DebRef, deb_cache_path, fetch_debs, make_client
from distroless.debian.indexcache import LazyPackageIndex
from distroless.debian.keyring import Keyring
from distroless.debian.lockfile import LockedPackage, LockedSuite, Lockfile, SpecInputs
from distroless.debian.resolver import Package, PackageIndex, Resolution, resolve_onto
from distroless.debian.resolver import resolve as resolve_packages
from distroless.debian.sources import Mirrors, discover_mirrors, distro, suite_sources
from distroless.reporter import NullReporter, Reporter

#: The security archive serves its files under this pool prefix.
SECURITY_POOL = "pool/updates/"


class PackageSource:
    """Resolves, locks and fetches Debian packages for one build; reuse it across archs."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        mirror: str | None = None,
        repositories: Sequence[str] = (),
        keyring: Keyring | None = None,
        reporter: Reporter | None = None,
        apt_root: Path = Path("/"),
    ) -> None:
        self.cache_dir = cache_dir
        self.reporter = reporter or NullReporter()
        self._mirror = mirror
        self._repositories = tuple(repositories)
        self._apt_root = apt_root
        self._keyring = keyring
        self._archive: DebianArchive | None = None
        self._client: httpx.Client | None = None
        self._mirrors: Mirrors | None = None
        self._indices: dict[tuple[str, str], PackageIndex] = {}

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> httpx.Client:
        """One HTTP client for indices and .debs: setting one up costs tens of ms."""
        if self._client is None:
            self._client = make_client()
        return self._client

    @property
    def mirrors(self) -> Mirrors:
        if self._mirrors is None:
            self._mirrors = discover_mirrors(
                self._apt_root, self._mirror, repositories=self._repositories
            )
        return self._mirrors

    @property
    def archive(self) -> DebianArchive:
        if self._archive is None:
            self._archive = DebianArchive(
                self.cache_dir, keyring=self._keyring, client=self.client, reporter=self.reporter
            )
        return self._archive

    def index(self, distro_name: str, arch: str) -> PackageIndex:
        key = (distro_name, arch)
        if key not in self._indices:
            sources = suite_sources(distro(distro_name), self.mirrors)
            indices = self.archive.indices(sources, arch)
            # Only the paragraphs the resolver asks for are read, through lookup
            # tables kept beside the cached indices.
            self._indices[key] = LazyPackageIndex.open(arch, indices)
        return self._indices[key]

    def suites(self, distro_name: str) -> list[LockedSuite]:
        out = []
        for source in suite_sources(distro(distro_name), self.mirrors):
            suite = self.archive.suite(source.mirror, source.suite)
            # the path within its archive: a lock names no mirror, so it works with any
            path = f"dists/{suite.name}"
            out.append(LockedSuite.at(suite.name, path, suite.inrelease_sha256, suite.date))
        return out

    def resolve(
        self,
        distro_name: str,
        arch: str,
        packages: Sequence[str],
        *,
        exclude: Sequence[str] = (),
        resolve: bool = True,
    ) -> list[Package]:
        return resolve_packages(
            self.index(distro_name, arch), packages, exclude=exclude, resolve=resolve
        )

    def resolve_onto(
        self,
        distro_name: str,
        arch: str,
        packages: Sequence[str],
        *,
        exclude: Sequence[str] = (),
        resolve: bool = True,
        installed: Sequence[Package] = (),
        management: Sequence[str] = (),
    ) -> Resolution:
        """Resolve on top of ``installed`` (a base's packages), leaving ``management`` out."""
        if not packages:
            return Resolution(())
        return resolve_onto(
            self.index(distro_name, arch),
            packages,
            exclude=exclude,
            resolve=resolve,
            installed=installed,
            management=management,
        )

    def lock(self, inputs: SpecInputs) -> Lockfile:
        resolved = {
            arch: self.resolve(
                inputs.distro,
                arch,
                inputs.packages,
                exclude=inputs.exclude,
                resolve=inputs.resolve,
            )
            for arch in sorted(set(inputs.archs))
        }
        return Lockfile.build(inputs, self.suites(inputs.distro), resolved)

    def url_of(self, package: LockedPackage) -> str:
        """Security updates live on the security archive, everything else on the main one."""
        mirrors = self.mirrors
        if package.filename.startswith(SECURITY_POOL) and mirrors.security is not None:
            return f"{mirrors.security.rstrip('/')}/{package.filename}"
        return f"{mirrors.main.rstrip('/')}/{package.filename}"

    def planned_path(self, package: LockedPackage) -> Path:
        """Where :meth:`deb_paths` keeps ``package``'s .deb (by its sha256)."""
        return deb_cache_path(self.cache_dir, package.sha256)

    def deb_paths(self, packages: Sequence[LockedPackage]) -> dict[str, Path]:
        """Package name -> its verified .deb in the cache, fetching only what is missing.

        With every .deb cached (a warm rebuild) no download round starts at all.
        """
        out: dict[str, Path] = {}
        missing = []
        for package in packages:
            path = self.planned_path(package)
            if path.is_file() and path.stat().st_size == package.size:
                out[package.name] = path
            else:
                missing.append(package)
        if missing:
            refs = [DebRef(self.url_of(p), p.sha256, p.size, p.name) for p in missing]
            by_sha = fetch_debs(refs, self.cache_dir, client=self.client, reporter=self.reporter)
            out.update({p.name: by_sha[p.sha256.lower()] for p in missing})
        return out
