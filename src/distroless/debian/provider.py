"""Packages for an image: from a spec (or a lock) to verified .debs to one layer each.

This is the seam between the Debian side and image assembly.  Resolution reads verified
indices; a lock skips them and pins every .deb by sha256.  Each package becomes its own
layer whose cache key is the .deb's sha256, so a package shared by several images (or
bases) is layered and compressed once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from distroless.assemble.image import LayerSource
from distroless.debian.archive import DebianArchive
from distroless.debian.deb import deb_entries
from distroless.debian.fetch import DebRef, fetch_debs, make_client
from distroless.debian.hooks import post_install_layers
from distroless.debian.indexcache import LazyPackageIndex
from distroless.debian.keyring import Keyring
from distroless.debian.lockfile import (
    LockedPackage,
    LockedSuite,
    Lockfile,
    SpecInputs,
    check_lock_matches,
)
from distroless.debian.resolver import Package, PackageIndex
from distroless.debian.resolver import resolve as resolve_packages
from distroless.debian.sources import Mirrors, discover_mirrors, distro, suite_sources
from distroless.layers.entry import Entry
from distroless.reporter import NullReporter, Reporter
from distroless.spec.model import ImageSpec

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

    def layers(self, packages: Sequence[LockedPackage], distro_name: str) -> list[LayerSource]:
        """One layer source per package, in install order; .debs fetched (verified) first."""
        merged_usr = distro(distro_name).merged_usr
        refs = [DebRef(self.url_of(p), p.sha256, p.size, p.name) for p in packages]
        paths = fetch_debs(refs, self.cache_dir, client=self.client, reporter=self.reporter)
        sources = []
        by_name = {}
        for package in packages:
            path = paths[package.sha256.lower()]
            by_name[package.name] = path

            def entries(path: Path = path, name: str = package.name) -> Iterator[Entry]:
                return deb_entries(path, merged_usr=merged_usr, package_name=name)

            sources.append(
                LayerSource(
                    created_by=f"deb {package.name} {package.version} {package.architecture}",
                    entries=entries,
                    cache_key=f"deb:{package.sha256}:{'usrmerge' if merged_usr else 'plain'}",
                )
            )
        return sources + post_install_layers(by_name, merged_usr=merged_usr)


def spec_inputs(spec: ImageSpec, archs: Sequence[str]) -> SpecInputs:
    return SpecInputs(
        distro=spec.distro,
        packages=spec.packages,
        exclude=spec.exclude,
        resolve=spec.resolve,
        archs=tuple(archs),
        repositories=spec.repositories,
    )


class SpecPackages:
    """The ``package_layers`` callback of a spec build: uses the lock if there is one."""

    def __init__(self, source: PackageSource, archs: Sequence[str]) -> None:
        self.source = source
        self.archs = tuple(archs)
        self._lock: Lockfile | None = None

    def __call__(self, spec: ImageSpec, arch: str) -> list[LayerSource]:
        if spec.lock_path.exists():
            if self._lock is None:
                lock = Lockfile.read(spec.lock_path)
                check_lock_matches(
                    lock,
                    spec_inputs(spec, self.archs),
                    lock_name=spec.lock_path.name,
                    spec_name=spec.path.name,
                )
                self._lock = lock
            locked = list(self._lock.archs[arch])
        else:
            found = self.source.resolve(
                spec.distro, arch, spec.packages, exclude=spec.exclude, resolve=spec.resolve
            )
            locked = [LockedPackage.from_package(p) for p in found]
        return self.source.layers(locked, spec.distro)
