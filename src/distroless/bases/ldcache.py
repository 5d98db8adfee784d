"""Writing ``/etc/ld.so.cache`` for an image without running ``ldconfig`` inside it.

The dynamic loader and ``ldconfig -p`` read the cache; ``ctypes.util.find_library`` reads
the output of ``ldconfig -p``.  The base images cannot run ``ldconfig`` (nothing runs at
build time, and another architecture could not run anyway), so the cache is computed
from the image's file tree and written here in glibc's current format
(``glibc-ld.so.cache1.1``, no extensions), in the byte order of the image's
architecture, which is how the loader reads it:

* a 48-byte header: the 20-byte magic and version, ``nlibs``, ``len_strings``, a flags
  byte (2 = little endian, 3 = big endian), 3 padding bytes, ``extension_offset`` (0:
  none) and 3 unused words;
* ``nlibs`` entries of 24 bytes: ``flags`` (int32), ``key`` and ``value`` (uint32 offsets
  of NUL-terminated strings, counted from the start of the file), ``osversion`` (uint32)
  and ``hwcap`` (uint64);
* the string table.

The loader binary-searches the entries, so they must be ordered as glibc compares
library names (runs of digits compare as numbers), highest first.  Each entry maps a
SONAME to ``<dir>/<SONAME>`` for every shared library found in the search directories
(those named by ``/etc/ld.so.conf.d/*.conf`` and then the system directories), the first
directory winning, as the loader would pick it.  Each entry's flags are the ones
``ldconfig`` writes on that architecture (``FLAG_ELF_LIBC6`` with its ABI bits: x86-64
``0x0303``, hard-float ARM ``0x0903``, ...), and only libraries that architecture's loader
accepts are listed (:data:`distroless.elf.machine.LOADERS` describes both).
"""

from __future__ import annotations

import functools
import posixpath
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from distroless.errors import ArchiveError, UsageError
from distroless.layers.entry import Entry, EntryType
from distroless.rootpath import SymlinkLoopError, resolve_in_root

if TYPE_CHECKING:
    from distroless.elf.machine import Loader

MAGIC = b"glibc-ld.so.cache1.1"
HEADER = struct.Struct("<20sIIB3sI12s")
ENTRY = struct.Struct("<iIIIQ")
ENDIAN_LITTLE = 2
ENDIAN_BIG = 3
_HEADER_BE = struct.Struct(">20sIIB3sI12s")
_ENTRY_BE = struct.Struct(">iIIIQ")


def _loader(arch: str) -> Loader:
    # imported here: distroless.elf reads caches with this module's name order
    from distroless.elf.machine import LOADERS

    loader = LOADERS.get(arch)
    if loader is None:
        raise UsageError(f"no ld.so.cache layout is known for architecture {arch!r}")
    return loader


def library_flags(arch: str) -> int:
    """The flags ``ldconfig`` gives a library of ``arch``: the most specific it accepts."""
    return max(_loader(arch).cache_flags)


@dataclass(frozen=True)
class CacheEntry:
    """One library the loader may find: its SONAME, full path and ABI flags."""

    soname: str
    path: str
    flags: int


def libcmp(a: str, b: str) -> int:
    """glibc's library name order: digit runs compare as numbers, digits after letters."""
    i = j = 0
    while i < len(a):
        if a[i].isdigit():
            if j >= len(b) or not b[j].isdigit():
                return 1
            si = i
            while i < len(a) and a[i].isdigit():
                i += 1
            sj = j
            while j < len(b) and b[j].isdigit():
                j += 1
            va, vb = int(a[si:i]), int(b[sj:j])
            if va != vb:
                return va - vb
        elif j < len(b) and b[j].isdigit():
            return -1
        elif j >= len(b):
            return ord(a[i])
        elif a[i] != b[j]:
            return ord(a[i]) - ord(b[j])
        else:
            i += 1
            j += 1
    return -ord(b[j]) if j < len(b) else 0


def _compare(x: CacheEntry, y: CacheEntry) -> int:
    """ldconfig's order: names descending, then higher flags first; path for stability."""
    by_name = libcmp(y.soname, x.soname) or (y.flags - x.flags)
    return by_name or (x.path > y.path) - (x.path < y.path)


def write_cache(entries: Iterable[CacheEntry], *, big_endian: bool = False) -> bytes:
    """The bytes of an ``ld.so.cache`` holding ``entries`` (sorted here)."""
    header_struct, entry_struct = (_HEADER_BE, _ENTRY_BE) if big_endian else (HEADER, ENTRY)
    ordered = sorted(entries, key=functools.cmp_to_key(_compare))
    strings = bytearray()
    start = header_struct.size + entry_struct.size * len(ordered)
    offsets: dict[str, int] = {}

    def offset_of(text: str) -> int:
        if text not in offsets:
            offsets[text] = start + len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    body = bytearray()
    for entry in ordered:
        body += entry_struct.pack(entry.flags, offset_of(entry.soname), offset_of(entry.path), 0, 0)
    endian = ENDIAN_BIG if big_endian else ENDIAN_LITTLE
    header = header_struct.pack(MAGIC, len(ordered), len(strings), endian, b"", 0, b"")
    return bytes(header + body + strings)


def read_cache(data: bytes) -> list[CacheEntry]:
    """Parse a cache written in the format above (for tests and ``inspect``)."""
    if len(data) < HEADER.size or not data.startswith(MAGIC):
        raise ArchiveError("not a glibc-ld.so.cache1.1 file")
    header_struct, entry_struct = HEADER, ENTRY
    if data[HEADER.size - 20] == ENDIAN_BIG:  # the flags byte after magic and two words
        header_struct, entry_struct = _HEADER_BE, _ENTRY_BE
    _magic, nlibs, _len, _flags, _pad, _ext, _unused = header_struct.unpack_from(data)

    def string(offset: int) -> str:
        end = data.index(b"\0", offset)
        return data[offset:end].decode()

    out = []
    for i in range(nlibs):
        flags, key, value, _os, _hw = entry_struct.unpack_from(
            data, header_struct.size + i * entry_struct.size
        )
        out.append(CacheEntry(string(key), string(value), flags))
    return out


class _Missing(Exception):
    """A component of a path being resolved is not in the tree."""


class FileTree:
    """Path lookups over layer entries, following symlinks the way the kernel would."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self.entries = entries
        # parents of every path count as directories even when no entry names them
        self._dirs = {p.rsplit("/", i)[0] for p in entries for i in range(1, p.count("/") + 1)}

    def resolve(self, path: str) -> str | None:
        """The link-free path ``path`` leads to, or None if it leads nowhere in the tree.

        Symlinks are followed by the one resolver inside a root (:mod:`distroless.rootpath`),
        over the entries instead of a disk: the image's own links, never the host's.
        """
        try:
            return resolve_in_root(path, self._readlink)
        except (SymlinkLoopError, _Missing):
            return None

    def _readlink(self, rel: str) -> str | None:
        entry = self.entries.get(rel)
        if entry is None:
            if rel not in self._dirs:
                raise _Missing(rel)
            return None  # a directory implied by the paths below it
        return entry.linkname if entry.type is EntryType.SYMLINK else None

    def listdir(self, directory: str) -> list[str]:
        prefix = directory + "/"
        return sorted(
            p[len(prefix) :]
            for p in self.entries
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        )


def _conf_dirs(tree: FileTree) -> list[str]:
    dirs: list[str] = []
    conf_dir = tree.resolve("etc/ld.so.conf.d")
    if conf_dir is None:
        return dirs
    for name in tree.listdir(conf_dir):
        if not name.endswith(".conf"):
            continue
        real = tree.resolve(f"{conf_dir}/{name}")
        entry = tree.entries.get(real) if real else None
        if entry is None or entry.type is not EntryType.FILE:
            continue
        with entry.open() as fh:
            text = fh.read(1 << 20).decode("utf-8", "replace")
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("/"):
                dirs.append(line)
    return dirs


def search_dirs(tree: FileTree, arch: str) -> list[str]:
    """Directories in the loader's order: ld.so.conf.d first, then the system ones."""
    triplet = _loader(arch).triplet
    system = [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
    return [*_conf_dirs(tree), *system, "/lib", "/usr/lib"]


def _accepted(loader: Loader, head: bytes) -> bool:
    """Whether ``loader`` would load a shared library with this ELF header."""
    from distroless.elf.header import parse_header

    header = parse_header(head)
    return (
        header is not None
        and header.e_type == 3  # ET_DYN
        and header.ei_class == loader.ei_class
        and header.little_endian == loader.little_endian
        and loader.matches_machine(header)
        and loader.valid_float_abi(header)
    )


def _elf_info(entry: Entry, arch: str) -> tuple[str, int] | None:
    """(SONAME, flags) of a shared library the loader of ``arch`` accepts, else None."""
    loader = _loader(arch)
    with tempfile.SpooledTemporaryFile(max_size=4 << 20) as copy:
        with entry.open() as src:
            shutil.copyfileobj(src, copy, 1 << 20)
        copy.seek(0)
        head = copy.read(64)
        if not _accepted(loader, head):
            return None
        copy.seek(0)
        try:
            elf = ELFFile(copy)
            for segment in elf.iter_segments():
                if segment["p_type"] != "PT_DYNAMIC":
                    continue
                for tag in segment.iter_tags():  # type: ignore[attr-defined]
                    if tag.entry.d_tag == "DT_SONAME":
                        return str(tag.soname), library_flags(arch)
        except (ELFError, ValueError, struct.error):
            return None
    return None


def _is_library_name(name: str) -> bool:
    return (name.startswith("lib") or name.startswith("ld-")) and ".so" in name


def cache_entries(entries: Mapping[str, Entry], arch: str) -> list[CacheEntry]:
    """Every shared library the loader could find by SONAME in the image's search dirs."""
    tree = FileTree(entries)
    found: dict[str, CacheEntry] = {}
    seen_dirs: set[str] = set()
    parsed: dict[str, tuple[str, int] | None] = {}
    for directory in search_dirs(tree, arch):
        real_dir = tree.resolve(directory)
        if real_dir is None or real_dir in seen_dirs:
            continue
        seen_dirs.add(real_dir)
        for name in tree.listdir(real_dir):
            if not _is_library_name(name):
                continue
            real = tree.resolve(f"{real_dir}/{name}")
            entry = entries.get(real) if real else None
            if real is None or entry is None or entry.type is not EntryType.FILE:
                continue
            if real not in parsed:
                parsed[real] = _elf_info(entry, arch)
            info = parsed[real]
            if info is None:
                continue
            soname, flags = info
            if soname in found:
                continue
            # the loader opens <dir>/<soname>: record it only if that name leads to a file
            if tree.resolve(f"{real_dir}/{soname}") is None:
                continue
            found[soname] = CacheEntry(soname, posixpath.join(directory, soname), flags)
    return list(found.values())
