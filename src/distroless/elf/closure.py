"""The result of following one ELF's dynamic linking: what loads, from where, and what fails.

A :class:`Closure` lists the objects in the order the loader maps them (breadth first
from the root, as ``ld.so``'s trace prints them), every ``DT_NEEDED`` edge with the file
it resolved to or why it did not, and every symbol version needed with whether its
provider defines it.  Paths are given twice: ``path`` as the loader spells it (what
``LD_TRACE_LOADED_OBJECTS=1`` prints, e.g. ``/usr/bin/../lib/libx.so``) and ``real_path``
with every symlink resolved inside the image (the file a package owns).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from distroless.elf.machine import Loader
from distroless.elf.reader import ElfInfo


class Via(enum.Enum):
    """Where the loader found a library."""

    LOADED = "loaded"  # an object already loaded under this name or SONAME
    PATH = "path"  # the name contains a slash and is opened as it is
    RPATH = "rpath"  # DT_RPATH of the object or of the objects that loaded it
    LD_LIBRARY_PATH = "ld_library_path"
    RUNPATH = "runpath"  # DT_RUNPATH of the object itself
    CACHE = "ld.so.cache"
    DEFAULT = "default"  # the loader's built-in directories
    PRELOAD = "preload"


@dataclass(frozen=True)
class Rejected:
    """A file the loader opened while searching and passed over (another class or machine)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Dependency:
    """One ``DT_NEEDED`` (or preload) entry of one object and how it resolved.

    ``path`` is None when nothing was found (``not found`` in the trace); ``error`` is set
    when the loader met a file it refuses outright (not ELF, wrong byte order, an
    executable), which stops the whole program from loading.
    """

    needed_by: str
    name: str
    path: str | None
    real_path: str | None
    via: Via | None
    rejected: tuple[Rejected, ...] = ()
    error: str | None = None

    @property
    def found(self) -> bool:
        return self.path is not None and self.error is None

    @property
    def missing(self) -> bool:
        return self.path is None and self.error is None


@dataclass(frozen=True)
class LoadedObject:
    """An object in the loader's list: the name first asked for, both paths, its ELF facts."""

    name: str
    path: str
    real_path: str
    info: ElfInfo
    needed_by: str | None


class VersionStatus(enum.Enum):
    MET = "met"
    MISSING = "missing"  # the provider defines versions, but not this one
    NO_VERSION_INFO = "no-version-info"  # the provider defines none: the loader lets it pass
    NOT_LOADED = "not-loaded"  # the provider itself did not resolve (see the dependency)


@dataclass(frozen=True)
class VersionCheck:
    """One version ``needed_by`` requires from ``file`` (``GLIBC_2.38`` from ``libc.so.6``)."""

    needed_by: str
    file: str
    version: str
    weak: bool
    provider: str | None
    status: VersionStatus

    @property
    def unmet(self) -> bool:
        """True when the loader refuses to start: a missing version that is not weak."""
        return self.status is VersionStatus.MISSING and not self.weak


@dataclass(frozen=True)
class Closure:
    """Everything the loader would load for ``root`` (a canonical path in the image)."""

    root: str
    info: ElfInfo | None
    loader: Loader | None
    interpreter: str | None
    interpreter_path: str | None
    objects: tuple[LoadedObject, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    preloads: tuple[Dependency, ...] = ()
    versions: tuple[VersionCheck, ...] = ()
    #: the root cannot be read as an ELF (None for a readable one)
    error: str | None = None
    #: the interpreter is missing or not one this root can use
    interpreter_error: str | None = None
    #: the root's architecture differs from the one the image declares
    platform_mismatch: str | None = None

    @property
    def dynamic(self) -> bool:
        return self.info is not None and (self.info.dynamic or self.info.interpreter is not None)

    @property
    def missing(self) -> tuple[Dependency, ...]:
        return tuple(d for d in self.dependencies if d.missing)

    @property
    def failed(self) -> tuple[Dependency, ...]:
        return tuple(d for d in self.dependencies if d.error is not None)

    @property
    def unmet_versions(self) -> tuple[VersionCheck, ...]:
        return tuple(v for v in self.versions if v.unmet)

    @property
    def rejected(self) -> tuple[Rejected, ...]:
        seen: dict[Rejected, None] = {}
        for dep in (*self.preloads, *self.dependencies):
            seen.update(dict.fromkeys(dep.rejected))
        return tuple(seen)

    @property
    def ok(self) -> bool:
        """True when the loader would start the program (preloads never stop it)."""
        return (
            self.error is None
            and self.interpreter_error is None
            and self.platform_mismatch is None
            and not self.missing
            and not self.failed
            and not self.unmet_versions
        )

    def libraries(self) -> dict[str, str]:
        """Each loaded library's first name -> the path the loader names it by."""
        return {o.name: o.path for o in self.objects[1:]}

    def files(self) -> tuple[str, ...]:
        """The real paths of every loaded object but the root, sorted (what ``pack`` copies)."""
        return tuple(sorted({o.real_path for o in self.objects[1:]}))
