"""Reading an image's ELF files and following their dynamic linking as glibc's loader does.

:class:`ClosureResolver` over an :class:`ImageView` (:class:`DirectoryView` for a directory
tree, :class:`FsViewAdapter` for the flattened image ``check`` reads) gives one
:class:`Closure` per program or library.  See :mod:`distroless.elf.resolver` for the
search order and :mod:`distroless.elf.machine` for what each architecture's loader is.
"""

from distroless.elf.closure import (
    Closure,
    Dependency,
    LoadedObject,
    Rejected,
    VersionCheck,
    VersionStatus,
    Via,
)
from distroless.elf.config import LoaderConfig
from distroless.elf.dlopen import DLOPEN_SYMBOLS, dlopen_features
from distroless.elf.header import ElfHeader, is_elf, parse_header
from distroless.elf.hostview import DirectoryView
from distroless.elf.imageview import FsViewAdapter
from distroless.elf.ldsocache import LdCache, parse_ld_cache
from distroless.elf.machine import LOADERS, Loader, loader_for, loader_for_arch, oci_platform
from distroless.elf.reader import (
    ElfInfo,
    MalformedElfError,
    VersionDef,
    VersionNeed,
    VersionRef,
    read_elf,
)
from distroless.elf.resolver import ClosureResolver, resolve_closure
from distroless.elf.view import FileKind, FileStat, ImageView, links_on_path, lookup, resolve

__all__ = [
    "DLOPEN_SYMBOLS",
    "LOADERS",
    "Closure",
    "ClosureResolver",
    "Dependency",
    "DirectoryView",
    "ElfHeader",
    "ElfInfo",
    "FileKind",
    "FileStat",
    "FsViewAdapter",
    "ImageView",
    "LdCache",
    "LoadedObject",
    "Loader",
    "LoaderConfig",
    "MalformedElfError",
    "Rejected",
    "VersionCheck",
    "VersionDef",
    "VersionNeed",
    "VersionRef",
    "VersionStatus",
    "Via",
    "dlopen_features",
    "is_elf",
    "links_on_path",
    "loader_for",
    "loader_for_arch",
    "lookup",
    "oci_platform",
    "parse_header",
    "parse_ld_cache",
    "read_elf",
    "resolve",
    "resolve_closure",
]
