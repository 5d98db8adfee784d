"""Builder images: toolchains from Debian packages for the builder stages of Dockerfiles.

A builder is a spec (``builders/<kind>.yaml``: packages resolved with their
dependencies, a shell, a few files) and a lock beside the base locks
(``locks/builder-<kind>.lock.json``).  Its name says what it holds and nothing else:
``distroless/builder-go:1.24-debian13`` is Debian 13's Go 1.24, the version read from the
locked toolchain package.  No builder is ever stored under a registry's name such as
``golang:1.22``; a user who wants such a ``FROM`` line to use one says so with an alias
in the config file.

Builders are not distroless (they have a shell and a package's worth of tools); they
exist so that a machine without registry access can run a multi-stage Dockerfile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from distroless.assemble.cache import SharedKeyedCache, missing_layers
from distroless.assemble.image import LayerSource
from distroless.assemble.packages import (
    fetched_first,
    package_layers,
    post_install_layers,
    spec_inputs,
)
from distroless.bases.java_truststore import PATH as JAVA_CACERTS
from distroless.bases.java_truststore import java_truststore
from distroless.bases.locks import LOCK_DIR
from distroless.bases.recipe import CA_PACKAGE, upstream_version
from distroless.debian.lockfile import LockedPackage, LockedSuite, Lockfile, check_lock_matches
from distroless.debian.postinst_files import CA_BUNDLE, ca_bundle_entries
from distroless.debian.resolver import Package
from distroless.debian.sources import distro as distro_info
from distroless.errors import NotFoundError, UsageError
from distroless.layers.entry import Entry
from distroless.oci.models import Platform
from distroless.reporter import NullReporter, Reporter
from distroless.spec.model import ImageSpec
from distroless.store import Store, StoredImage

if TYPE_CHECKING:
    from distroless.bases.build import BuiltBase

BUILDER_DIR = Path(__file__).parent / "builders"
#: What builder locks hold: builders run on the build machine.
BUILDER_ARCHS = ("amd64", "arm64")
PREFIX = "builder-"
REPOSITORY = "distroless"


@dataclass(frozen=True)
class BuilderKind:
    """One builder: which locked package names its version, and how much of it."""

    kind: str
    title: str
    version_package: str
    version_parts: int
    java_truststore: bool = False

    @property
    def name(self) -> str:
        return PREFIX + self.kind


BUILDERS: Mapping[str, BuilderKind] = {
    b.name: b
    for b in (
        BuilderKind("go", "Go", "golang-go", 2),
        BuilderKind("python", "Python", "python3", 2),
        BuilderKind("node", "Node.js", "nodejs", 1),
        BuilderKind("cc", "C/C++ (gcc)", "gcc", 1),
        BuilderKind("jdk", "OpenJDK", "openjdk-21-jdk-headless", 1, java_truststore=True),
    )
}


class BuilderDebs(Protocol):
    """The Debian side of a builder build and lock (a ``PackageSource``)."""

    def deb_paths(self, packages: Sequence[LockedPackage]) -> Mapping[str, Path]: ...

    def planned_path(self, package: LockedPackage) -> Path: ...

    def resolve(
        self,
        distro_name: str,
        arch: str,
        packages: Sequence[str],
        *,
        exclude: Sequence[str] = (),
        resolve: bool = True,
    ) -> list[Package]: ...

    def suites(self, distro_name: str) -> list[LockedSuite]: ...


def kind_of(name: str) -> BuilderKind:
    try:
        return BUILDERS[name]
    except KeyError:
        raise NotFoundError(f"no builder named {name!r}; known: {', '.join(BUILDERS)}") from None


def builder_spec(kind: BuilderKind) -> ImageSpec:
    from distroless.spec import load_spec

    return load_spec(BUILDER_DIR / f"{kind.kind}.yaml")


def builder_lock_path(kind: BuilderKind, lock_dir: Path = LOCK_DIR) -> Path:
    return lock_dir / f"{kind.name}.lock.json"


def read_builder_lock(kind: BuilderKind, spec: ImageSpec, lock_dir: Path = LOCK_DIR) -> Lockfile:
    path = builder_lock_path(kind, lock_dir)
    lock = Lockfile.read(path)
    check_lock_matches(
        lock,
        spec_inputs(spec, tuple(lock.archs)),
        lock_name=str(path),
        spec_name=f"the {kind.name} recipe",
    )
    return lock


def make_builder_lock(source: BuilderDebs, kind: BuilderKind) -> Lockfile:
    """Resolve the builder's packages, with their dependencies, for :data:`BUILDER_ARCHS`."""
    spec = builder_spec(kind)
    inputs = spec_inputs(spec, BUILDER_ARCHS)
    resolved = {
        arch: source.resolve(
            spec.distro, arch, spec.packages, exclude=spec.exclude, resolve=spec.resolve
        )
        for arch in BUILDER_ARCHS
    }
    return Lockfile.build(inputs, source.suites(spec.distro), resolved)


def builder_tag(kind: BuilderKind, lock: Lockfile) -> str:
    """``1.24-debian13``: the toolchain's version, cut to what its users name it by."""
    first = next(iter(lock.archs.values()))
    package = next((p for p in first if p.name == kind.version_package), None)
    if package is None:
        raise NotFoundError(f"the {kind.name} lock holds no {kind.version_package}")
    parts = upstream_version(package.version).split(".")
    return ".".join(parts[: kind.version_parts]) + f"-{lock.distro}"


def builder_reference(kind: BuilderKind, lock: Lockfile) -> str:
    return f"{REPOSITORY}/{kind.name}:{builder_tag(kind, lock)}"


def parse_builder_reference(name: str, tag: str) -> BuilderKind | None:
    """The builder ``distroless/<name>:<tag>`` asks for, None when ``name`` is no builder."""
    kind = BUILDERS.get(name)
    if kind is None:
        return None
    lock = read_builder_lock(kind, builder_spec(kind))
    wanted = builder_tag(kind, lock)
    if tag != wanted:
        raise NotFoundError(
            f"{REPOSITORY}/{name}:{tag} is not a builder this installation makes: the "
            f"{kind.title} builder holds {wanted.rsplit('-', 1)[0]}; use "
            f"{REPOSITORY}/{name}:{wanted}"
        )
    return kind


class _Layers:
    """The ``package_layers`` callback of the builder's spec build, from its lock.

    ``lazy``: the .debs are fetched only when a layer is made from them, not before; a
    build whose layers come from a shared cache then downloads none.
    """

    def __init__(
        self, kind: BuilderKind, lock: Lockfile, debs: BuilderDebs, *, lazy: bool = False
    ) -> None:
        self.kind = kind
        self.lock = lock
        self.debs = debs
        self.lazy = lazy

    def __call__(self, spec: ImageSpec, arch: str, base: StoredImage | None) -> list[LayerSource]:
        """Layers of Debian architecture ``arch``; a builder has no base to add to."""
        locked = list(self.lock.packages(arch, source=str(builder_lock_path(self.kind))))
        if self.lazy:
            debs: Mapping[str, Path] = {p.name: self.debs.planned_path(p) for p in locked}
        else:
            debs = self.debs.deb_paths(locked)
        merged_usr = distro_info(spec.distro).merged_usr
        layers = package_layers(locked, debs, merged_usr=merged_usr)
        layers += post_install_layers(debs, merged_usr=merged_usr)
        if self.kind.java_truststore and CA_PACKAGE in debs:
            layers.append(_truststore_layer(debs[CA_PACKAGE], merged_usr=merged_usr))
        if self.lazy:
            layers = fetched_first(layers, lambda: self.debs.deb_paths(locked))
        return layers


def _truststore_layer(ca_deb: Path, *, merged_usr: bool) -> LayerSource:
    """The Java trust store made from the CA bundle of ``ca_deb``."""

    def entries() -> list[Entry]:
        bundle = next(iter(ca_bundle_entries(ca_deb, merged_usr=merged_usr)))
        with bundle.open() as fh:
            return [Entry.file(JAVA_CACERTS, java_truststore(fh.read(), source=f"/{CA_BUNDLE}"))]

    return LayerSource(
        created_by=f"distroless builders: Java trust store /{JAVA_CACERTS}",
        entries=entries,
        cache_key=f"builder-truststore:{ca_deb.name}",
    )


def build_builder(
    store: Store,
    name: str,
    debs: BuilderDebs,
    *,
    archs: Sequence[str],
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
    shared: SharedKeyedCache | None = None,
) -> BuiltBase:
    """Build builder ``name`` for Debian ``archs`` and store it under its content tag;
    with layers from a ``shared`` cache not fetched yet, the tag waits (``deferred``)."""
    from distroless.assemble.spec_build import build_spec
    from distroless.bases.build import BuiltBase

    kind = kind_of(name)
    unknown = [a for a in archs if a not in BUILDER_ARCHS]
    if unknown:
        raise UsageError(
            f"builders are made for {', '.join(BUILDER_ARCHS)}, not {unknown[0]} "
            "(they run on the build machine)"
        )
    spec = builder_spec(kind)
    lock = read_builder_lock(kind, spec)
    report = reporter or NullReporter()
    with store.session():
        desc = build_spec(
            store,
            spec,
            package_layers=_Layers(kind, lock, debs, lazy=shared is not None),
            platforms=[Platform.of_debian(a) for a in archs],
            source_date_epoch=source_date_epoch,
            reporter=report,
            cache=shared,
        )
        ref = builder_reference(kind, lock)
        deferred = missing_layers(store, desc) if shared is not None else frozenset()
        if not deferred:
            store.tag(ref, desc)
    report.event("base-built", name=kind.name, tag=builder_tag(kind, lock), digest=desc.digest)
    return BuiltBase(kind.name, builder_tag(kind, lock), lock.distro, desc, (ref,), deferred)
