"""The lockfiles of the bases, one per distro, shipped with the package.

One lock covers every base of a distro (and the busybox of the debug tags) so all bases
pin the same version of a shared package and therefore share its layer.  A lock whose
inputs no longer match the recipes is refused with the command that refreshes it.

A lock holds every release architecture of its distro that the archive served when the
lock was made: one whose index some suite lacks (Debian 12's security archive, under LTS,
serves fewer architectures than the release) is left out, and the architectures the lock
holds are part of what its digest covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from distroless.bases.platforms import RELEASE_ARCHS
from distroless.bases.recipe import Recipes
from distroless.debian.lockfile import (
    LockedPackage,
    LockedSuite,
    Lockfile,
    SpecInputs,
    check_lock_matches,
)
from distroless.debian.resolver import Package
from distroless.errors import LockfileError, NotFoundError
from distroless.reporter import NullReporter, Reporter

LOCK_DIR = Path(__file__).parent / "locks"
#: The architectures every lock must hold: what the bases are built for by default.
REQUIRED_ARCHS = ("amd64", "arm64")


class LockSource(Protocol):
    """What making a lock needs from the Debian side (a ``PackageSource``)."""

    def resolve(
        self, distro_name: str, arch: str, packages: Sequence[str], *, resolve: bool = True
    ) -> list[Package]: ...

    def suites(self, distro_name: str) -> list[LockedSuite]: ...


def lock_path(distro: str, lock_dir: Path = LOCK_DIR) -> Path:
    return lock_dir / f"{distro}.lock.json"


def lock_inputs(recipes: Recipes, distro: str, archs: Sequence[str] | None = None) -> SpecInputs:
    """What the lock of ``distro`` pins: the exact packages of all its bases, per arch."""
    return SpecInputs(
        distro=distro,
        packages=recipes.lock_packages(distro),
        resolve=False,
        archs=tuple(archs if archs is not None else RELEASE_ARCHS[distro]),
    )


def make_lock(
    source: LockSource, recipes: Recipes, distro: str, reporter: Reporter | None = None
) -> Lockfile:
    """Pin every base package of ``distro`` for each release architecture the archive serves.

    An architecture is skipped (and reported) only when a suite has no index for it; a
    package missing from an index that exists is an error, as for any lock.
    """
    report = reporter or NullReporter()
    packages = recipes.lock_packages(distro)
    resolved: dict[str, list[Package]] = {}
    for arch in RELEASE_ARCHS[distro]:
        try:
            resolved[arch] = source.resolve(distro, arch, packages, resolve=False)
        except NotFoundError as exc:
            if " lists no " not in exc.message or arch in REQUIRED_ARCHS:
                raise
            report.event("step", message=f"{distro}: {arch} is left out of the lock: {exc.message}")
    inputs = lock_inputs(recipes, distro, tuple(resolved))
    return Lockfile.build(inputs, source.suites(distro), resolved)


def read_lock(recipes: Recipes, distro: str, lock_dir: Path = LOCK_DIR) -> Lockfile:
    path = lock_path(distro, lock_dir)
    lock = Lockfile.read(path)
    check_lock_matches(
        lock,
        lock_inputs(recipes, distro, tuple(lock.archs)),
        lock_name=str(path),
        spec_name=f"the {distro} base recipes",
    )
    missing = [a for a in REQUIRED_ARCHS if a not in lock.archs]
    if missing:
        raise LockfileError(
            f"{path} has no {missing[0]} packages; run `distroless bases lock --distro {distro}`"
        )
    return lock


def locked_packages(lock: Lockfile, arch: str, names: tuple[str, ...]) -> list[LockedPackage]:
    """The locked packages for ``names``, in the order given (the recipe's layer order)."""
    if arch not in lock.archs:
        raise LockfileError(
            f"the {lock.distro} base lock has no {arch} packages; "
            f"run `distroless bases lock --distro {lock.distro}`"
        )
    by_name = {p.name: p for p in lock.archs[arch]}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise LockfileError(
            f"the {lock.distro} base lock lacks {missing[0]} for {arch}; "
            f"run `distroless bases lock --distro {lock.distro}`"
        )
    return [by_name[n] for n in names]
