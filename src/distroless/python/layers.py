"""A spec's ``python:`` key in a build: wheels resolved (or read from the lock) per
architecture, fetched, and installed as one layer on top of the base.

The lock keeps them under its ``python`` section, per architecture: the Python version
they were chosen for and each wheel's name, version, file name, URL and sha256.  With a
lock, pip is not run at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from distroless.assemble.base_packages import installed_packages
from distroless.assemble.image import LayerSource
from distroless.debian.lockfile import Lockfile, check_lock_matches
from distroless.errors import LockfileError, PythonPackageError
from distroless.python.fetch import fetch_wheels
from distroless.python.install import INSTALL_VERSION, wheel_entries
from distroless.python.requirements import requirement_lines
from distroless.python.resolve import LockedWheel, resolve_wheels
from distroless.python.target import PythonTarget, python_target
from distroless.reporter import NullReporter, Reporter
from distroless.spec.model import ImageSpec
from distroless.store import Store, StoredImage

LOCK_SECTION = "python"


def target_of(store: Store, spec: ImageSpec, arch: str, base: StoredImage | None) -> PythonTarget:
    if base is None:
        raise PythonPackageError(
            f"{spec.path}: python dependencies need a base with Python (base: distroless/python3)"
        )
    wanted = spec.python.version if spec.python is not None else None
    return python_target(installed_packages(store, base), arch, spec.base, wanted)


def locked_wheels(lock: Lockfile, arch: str, source: str) -> tuple[str, list[LockedWheel]]:
    """The Python version and wheels a lock holds for ``arch``."""
    section = lock.sections.get(LOCK_SECTION)
    entry = section.get(arch) if isinstance(section, dict) else None
    if not isinstance(entry, dict):
        raise LockfileError(
            f"{source} has no Python wheels for {arch}; run `distroless lock` again"
        )
    version = entry.get("python")
    wheels = entry.get("wheels")
    if not isinstance(version, str) or not isinstance(wheels, list):
        raise LockfileError(f"{source}: python.{arch} needs 'python' and 'wheels'")
    try:
        return version, [
            LockedWheel.from_dict(w, f"{source}: python.{arch}.wheels[{i}]")
            for i, w in enumerate(wheels)
        ]
    except PythonPackageError as exc:
        raise LockfileError(str(exc)) from None


def wheels_layer(
    target: PythonTarget, wheels: Sequence[LockedWheel], paths: Mapping[str, Path]
) -> LayerSource:
    """The one layer holding every wheel, keyed by what it is made of."""
    key = hashlib.sha256(
        json.dumps(
            [INSTALL_VERSION, target.version, target.scheme(), sorted(w.sha256 for w in wheels)],
            sort_keys=True,
        ).encode()
    ).hexdigest()
    names = ", ".join(f"{w.name} {w.version}" for w in wheels)
    return LayerSource(
        created_by=f"python wheels for {target.version} ({target.arch}): {names}",
        entries=lambda: wheel_entries(target, wheels, paths),
        cache_key=f"wheels:{key}",
    )


class SpecWheels:
    """The ``python_layers`` callback of a spec build: uses the lock if there is one."""

    def __init__(
        self,
        store: Store,
        cache_dir: Path,
        archs: Sequence[str],
        reporter: Reporter | None = None,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.archs = tuple(archs)
        self.reporter = reporter or NullReporter()

    def _wheels(self, spec: ImageSpec, arch: str, target: PythonTarget) -> list[LockedWheel]:
        if not spec.lock_path.exists():
            assert spec.python is not None
            self.reporter.event("python-resolve", target=str(target))
            return resolve_wheels(target, requirement_lines(spec.python))
        from distroless.assemble.packages import spec_inputs

        lock = Lockfile.read(spec.lock_path)
        check_lock_matches(
            lock, spec_inputs(spec, self.archs),
            lock_name=spec.lock_path.name, spec_name=spec.path.name,
        )  # fmt: skip
        version, wheels = locked_wheels(lock, arch, spec.lock_path.name)
        if version != target.version:
            raise LockfileError(
                f"{spec.lock_path.name} holds wheels for Python {version}, the base has "
                f"{target.version}; run `distroless lock {spec.path.name}` again"
            )
        return wheels

    def __call__(self, spec: ImageSpec, arch: str, base: StoredImage | None) -> list[LayerSource]:
        target = target_of(self.store, spec, arch, base)
        wheels = self._wheels(spec, arch, target)
        if not wheels:
            return []
        paths = fetch_wheels(self.cache_dir, wheels, self.reporter)
        return [wheels_layer(target, wheels, paths)]


def lock_wheels(
    store: Store,
    spec: ImageSpec,
    bases: Mapping[str, StoredImage | None],
    lock: Lockfile,
    reporter: Reporter | None = None,
) -> Lockfile:
    """``lock`` with the spec's wheels resolved for each architecture's base."""
    assert spec.python is not None
    lines = requirement_lines(spec.python)
    section: dict[str, Any] = {}
    for arch in sorted(bases):
        target = target_of(store, spec, arch, bases[arch])
        wheels = resolve_wheels(target, lines)
        section[arch] = {"python": target.version, "wheels": [w.to_dict() for w in wheels]}
    return replace(lock, sections={**lock.sections, LOCK_SECTION: section})
