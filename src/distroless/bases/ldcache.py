"""Writing ``/etc/ld.so.cache`` for an image without running ``ldconfig`` inside it.

The dynamic loader and ``ldconfig -p`` read the cache; ``ctypes.util.find_library`` reads
the output of ``ldconfig -p``.  The base images cannot run ``ldconfig`` (nothing runs at
build time, and another architecture could not run anyway), so the cache is computed
from the image's file tree and written here in glibc's current format
(``glibc-ld.so.cache1.1``, little endian, no extensions):

* a 48-byte header: the 20-byte magic and version, ``nlibs``, ``len_strings``, a flags
  byte (2 = little endian), 3 padding bytes, ``extension_offset`` (0: none) and 3 unused
  words;
* ``nlibs`` entries of 24 bytes: ``flags`` (int32), ``key`` and ``value`` (uint32 offsets
  of NUL-terminated strings, counted from the start of the file), ``osversion`` (uint32)
  and ``hwcap`` (uint64);
* the string table.

The loader binary-searches the entries, so they must be ordered as glibc compares
library names (runs of digits compare as numbers), highest first.  Each entry maps a
SONAME to ``<dir>/<SONAME>`` for every shared library found in the search directories
(those named by ``/etc/ld.so.conf.d/*.conf`` and then the system directories), the first
directory winning, as the loader would pick it.
"""

from __future__ import annotations

import functools
import posixpath
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType
from distroless.rootpath import SymlinkLoopError, resolve_in_root

MAGIC = b"glibc-ld.so.cache1.1"
HEADER = struct.Struct("<20sIIB3sI12s")
ENTRY = struct.Struct("<iIIIQ")
ENDIAN_LITTLE = 2

FLAG_ELF_LIBC6 = 0x0003
#: ELF ``e_machine`` of 64-bit libraries -> the loader's required-ABI flag bits.
MACHINE_FLAGS = {"EM_X86_64": 0x0300, "EM_AARCH64": 0x0A00}
#: Debian multiarch triplets of the architectures the bases are built for.
TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}


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


def write_cache(entries: Iterable[CacheEntry]) -> bytes:
    """The bytes of an ``ld.so.cache`` holding ``entries`` (sorted here)."""
    ordered = sorted(entries, key=functools.cmp_to_key(_compare))
    strings = bytearray()
    start = HEADER.size + ENTRY.size * len(ordered)
    offsets: dict[str, int] = {}

    def offset_of(text: str) -> int:
        if text not in offsets:
            offsets[text] = start + len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    body = bytearray()
    for entry in ordered:
        body += ENTRY.pack(entry.flags, offset_of(entry.soname), offset_of(entry.path), 0, 0)
    header = HEADER.pack(MAGIC, len(ordered), len(strings), ENDIAN_LITTLE, b"", 0, b"")
    return bytes(header + body + strings)


def read_cache(data: bytes) -> list[CacheEntry]:
    """Parse a cache written in the format above (for tests and ``inspect``)."""
    if len(data) < HEADER.size or not data.startswith(MAGIC):
        raise ArchiveError("not a glibc-ld.so.cache1.1 file")
    _magic, nlibs, _len, _flags, _pad, _ext, _unused = HEADER.unpack_from(data)

    def string(offset: int) -> str:
        end = data.index(b"\0", offset)
        return data[offset:end].decode()

    out = []
    for i in range(nlibs):
        flags, key, value, _os, _hw = ENTRY.unpack_from(data, HEADER.size + i * ENTRY.size)
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
    triplet = TRIPLETS.get(arch)
    system = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
    return [*_conf_dirs(tree), *system, "/lib", "/usr/lib"]


def _elf_info(entry: Entry) -> tuple[str, int] | None:
    """(SONAME, flags) of a 64-bit shared library we know, else None."""
    with tempfile.SpooledTemporaryFile(max_size=4 << 20) as copy:
        with entry.open() as src:
            shutil.copyfileobj(src, copy, 1 << 20)
        copy.seek(0)
        if copy.read(4) != b"\x7fELF":
            return None
        copy.seek(0)
        try:
            elf = ELFFile(copy)
            machine = MACHINE_FLAGS.get(elf["e_machine"])
            if elf["e_type"] != "ET_DYN" or elf.elfclass != 64 or machine is None:
                return None
            for segment in elf.iter_segments():
                if segment["p_type"] != "PT_DYNAMIC":
                    continue
                for tag in segment.iter_tags():  # type: ignore[attr-defined]
                    if tag.entry.d_tag == "DT_SONAME":
                        return str(tag.soname), FLAG_ELF_LIBC6 | machine
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
                parsed[real] = _elf_info(entry)
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
