"""Reading an image's ``/etc/ld.so.cache`` and looking a name up in it as ``ld.so`` does.

Three layouts exist (glibc's ``dl-cache.h``): the current one (magic
``glibc-ld.so.cache1.1``, 48-byte header, 24-byte entries with a hwcap word, string
offsets counted from the header), the old libc5/glibc 2.0 one (``ld.so-1.7.0``, 12-byte
entries, offsets counted from the end of the entries), and the old one followed by the
current one, which the loader prefers.  The numbers are in the loader's byte order; a
current-format cache that declares the other byte order is ignored.  The writer is
:mod:`distroless.bases.ldcache`, whose name order (:func:`~distroless.bases.ldcache.libcmp`)
the lookup shares.

The lookup is glibc's ``search_cache`` step by step, not a dictionary: a binary search
over the entries as they are in the file, then a scan of the run of equal names where the
flags decide which entries this loader may use, and the first usable plain entry (or the
best ``glibc-hwcaps`` one) wins.  A badly sorted cache therefore misses names exactly where
the loader misses them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from distroless.bases.ldcache import MAGIC as NEW_MAGIC
from distroless.bases.ldcache import libcmp
from distroless.elf.machine import EM_386, Loader

OLD_MAGIC = b"ld.so-1.7.0"
LD_SO_CACHE = "/etc/ld.so.cache"
#: ``hwcap`` bit saying the low 32 bits index the ``glibc-hwcaps`` names
HWCAP_EXTENSION = 1 << 62
_ISA_LEVEL_MASK = (1 << 10) - 1
EXTENSION_MAGIC = 0xEAA42174  # (uint32_t) -358342284
EXTENSION_GLIBC_HWCAPS = 1
ENDIAN_LITTLE = 2
ENDIAN_BIG = 3


@dataclass(frozen=True)
class CacheRecord:
    """One entry; ``key``/``value`` are None where their offset is outside the strings."""

    flags: int
    key: str | None
    value: str | None
    hwcap: int = 0

    @property
    def hwcaps_index(self) -> int | None:
        """The ``glibc-hwcaps`` name index of an extension entry, else None."""
        if (self.hwcap >> 32) & ~_ISA_LEVEL_MASK != HWCAP_EXTENSION >> 32:
            return None
        return self.hwcap & 0xFFFFFFFF


@dataclass(frozen=True)
class LdCache:
    """A parsed cache: the entries the loader searches and the ``glibc-hwcaps`` names."""

    records: tuple[CacheRecord, ...]
    new_format: bool
    hwcaps_names: tuple[str, ...] = ()

    def lookup(self, name: str, loader: Loader, hwcaps: Sequence[str] = ()) -> str | None:
        """The path the loader takes from the cache for ``name``, or None.

        ``hwcaps`` are the ``glibc-hwcaps`` subdirectories the CPU supports, best first.
        """
        records = self.records
        left, right = 0, len(records) - 1
        best: str | None = None
        best_priority = 0
        while left <= right:
            middle = (left + right) // 2
            key = records[middle].key
            if key is None:
                return None
            order = libcmp(name, key)
            if order == 0:
                left = middle
                while middle > 0:
                    before = records[middle - 1].key
                    if before is None or libcmp(name, before) != 0:
                        break
                    middle -= 1
                while middle <= right:
                    record = records[middle]
                    middle += 1
                    if middle - 1 > left and (record.key is None or libcmp(name, record.key) != 0):
                        break
                    if record.flags not in loader.cache_flags or record.value is None:
                        continue
                    named = False
                    if self.new_format:
                        index = record.hwcaps_index
                        named = index is not None
                        if not named and best is not None:
                            break
                        if not named and record.hwcap != 0:
                            continue  # the legacy hwcap mechanism, gone since glibc 2.37
                        if index is not None:
                            priority = self._priority(index, hwcaps)
                            if priority == 0 or (best is not None and priority >= best_priority):
                                continue
                            best_priority = priority
                    best = record.value
                    if not named and record.flags == loader.cache_default:
                        break
                break
            if order < 0:
                left = middle + 1
            else:
                right = middle - 1
        return best

    def _priority(self, index: int, hwcaps: Sequence[str]) -> int:
        if index >= len(self.hwcaps_names):
            return 0
        name = self.hwcaps_names[index]
        return hwcaps.index(name) + 1 if name in hwcaps else 0


def _string(data: bytes, offset: int) -> str | None:
    if not 0 <= offset < len(data):
        return None
    end = data.find(b"\0", offset)
    if end < 0:
        return None
    return data[offset:end].decode("latin-1")


def _new_alignment(loader: Loader) -> int:
    """``__alignof__ (struct cache_file_new)``: its ``uint64_t`` aligns to 4 on i386 only."""
    return 4 if loader.machine == EM_386 else 8


def _parse_new(data: bytes, base: int, order: str) -> LdCache | None:
    header = struct.Struct(order + "20sIIB3sI12s")
    entry = struct.Struct(order + "iIIIQ")
    if len(data) - base <= header.size:
        return None
    _magic, nlibs, _strings, flags, _pad, ext_offset, _unused = header.unpack_from(data, base)
    if base == 0 and (len(data) - header.size) // entry.size < nlibs:
        return None  # corrupt: more entries than the file holds
    current = ENDIAN_LITTLE if order == "<" else ENDIAN_BIG
    if flags != 0 and flags & ENDIAN_BIG != current:
        return None
    records = []
    limit = len(data)  # offsets are checked against the whole file size, as glibc does
    strings = data[base:]
    for i in range(nlibs):
        at = base + header.size + i * entry.size
        if at + entry.size > len(data):
            return None
        eflags, key, value, _os, hwcap = entry.unpack_from(data, at)
        records.append(
            CacheRecord(
                eflags,
                _string(strings, key) if key < limit else None,
                _string(strings, value) if value < limit else None,
                hwcap,
            )
        )
    return LdCache(tuple(records), True, _hwcaps_names(data, ext_offset, order))


def _hwcaps_names(data: bytes, offset: int, order: str) -> tuple[str, ...]:
    if offset == 0 or offset % 4 or offset + 8 > len(data):
        return ()
    magic, count = struct.unpack_from(order + "II", data, offset)
    if magic != EXTENSION_MAGIC or offset + 8 + 16 * count > len(data):
        return ()
    for i in range(count):
        tag, _flags, start, size = struct.unpack_from(order + "4I", data, offset + 8 + 16 * i)
        if tag != EXTENSION_GLIBC_HWCAPS:
            continue
        if size == 0 or start % 4 or size % 4 or start + size > len(data):
            return ()
        indices = struct.unpack_from(f"{order}{size // 4}I", data, start)
        return tuple(_string(data, index) or "" for index in indices)
    return ()


def parse_ld_cache(data: bytes, loader: Loader) -> LdCache | None:
    """The cache as ``loader`` reads it; None when the loader would ignore the file."""
    order = "<" if loader.little_endian else ">"
    if data.startswith(NEW_MAGIC):
        return _parse_new(data, 0, order)
    if not data.startswith(OLD_MAGIC) or len(data) <= 16:
        return None
    (nlibs,) = struct.unpack_from(order + "I", data, 12)
    if (len(data) - 16) // 12 < nlibs:
        return None
    align = _new_alignment(loader)
    new_at = (16 + nlibs * 12 + align - 1) & ~(align - 1)
    if data[new_at : new_at + len(NEW_MAGIC)] == NEW_MAGIC and len(data) >= new_at + 48:
        return _parse_new(data, new_at, order)  # None: wrong byte order spoils both parts
    strings = data[16 + nlibs * 12 :]
    records = []
    for i in range(nlibs):
        flags, key, value = struct.unpack_from(order + "iII", data, 16 + i * 12)
        records.append(CacheRecord(flags, _string(strings, key), _string(strings, value)))
    return LdCache(tuple(records), False)
