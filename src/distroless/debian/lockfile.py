"""``image.lock.json``: the exact packages an image spec resolved to, per architecture.

The lock pins every .deb by mirror path, size and sha256, and records which signed
``InRelease`` each suite was read from, so a later build fetches exactly the same bytes
without consulting the indices again.  ``spec_digest`` ties the lock to the spec inputs
that produced it: when the spec changes, :func:`check_lock_matches` refuses the stale
lock instead of silently building something else.

The file is JSON with sorted keys and two-space indentation: readable in a review, and
the same bytes for the same content.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from distroless.debian.resolver import Package, Unsatisfied
from distroless.errors import LockfileError
from distroless.oci.canonical import dumps as canonical_dumps
from distroless.store.atomic import atomic_file
from distroless.timestamps import rfc3339

LOCK_VERSION = 1
_CORE_KEYS = frozenset(
    {"version", "distro", "suites", "archs", "spec_digest", "unsatisfied", "base"}
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

JSONValue = Any


@dataclass(frozen=True)
class SpecInputs:
    """The parts of an image spec that decide which packages get locked."""

    distro: str
    packages: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    resolve: bool = True
    archs: tuple[str, ...] = ("amd64",)
    repositories: tuple[JSONValue, ...] = ()
    #: further inputs (the base, the management list, Python requirements), each under its
    #: own key; empty ones are left out, so a spec that uses none keeps the digest it had
    extra: tuple[tuple[str, JSONValue], ...] = ()

    def canonical(self) -> dict[str, JSONValue]:
        # Package order is kept (it decides the install order); exclude and archs are sets.
        out = {
            "distro": self.distro,
            "packages": list(self.packages),
            "exclude": sorted(set(self.exclude)),
            "resolve": self.resolve,
            "archs": sorted(set(self.archs)),
            "repositories": list(self.repositories),
        }
        out.update((key, value) for key, value in self.extra if value not in (None, [], {}))
        return out

    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical JSON of these inputs."""
        return "sha256:" + hashlib.sha256(canonical_dumps(self.canonical())).hexdigest()


@dataclass(frozen=True)
class LockedSuite:
    """A suite the packages were resolved from, pinned to the InRelease file that was read."""

    name: str
    url: str  # the suite's path within its archive (``dists/<name>``): a lock names no mirror
    inrelease_sha256: str
    date: str

    @classmethod
    def at(cls, name: str, url: str, inrelease_sha256: str, date: datetime) -> LockedSuite:
        """A suite whose Release ``date`` is written as UTC RFC 3339 (``...T...Z``)."""
        return cls(name, url, inrelease_sha256.lower(), rfc3339(date))


@dataclass(frozen=True)
class LockedPackage:
    """One .deb to fetch: where it lives on the mirror and what its bytes must hash to."""

    name: str
    version: str
    architecture: str
    filename: str
    size: int
    sha256: str
    source: str

    @classmethod
    def from_package(cls, package: Package) -> LockedPackage:
        return cls(
            name=package.name,
            version=str(package.version),
            architecture=package.architecture,
            filename=package.filename,
            size=package.size,
            sha256=package.sha256,
            source=package.source,
        )


@dataclass(frozen=True)
class Lockfile:
    """The whole lock; ``archs`` maps an architecture to its packages in install order.

    ``unsatisfied`` lists, per architecture, the dependencies deliberately left out (on
    package-management packages); ``base`` the digest of the base image per architecture
    that the packages were resolved against (only its missing packages are locked);
    ``sections`` holds the locks of other package kinds (``python``: wheels), which their
    own modules read and write.  All three are written only when not empty, so a lock
    without them reads and writes exactly as before.
    """

    distro: str
    suites: tuple[LockedSuite, ...]
    archs: Mapping[str, tuple[LockedPackage, ...]]
    spec_digest: str
    version: int = LOCK_VERSION
    unsatisfied: Mapping[str, tuple[Unsatisfied, ...]] = field(default_factory=dict)
    base: Mapping[str, str] = field(default_factory=dict)
    sections: Mapping[str, JSONValue] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        inputs: SpecInputs,
        suites: Iterable[LockedSuite],
        resolved: Mapping[str, Sequence[Package]],
        *,
        unsatisfied: Mapping[str, Sequence[Unsatisfied]] | None = None,
        base: Mapping[str, str] | None = None,
    ) -> Lockfile:
        """A lock for ``inputs`` from the resolver's output per architecture."""
        return cls(
            distro=inputs.distro,
            suites=tuple(suites),
            archs={
                arch: tuple(LockedPackage.from_package(p) for p in packages)
                for arch, packages in resolved.items()
            },
            spec_digest=inputs.digest(),
            unsatisfied={a: tuple(u) for a, u in (unsatisfied or {}).items() if u},
            base=dict(base or {}),
        )

    def packages(self, arch: str, source: str = "image.lock.json") -> tuple[LockedPackage, ...]:
        """The packages locked for ``arch``, in install order."""
        try:
            return self.archs[arch]
        except KeyError:
            raise LockfileError(
                f"{source} has no packages for {arch}; run `distroless lock` again"
            ) from None

    def to_dict(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {
            "version": self.version,
            "distro": self.distro,
            "suites": [
                {
                    "name": s.name,
                    "url": s.url,
                    "inrelease_sha256": s.inrelease_sha256,
                    "date": s.date,
                }
                for s in self.suites
            ],
            "archs": {
                arch: [
                    {
                        "name": p.name,
                        "version": p.version,
                        "architecture": p.architecture,
                        "filename": p.filename,
                        "size": p.size,
                        "sha256": p.sha256,
                        "source": p.source,
                    }
                    for p in packages
                ]
                for arch, packages in self.archs.items()
            },
            "spec_digest": self.spec_digest,
        }
        if self.unsatisfied:
            out["unsatisfied"] = {
                arch: [{"package": u.package, "relation": u.relation} for u in items]
                for arch, items in self.unsatisfied.items()
            }
        if self.base:
            out["base"] = dict(self.base)
        out.update(self.sections)
        return out

    def dumps(self) -> str:
        """The file's text: sorted keys, two-space indent, one trailing newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def loads(cls, text: str, source: str = "image.lock.json") -> Lockfile:
        """Parse and validate a lock; every problem names the file and the key at fault."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LockfileError(
                f"{source}:{exc.lineno}: not valid JSON ({exc.msg}); "
                "run `distroless lock` to write it again"
            ) from None
        except RecursionError:
            raise LockfileError(f"{source}: JSON nests too deeply") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: JSONValue, source: str = "image.lock.json") -> Lockfile:
        reader = _Reader(source)
        top = reader.object(data, "")
        version = top.get("version")
        if version != LOCK_VERSION:
            raise LockfileError(
                f"{source}: unsupported lockfile version {version!r} (expected {LOCK_VERSION})"
            )
        suites = tuple(
            LockedSuite(
                name=reader.string(s, f"suites[{i}].name", "name"),
                url=reader.string(s, f"suites[{i}].url", "url"),
                inrelease_sha256=reader.hex64(s, f"suites[{i}].inrelease_sha256"),
                date=reader.string(s, f"suites[{i}].date", "date"),
            )
            for i, s in enumerate(reader.array(top.get("suites"), "suites"))
        )
        archs: dict[str, tuple[LockedPackage, ...]] = {}
        for arch, entries in reader.object(top.get("archs"), "archs").items():
            packages = []
            for i, entry in enumerate(reader.array(entries, f"archs.{arch}")):
                at = f"archs.{arch}[{i}]"
                size = reader.object(entry, at).get("size")
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    raise LockfileError(f"{source}: {at}.size must be a non-negative integer")
                packages.append(
                    LockedPackage(
                        name=reader.string(entry, f"{at}.name", "name"),
                        version=reader.string(entry, f"{at}.version", "version"),
                        architecture=reader.string(entry, f"{at}.architecture", "architecture"),
                        filename=reader.string(entry, f"{at}.filename", "filename"),
                        size=size,
                        sha256=reader.hex64(entry, f"{at}.sha256"),
                        source=reader.string(entry, f"{at}.source", "source"),
                    )
                )
            archs[arch] = tuple(packages)
        digest = top.get("spec_digest")
        if not isinstance(digest, str) or not digest.startswith("sha256:"):
            raise LockfileError(f"{source}: spec_digest must be a 'sha256:<hex>' string")
        distro = top.get("distro")
        if not isinstance(distro, str) or not distro:
            raise LockfileError(f"{source}: distro must be a non-empty string")
        unsatisfied: dict[str, tuple[Unsatisfied, ...]] = {}
        for arch, entries in reader.object(top.get("unsatisfied", {}), "unsatisfied").items():
            unsatisfied[arch] = tuple(
                Unsatisfied(
                    reader.string(e, f"unsatisfied.{arch}[{i}].package", "package"),
                    reader.string(e, f"unsatisfied.{arch}[{i}].relation", "relation"),
                )
                for i, e in enumerate(reader.array(entries, f"unsatisfied.{arch}"))
            )
        base = reader.object(top.get("base", {}), "base")
        for arch, value in base.items():
            if not isinstance(value, str) or not value.startswith("sha256:"):
                raise LockfileError(f"{source}: base.{arch} must be a 'sha256:<hex>' digest")
        sections = {k: v for k, v in top.items() if k not in _CORE_KEYS}
        return cls(
            distro=distro,
            suites=suites,
            archs=archs,
            spec_digest=digest,
            unsatisfied=unsatisfied,
            base=base,
            sections=sections,
        )

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Lockfile:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LockfileError(
                f"{file} does not exist; run `distroless lock` to create it"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise LockfileError(f"cannot read {file}: {exc}") from None
        return cls.loads(text, str(file))

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a reader sees the old lock or the new one, never half of one."""
        with atomic_file(Path(path)) as handle:
            handle.write(self.dumps().encode("utf-8"))


class _Reader:
    """Typed access to untrusted JSON with errors that name the key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def object(self, value: JSONValue, at: str) -> dict[str, JSONValue]:
        if not isinstance(value, dict):
            where = at or "the top level"
            raise LockfileError(f"{self.source}: {where} must be a JSON object")
        return value

    def array(self, value: JSONValue, at: str) -> list[JSONValue]:
        if not isinstance(value, list):
            raise LockfileError(f"{self.source}: {at} must be a JSON array")
        return value

    def string(self, container: JSONValue, at: str, key: str) -> str:
        value = self.object(container, at.rsplit(".", 1)[0]).get(key)
        if not isinstance(value, str) or not value:
            raise LockfileError(f"{self.source}: {at} must be a non-empty string")
        return value

    def hex64(self, container: JSONValue, at: str) -> str:
        key = at.rsplit(".", 1)[1]
        value = self.object(container, at.rsplit(".", 1)[0]).get(key)
        if not isinstance(value, str) or not _HEX64.match(value):
            raise LockfileError(f"{self.source}: {at} must be 64 lowercase hex digits")
        return value


def check_lock_matches(
    lock: Lockfile,
    inputs: SpecInputs,
    *,
    lock_name: str = "image.lock.json",
    spec_name: str = "image.yaml",
) -> None:
    """Refuse a lock written for other spec inputs; the message says how to refresh it."""
    # The digest covers the architectures; the second test guards a hand-edited lock.
    if lock.spec_digest != inputs.digest() or not set(inputs.archs) <= set(lock.archs):
        raise LockfileError(
            f"{lock_name} no longer matches {spec_name}; run `distroless lock {spec_name}` again"
        )
