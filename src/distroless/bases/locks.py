"""The lockfiles of the bases, one per distro, shipped with the package.

One lock covers every base of a distro (and the busybox of the debug tags) so all bases
pin the same version of a shared package and therefore share its layer.  A lock whose
inputs no longer match the recipes is refused with the command that refreshes it.
"""

from __future__ import annotations

from pathlib import Path

from distroless.bases.recipe import Recipes
from distroless.debian.lockfile import LockedPackage, Lockfile, SpecInputs, check_lock_matches
from distroless.errors import LockfileError

LOCK_DIR = Path(__file__).parent / "locks"
LOCK_ARCHS = ("amd64", "arm64")


def lock_path(distro: str, lock_dir: Path = LOCK_DIR) -> Path:
    return lock_dir / f"{distro}.lock.json"


def lock_inputs(recipes: Recipes, distro: str) -> SpecInputs:
    """What the lock of ``distro`` pins: the exact packages of all its bases, both archs."""
    return SpecInputs(
        distro=distro,
        packages=recipes.lock_packages(distro),
        resolve=False,
        archs=LOCK_ARCHS,
    )


def read_lock(recipes: Recipes, distro: str, lock_dir: Path = LOCK_DIR) -> Lockfile:
    path = lock_path(distro, lock_dir)
    lock = Lockfile.read(path)
    check_lock_matches(
        lock,
        lock_inputs(recipes, distro),
        lock_name=str(path),
        spec_name=f"the {distro} base recipes",
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
