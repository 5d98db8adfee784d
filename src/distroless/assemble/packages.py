"""Debian packages as image layers: one layer per .deb, plus what maintainer scripts would add.

The Debian side (``distroless.debian``) resolves, locks and fetches verified .debs and knows
nothing of images; this module turns them into :class:`LayerSource` values.  A package's
layer is keyed by its .deb's sha256 (and whether /usr is merged), so a package shared by
several images, spec builds and base images alike, is layered and compressed once.

On a base image, the packages the base holds (its ``status.d``) satisfy dependencies and
only the missing ones become layers; dependencies on package-management packages are left
unsatisfied and noted in the depending package's ``status.d`` entry and in the lock.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from distroless.assemble.image import LayerSource
from distroless.debian.deb import deb_entries
from distroless.debian.lockfile import LockedPackage, Lockfile, SpecInputs, check_lock_matches
from distroless.debian.management import UNSATISFIED_FIELD, management_list
from distroless.debian.postinst_files import ca_bundle_entries
from distroless.debian.resolver import Resolution, Unsatisfied
from distroless.debian.sources import distro
from distroless.errors import LockfileError
from distroless.layers.entry import Entry
from distroless.reporter import NullReporter, Reporter
from distroless.spec.model import ImageSpec
from distroless.store import Store, StoredImage

if TYPE_CHECKING:
    from distroless.debian.provider import PackageSource

CA_CERTIFICATES = "ca-certificates"


def package_layer(
    package: LockedPackage,
    deb: Path,
    *,
    merged_usr: bool,
    unsatisfied: Sequence[str] = (),
) -> LayerSource:
    """The layer of one package: its files and its ``status.d`` entry.

    ``unsatisfied`` (relations of this package left out on purpose) is written into the
    entry, so the image itself says what it lacks; it is part of the cache key.
    """
    fields = [(UNSATISFIED_FIELD, ", ".join(unsatisfied))] if unsatisfied else []

    def entries() -> Iterator[Entry]:
        return deb_entries(
            deb, merged_usr=merged_usr, package_name=package.name, status_fields=fields
        )

    key = f"deb:{package.sha256}:{'usrmerge' if merged_usr else 'plain'}"
    if unsatisfied:
        key += ":unsatisfied:" + hashlib.sha256("\n".join(unsatisfied).encode()).hexdigest()
    return LayerSource(
        created_by=f"deb {package.name} {package.version} {package.architecture}",
        entries=entries,
        cache_key=key,
    )


def package_layers(
    packages: Sequence[LockedPackage],
    debs: Mapping[str, Path],
    *,
    merged_usr: bool,
    unsatisfied: Sequence[Unsatisfied] = (),
) -> list[LayerSource]:
    """One layer per package, in the order given; ``debs`` maps package name -> .deb."""
    left_out: dict[str, list[str]] = {}
    for item in unsatisfied:
        left_out.setdefault(item.package, []).append(item.relation)
    return [
        package_layer(p, debs[p.name], merged_usr=merged_usr, unsatisfied=left_out.get(p.name, ()))
        for p in packages
    ]


def fetched_first(sources: Sequence[LayerSource], fetch: Callable[[], object]) -> list[LayerSource]:
    """``sources`` whose entries call ``fetch`` (once, for all of them) before anything is
    read: .debs that are only planned come when a layer is made from them, and never when
    every layer is found by its key."""
    lock = threading.Lock()
    done: list[bool] = []

    def fetch_once() -> None:
        with lock:
            if not done:
                fetch()
                done.append(True)

    def after_fetch(entries: Callable[[], Iterable[Entry]]) -> Callable[[], Iterable[Entry]]:
        def produce() -> Iterable[Entry]:
            fetch_once()
            return entries()

        return produce

    return [replace(source, entries=after_fetch(source.entries)) for source in sources]


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
    """What of a spec a lock depends on.

    The base and the management list count only when they matter (a base other than
    ``scratch``, a list other than the default): a spec without them keeps its digest.
    """
    extra: list[tuple[str, object]] = []
    if spec.base != "scratch":
        extra.append(("base", spec.base))
    if spec.management_packages is not None:
        extra.append(("management_packages", list(management_list(spec.management_packages))))
    if spec.python is not None:
        from distroless.python.requirements import requirements_digest

        extra.append(("python", requirements_digest(spec.python)))
    return SpecInputs(
        distro=spec.distro,
        packages=spec.packages,
        exclude=spec.exclude,
        resolve=spec.resolve,
        archs=tuple(archs),
        repositories=spec.repositories,
        extra=tuple(extra),
    )


def resolve_spec(
    store: Store,
    source: PackageSource,
    spec: ImageSpec,
    arch: str,
    base: StoredImage | None,
) -> Resolution:
    """The spec's packages for ``arch``, resolved on top of what ``base`` holds."""
    from distroless.assemble.base_packages import installed_packages

    installed = installed_packages(store, base) if base is not None else ()
    return source.resolve_onto(
        spec.distro,
        arch,
        spec.packages,
        exclude=spec.exclude,
        resolve=spec.resolve,
        installed=installed,
        management=management_list(spec.management_packages),
    )


def check_lock_base(lock: Lockfile, arch: str, base: StoredImage | None, spec: ImageSpec) -> None:
    """A lock resolved against another base than the one found now is stale."""
    locked = lock.base.get(arch)
    found = base.digest if base is not None else None
    if locked != found:
        raise LockfileError(
            f"{spec.lock_path.name} was resolved against another {spec.base} for {arch} "
            f"({locked or 'none'}, now {found}); run `distroless lock {spec.path.name}` again"
        )


class SpecPackages:
    """The ``package_layers`` callback of a spec build: uses the lock if there is one."""

    def __init__(
        self,
        store: Store,
        source: PackageSource,
        archs: Sequence[str],
        reporter: Reporter | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.archs = tuple(archs)
        self.reporter = reporter or NullReporter()
        self._lock: Lockfile | None = None

    def lock(self, spec: ImageSpec) -> Lockfile | None:
        """The spec's lock, checked against the spec, or None without one."""
        if not spec.lock_path.exists():
            return None
        if self._lock is None:
            lock = Lockfile.read(spec.lock_path)
            check_lock_matches(
                lock,
                spec_inputs(spec, self.archs),
                lock_name=spec.lock_path.name,
                spec_name=spec.path.name,
            )
            self._lock = lock
        return self._lock

    def _locked(
        self, spec: ImageSpec, arch: str, base: StoredImage | None
    ) -> tuple[list[LockedPackage], tuple[Unsatisfied, ...]]:
        lock = self.lock(spec)
        if lock is None:
            found = resolve_spec(self.store, self.source, spec, arch, base)
            for item in found.unsatisfied:
                self.reporter.event("unsatisfied", arch=arch, package=item.package,
                                    relation=item.relation)  # fmt: skip
            return [LockedPackage.from_package(p) for p in found.packages], found.unsatisfied
        if base is not None or lock.base:
            check_lock_base(lock, arch, base, spec)
        return list(lock.archs[arch]), lock.unsatisfied.get(arch, ())

    def __call__(self, spec: ImageSpec, arch: str, base: StoredImage | None) -> list[LayerSource]:
        locked, unsatisfied = self._locked(spec, arch, base)
        if not locked:
            return []
        debs = self.source.deb_paths(locked)
        merged_usr = distro(spec.distro).merged_usr
        layers = package_layers(locked, debs, merged_usr=merged_usr, unsatisfied=unsatisfied)
        return layers + post_install_layers(debs, merged_usr=merged_usr)


def lock_spec(
    store: Store,
    source: PackageSource | None,
    spec: ImageSpec,
    archs: Sequence[str],
    bases: Mapping[str, StoredImage | None],
) -> Lockfile:
    """The lock of ``spec``'s packages for ``archs``, each resolved onto its base.

    Without packages (a spec that only adds Python wheels) no suite is read.
    """
    resolved = {}
    unsatisfied = {}
    for arch in sorted(set(archs)):
        if source is not None and spec.packages:
            found = resolve_spec(store, source, spec, arch, bases.get(arch))
            resolved[arch], unsatisfied[arch] = found.packages, found.unsatisfied
        else:
            resolved[arch] = ()
    suites = source.suites(spec.distro) if source is not None and spec.packages else []
    base = {a: b.digest for a, b in bases.items() if b is not None}
    return Lockfile.build(
        spec_inputs(spec, archs), suites, resolved, unsatisfied=unsatisfied, base=base
    )
