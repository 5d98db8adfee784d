"""Debian packages as image layers: one layer per .deb, plus what maintainer scripts would add.

The Debian side (``distroless.debian``) resolves, locks and fetches verified .debs and knows
nothing of images; this module turns them into :class:`LayerSource` values.  A package's
layer is keyed by its .deb's sha256 (and whether /usr is merged), so a package shared by
several images, spec builds and base images alike, is layered and compressed once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from distroless.assemble.image import LayerSource
from distroless.debian.deb import deb_entries
from distroless.debian.hooks import ca_bundle_entries
from distroless.debian.lockfile import LockedPackage, Lockfile, SpecInputs, check_lock_matches
from distroless.debian.sources import distro
from distroless.layers.entry import Entry
from distroless.spec.model import ImageSpec

if TYPE_CHECKING:
    from distroless.debian.provider import PackageSource

CA_CERTIFICATES = "ca-certificates"


def package_layer(package: LockedPackage, deb: Path, *, merged_usr: bool) -> LayerSource:
    """The layer of one package: its files and its ``status.d`` entry."""

    def entries() -> Iterator[Entry]:
        return deb_entries(deb, merged_usr=merged_usr, package_name=package.name)

    return LayerSource(
        created_by=f"deb {package.name} {package.version} {package.architecture}",
        entries=entries,
        cache_key=f"deb:{package.sha256}:{'usrmerge' if merged_usr else 'plain'}",
    )


def package_layers(
    packages: Sequence[LockedPackage], debs: Mapping[str, Path], *, merged_usr: bool
) -> list[LayerSource]:
    """One layer per package, in the order given; ``debs`` maps package name -> .deb."""
    return [package_layer(p, debs[p.name], merged_usr=merged_usr) for p in packages]


def post_install_layers(debs: Mapping[str, Path], *, merged_usr: bool) -> list[LayerSource]:
    """Layers standing in for maintainer scripts, for the packages in ``debs`` (name -> .deb).

    Only the CA bundle of ``ca-certificates`` matters enough to make: TLS stacks read it.
    """
    layers = []
    if CA_CERTIFICATES in debs:
        deb = debs[CA_CERTIFICATES]
        layers.append(
            LayerSource(
                created_by="ca-certificates bundle /etc/ssl/certs/ca-certificates.crt",
                entries=lambda: ca_bundle_entries(deb, merged_usr=merged_usr),
                cache_key=f"cabundle:{deb.name}",
            )
        )
    return layers


def spec_inputs(spec: ImageSpec, archs: Sequence[str]) -> SpecInputs:
    """What of a spec a lock depends on."""
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

    def _locked(self, spec: ImageSpec, arch: str) -> list[LockedPackage]:
        if not spec.lock_path.exists():
            found = self.source.resolve(
                spec.distro, arch, spec.packages, exclude=spec.exclude, resolve=spec.resolve
            )
            return [LockedPackage.from_package(p) for p in found]
        if self._lock is None:
            lock = Lockfile.read(spec.lock_path)
            check_lock_matches(
                lock,
                spec_inputs(spec, self.archs),
                lock_name=spec.lock_path.name,
                spec_name=spec.path.name,
            )
            self._lock = lock
        return list(self._lock.archs[arch])

    def __call__(self, spec: ImageSpec, arch: str) -> list[LayerSource]:
        locked = self._locked(spec, arch)
        debs = self.source.deb_paths(locked)
        merged_usr = distro(spec.distro).merged_usr
        return package_layers(locked, debs, merged_usr=merged_usr) + post_install_layers(
            debs, merged_usr=merged_usr
        )
