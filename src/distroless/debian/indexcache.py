"""A lookup table beside each cached ``Packages`` file, so a build reads only what it needs.

A decompressed Packages index is tens of megabytes; parsing all of it to find the few
dozen packages an image holds costs seconds on every build.  The first time a cached
index is used, one scan over its bytes records where each paragraph starts, how long it
is, on which line, its package name, its architecture and the names it Provides.  The
table is written next to the index as ``<hex>.idx`` (``<hex>`` being the index's cache
key) and later runs load it in milliseconds and read single paragraphs with a seek.

The table is a cache, never an authority: its header repeats the index's cache key and
size and carries a CRC-32 of the payload, so a truncated, corrupt or foreign file is
rebuilt rather than trusted.  Every paragraph read through it must parse to exactly one
paragraph of the expected package; if one does not, the table is rebuilt from the file
and the read repeated.  The file is written to a temporary name and renamed into place,
so two processes building it at once both leave a whole file.

Paragraph boundaries are found the way :func:`~distroless.debian.deb822.iter_paragraphs`
finds them (a line that is empty or only blanks).  An index containing a carriage return
could be split differently by a text-mode reader, so for such a file no table is built
and the caller reads the whole index instead.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from distroless.debian.archive import PackagesIndex
from distroless.debian.deb822 import Paragraph, iter_paragraphs
from distroless.debian.resolver import PackageIndex, provided_names
from distroless.errors import DebianError, DistrolessError, IntegrityError
from distroless.store.atomic import atomic_file

SUFFIX = ".idx"
# magic, the index's cache key (hex), its size, the payload's length and CRC-32: the
# checksum catches a truncated or damaged file; the table is a local cache, not a
# trust anchor (what it points at is parsed and checked on every read).
_HEADER = struct.Struct("<8s64sQQI")
# Offsets are 64-bit, every other number 32-bit where the machine has such a C type,
# all in its byte order; the magic records both, so another machine's table is rebuilt.
_BIG = "q"
_SMALL = "i" if array("i").itemsize == 4 else "l"
MAGIC = b"DLPKIX" + sys.byteorder[0].encode() + str(array(_SMALL).itemsize).encode()
# records, names, virtual names, provide references, then the three text blobs' lengths
_COUNTS = struct.Struct("<8Q")

# One pass finds every blank line (a paragraph ends there) and the three fields the
# table needs, with their continuation lines; a blank line is never a continuation.
_FIELD = rb"(package|architecture|provides):([^\n]*(?:\n[ \t]+[^ \t\n][^\n]*)*)"
_SCAN = re.compile(rb"\n(?:" + _FIELD + rb"|[ \t]*(?=\n))", re.IGNORECASE)
_FIRST_FIELD = re.compile(_FIELD, re.IGNORECASE)
_LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*\n)*")


def sidecar_path(packages_path: Path) -> Path:
    """Where the lookup table of the cached index at ``packages_path`` lives."""
    return packages_path.with_name(packages_path.name + SUFFIX)


@dataclass(frozen=True)
class _Strings:
    """A sorted list of names kept as one UTF-8 blob and the positions that cut it."""

    blob: bytes
    cuts: array[int]

    @classmethod
    def build(cls, names: Sequence[bytes]) -> _Strings:
        cuts = array(_SMALL, [0])
        for name in names:
            cuts.append(cuts[-1] + len(name))
        return cls(b"".join(names), cuts)

    def __len__(self) -> int:
        return len(self.cuts) - 1

    def raw(self, i: int) -> bytes:
        return self.blob[self.cuts[i] : self.cuts[i + 1]]

    def find(self, name: str) -> int:
        """The position of ``name``, or -1."""
        key = name.encode("utf-8", "surrogateescape")
        lo, hi = 0, len(self)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.raw(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self) and self.raw(lo) == key else -1

    def all(self) -> list[str]:
        text = self.blob.decode("utf-8", "replace")
        if text.isascii():
            return [text[self.cuts[i] : self.cuts[i + 1]] for i in range(len(self))]
        return [self.raw(i).decode("utf-8", "replace") for i in range(len(self))]


@dataclass(frozen=True)
class LookupTable:
    """Where every paragraph of one Packages file is, grouped by package name.

    Records are sorted by name (file order within a name); the records of the i-th
    name are ``first[i]`` up to ``first[i + 1]``.  The j-th virtual name is provided by
    records ``provide_refs[provide_first[j]:provide_first[j + 1]]``.
    """

    offsets: array[int]
    lengths: array[int]
    lines: array[int]
    arch_ids: array[int]
    archs: tuple[str, ...]
    names: _Strings
    first: array[int]
    virtuals: _Strings
    provide_first: array[int]
    provide_refs: array[int]

    def records(self, name: str) -> range:
        """The record numbers of ``name`` (empty if the file has no such package)."""
        i = self.names.find(name)
        return range(0) if i < 0 else range(self.first[i], self.first[i + 1])

    def providing(self, virtual: str) -> list[int]:
        """The records whose Provides lists ``virtual``."""
        j = self.virtuals.find(virtual)
        if j < 0:
            return []
        return list(self.provide_refs[self.provide_first[j] : self.provide_first[j + 1]])

    def name_of(self, record: int) -> str:
        return self.names.raw(bisect_right(self.first, record) - 1).decode("utf-8", "replace")

    def arch_of(self, record: int) -> str:
        return self.archs[self.arch_ids[record]]

    def all_names(self) -> list[str]:
        return self.names.all()

    def encode(self) -> bytes:
        archs = "\n".join(self.archs).encode("utf-8")
        parts = [
            _COUNTS.pack(
                len(self.offsets),
                len(self.names),
                len(self.virtuals),
                len(self.provide_refs),
                len(self.names.blob),
                len(self.virtuals.blob),
                len(archs),
                0,
            ),
            self.offsets.tobytes(),
            self.lengths.tobytes(),
            self.lines.tobytes(),
            self.arch_ids.tobytes(),
            self.first.tobytes(),
            self.names.cuts.tobytes(),
            self.provide_first.tobytes(),
            self.virtuals.cuts.tobytes(),
            self.provide_refs.tobytes(),
            self.names.blob,
            self.virtuals.blob,
            archs,
        ]
        return b"".join(parts)

    @classmethod
    def decode(cls, payload: bytes | memoryview) -> LookupTable:
        """The table in ``payload``; raises ValueError when it is not consistent."""
        if len(payload) < _COUNTS.size:
            raise ValueError("payload too short")
        records, names, virtuals, refs, names_len, virtuals_len, archs_len, _ = _COUNTS.unpack_from(
            payload
        )
        reader = _Reader(memoryview(payload), _COUNTS.size)
        offsets = reader.array(_BIG, records)
        lengths = reader.array(_SMALL, records)
        lines = reader.array(_SMALL, records)
        arch_ids = reader.array(_SMALL, records)
        first = reader.array(_SMALL, names + 1)
        name_cuts = reader.array(_SMALL, names + 1)
        provide_first = reader.array(_SMALL, virtuals + 1)
        virtual_cuts = reader.array(_SMALL, virtuals + 1)
        provide_refs = reader.array(_SMALL, refs)
        names_blob = reader.bytes(names_len)
        virtuals_blob = reader.bytes(virtuals_len)
        archs = tuple(reader.bytes(archs_len).decode("utf-8").split("\n")) if archs_len else ()
        if reader.position != len(payload):
            raise ValueError("trailing bytes")
        table = cls(
            offsets,
            lengths,
            lines,
            arch_ids,
            archs,
            _Strings(names_blob, name_cuts),
            first,
            _Strings(virtuals_blob, virtual_cuts),
            provide_first,
            provide_refs,
        )
        table.check()
        return table

    def check(self) -> None:
        """Raise ValueError unless every index in the table points inside it."""
        count = len(self.offsets)
        for cuts, blob in (
            (self.names.cuts, self.names.blob),
            (self.virtuals.cuts, self.virtuals.blob),
        ):
            if cuts[0] != 0 or cuts[-1] != len(blob):
                raise ValueError("name positions do not cover their blob")
        if self.first[0] != 0 or self.first[-1] != count:
            raise ValueError("name records do not cover the records")
        if self.provide_first[0] != 0 or self.provide_first[-1] != len(self.provide_refs):
            raise ValueError("provider records do not cover their list")
        if count and (min(self.arch_ids) < 0 or max(self.arch_ids) >= len(self.archs)):
            raise ValueError("architecture out of range")
        if self.provide_refs and (min(self.provide_refs) < 0 or max(self.provide_refs) >= count):
            raise ValueError("provider record out of range")


class _Reader:
    def __init__(self, data: memoryview, position: int) -> None:
        self.data = data
        self.position = position

    def bytes(self, size: int) -> bytes:
        return bytes(self.view(size))

    def view(self, size: int) -> memoryview:
        end = self.position + size
        if end > len(self.data):
            raise ValueError("payload truncated")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def array(self, typecode: str, count: int) -> array[int]:
        out = array(typecode)
        out.frombytes(self.view(count * out.itemsize))
        return out


class CarriageReturnError(Exception):
    """The index has carriage returns: a byte-level table could disagree with the parser."""


# name, position in the file, offset, length, line, architecture, provided names
_Row = tuple[bytes, int, int, int, int, bytes, list[str]]


def scan(path: Path, source: str = "") -> LookupTable:
    """One pass over the Packages file at ``path``, recording every paragraph.

    Raises :class:`CarriageReturnError` for a file with a carriage return in it and
    :class:`DebianError` for a paragraph without a Package or Architecture field.
    """
    source = source or str(path)
    rows: list[_Row] = []
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if data.find(b"\r") != -1:
                    raise CarriageReturnError(source)
                rows = _scan_rows(data, source)
    return _table(rows)


def _scan_rows(data: mmap.mmap, source: str) -> list[_Row]:
    rows: list[_Row] = []
    lead = _LEADING_BLANK_LINES.match(data)
    start = lead.end() if lead else 0
    line = 1 + data[:start].count(b"\n")
    fields: dict[bytes, bytes] = {}
    first = _FIRST_FIELD.match(data, start)
    if first is not None:
        fields[first.group(1).lower()] = first.group(2)
    # A paragraph's later fields, and the first field of every paragraph after a blank
    # line, follow a newline the previous match left unconsumed.
    for found in _SCAN.finditer(data, first.end() if first is not None else start):
        field = found.group(1)
        if field is not None:
            fields.setdefault(field.lower(), found.group(2))
            continue
        # A blank line starts right after found.start(): the paragraph ends with it.
        end = found.start() + 1
        if fields or (end > start and data[start:end].strip()):
            rows.append(_row(fields, len(rows), start, end, line, source))
            fields = {}
        following = found.end() + 1
        line += data[start:following].count(b"\n")
        start = following
    if fields or (start < len(data) and data[start:].strip()):
        rows.append(_row(fields, len(rows), start, len(data), line, source))
    return rows


def _row(
    fields: dict[bytes, bytes], order: int, start: int, end: int, line: int, source: str
) -> _Row:
    name = fields.get(b"package", b"").split(b"\n", 1)[0].strip()
    if not name:
        raise DebianError(f"{source}:{line}: paragraph without a Package field")
    arch = fields.get(b"architecture", b"").split(b"\n", 1)[0].strip()
    if not arch:
        raise DebianError(f"{source}:{line}: package {name.decode()} has no Architecture")
    provides = fields.get(b"provides")
    provided = []
    if provides is not None:
        provided = list(dict.fromkeys(provided_names(provides.decode("utf-8", "replace"))))
    return (name, order, start, end - start, line, arch, provided)


def _table(rows: list[_Row]) -> LookupTable:
    rows.sort(key=lambda row: (row[0], row[1]))
    names: list[bytes] = []
    first = array(_SMALL)
    offsets = array(_BIG)
    lengths = array(_SMALL)
    lines = array(_SMALL)
    arch_ids = array(_SMALL)
    archs: dict[bytes, int] = {}
    provides: dict[bytes, list[int]] = {}
    for record, (name, _, offset, length, line, arch, provided) in enumerate(rows):
        if not names or names[-1] != name:
            names.append(name)
            first.append(record)
        offsets.append(offset)
        lengths.append(length)
        lines.append(line)
        arch_id = archs.get(arch)
        if arch_id is None:
            arch_id = archs[arch] = len(archs)
        arch_ids.append(arch_id)
        for virtual in provided:
            provides.setdefault(virtual.encode("utf-8", "surrogateescape"), []).append(record)
    first.append(len(rows))
    virtuals = sorted(provides)
    provide_first = array(_SMALL, [0])
    provide_refs = array(_SMALL)
    for raw in virtuals:
        provide_refs.extend(provides[raw])
        provide_first.append(len(provide_refs))
    return LookupTable(
        offsets,
        lengths,
        lines,
        arch_ids,
        tuple(a.decode("utf-8", "replace") for a in archs),
        _Strings.build(names),
        first,
        _Strings.build(virtuals),
        provide_first,
        provide_refs,
    )


def _digest(payload: bytes | memoryview) -> int:
    return zlib.crc32(payload)


def write_table(packages_path: Path, key: str, table: LookupTable) -> Path:
    """Write ``table`` beside the index atomically; returns the sidecar's path."""
    payload = table.encode()
    header = _HEADER.pack(
        MAGIC,
        key.lower().encode("ascii"),
        packages_path.stat().st_size,
        len(payload),
        _digest(payload),
    )
    final = sidecar_path(packages_path)
    with atomic_file(final, 0o644) as out:  # readable like the index it describes
        out.write(header)
        out.write(payload)
    return final


def read_table(packages_path: Path, key: str) -> LookupTable | None:
    """The sidecar's table if it is whole and belongs to this index, else None."""
    try:
        data = sidecar_path(packages_path).read_bytes()
        size = packages_path.stat().st_size
    except OSError:
        return None
    if len(data) < _HEADER.size:
        return None
    magic, stored_key, stored_size, length, digest = _HEADER.unpack_from(data)
    payload = memoryview(data)[_HEADER.size :]
    if (
        magic != MAGIC
        or stored_key != key.lower().encode("ascii")
        or stored_size != size
        or length != len(payload)
        or _digest(payload) != digest
    ):
        return None
    try:
        return LookupTable.decode(payload)
    except ValueError:
        return None


def load_table(packages_path: Path, key: str, source: str = "") -> LookupTable:
    """The lookup table of a cached index: read from its sidecar, or built and saved."""
    table = read_table(packages_path, key)
    if table is None:
        table = scan(packages_path, source)
        write_table(packages_path, key, table)
    return table


class _TableMismatch(Exception):
    """A paragraph read through a lookup table is not where (or what) the table says.

    ``error`` is what to raise if a fresh table agrees with the old one.
    """

    def __init__(self, error: DistrolessError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class _Source:
    path: Path
    key: str
    name: str  # for messages: the index's URL
    table: LookupTable


class LazyPackageIndex(PackageIndex):
    """A :class:`PackageIndex` over cached Packages files that reads paragraphs on demand.

    Each name's paragraphs are found in the files' lookup tables, read with a seek and
    parsed only when the resolver asks for that name; sources keep their order, so
    resolution is the same as over a fully parsed index.  Paragraphs added with
    :meth:`add` come after those of the files.
    """

    def __init__(self, arch: str, sources: Sequence[_Source] = ()) -> None:
        super().__init__(arch)
        self._sources = tuple(sources)
        self._names: frozenset[str] | None = None

    @classmethod
    def open(cls, arch: str, indices: Sequence[PackagesIndex]) -> PackageIndex:
        """An index over verified ``indices``, in order; lazy when every file allows it."""
        return cls.from_files(arch, [(i.path, i.sha256, index_source_name(i)) for i in indices])

    @classmethod
    def from_files(cls, arch: str, files: Sequence[tuple[Path, str, str]]) -> PackageIndex:
        """An index over cached Packages files given as (path, cache key, name in messages).

        A file whose paragraphs cannot be located byte-exactly (see the module's
        docstring) makes this fall back to a fully parsed :class:`PackageIndex`.
        """
        sources = []
        for path, key, name in files:
            try:
                table = load_table(path, key, name)
            except CarriageReturnError:
                return PackageIndex.from_paragraphs(
                    arch, *(_parse_file(path, source) for path, _, source in files)
                )
            sources.append(_Source(path, key, name, table))
        return cls(arch, sources)

    def add(self, paragraph: Paragraph) -> None:
        super().add(paragraph)
        self._names = None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if self._names is not None:
            return name in self._names
        return any(self._records(s, name) for s in self._sources) or bool(
            super()._paragraphs_of(name)
        )

    def _records(self, source: _Source, name: str) -> list[int]:
        table = source.table
        return [r for r in table.records(name) if table.arch_of(r) in (self.arch, "all")]

    def _paragraphs_of(self, name: str) -> list[Paragraph]:
        found: list[Paragraph] = []
        for i in range(len(self._sources)):
            try:
                found.extend(self._read(self._sources[i], name))
            except _TableMismatch as mismatch:
                # Rebuild the table from the file and read through the new one; if a
                # fresh scan agrees with the old table, the file itself is at fault.
                source = self._sources[i]
                table = scan(source.path, source.name)
                if table == source.table:
                    raise mismatch.error from None
                write_table(source.path, source.key, table)
                self._sources = (
                    *self._sources[:i],
                    _Source(source.path, source.key, source.name, table),
                    *self._sources[i + 1 :],
                )
                self._names = None
                self._packages.clear()
                found.extend(self._read(self._sources[i], name))
        return found + super()._paragraphs_of(name)

    def _read(self, source: _Source, name: str) -> list[Paragraph]:
        """The paragraphs of ``name`` in one file; :class:`_TableMismatch` if misplaced."""
        records = self._records(source, name)
        if not records:
            return []
        table = source.table
        try:
            with source.path.open("rb") as fh:
                chunks = []
                for record in records:
                    fh.seek(table.offsets[record])
                    chunks.append(fh.read(table.lengths[record]))
        except OSError as exc:
            raise DebianError(f"{source.name}: cannot read the cached index ({exc})") from exc
        found = []
        for record, raw in zip(records, chunks, strict=True):
            line = table.lines[record]
            where = f"{source.name}:{line}"
            try:
                parsed = _parse_at(raw.decode("utf-8", "replace"), source.name, line)
            except DebianError as exc:
                raise _TableMismatch(exc) from None
            got = parsed[0].get("Package", "").strip() if len(parsed) == 1 else None
            if got != name or len(raw) != table.lengths[record]:
                raise _TableMismatch(
                    IntegrityError(f"{where}: expected package {name} here, found {got!r}")
                )
            found.append(Paragraph(parsed[0], line=line, source=source.name))
        return found

    def _provider_names(self, virtual: str) -> Collection[str]:
        names: dict[str, None] = {}
        for source in self._sources:
            table = source.table
            for record in table.providing(virtual):
                if table.arch_of(record) in (self.arch, "all"):
                    names[table.name_of(record)] = None
        for name in super()._provider_names(virtual):
            names[name] = None
        return names.keys()

    def _all_names(self) -> Collection[str]:
        if self._names is None:
            names: set[str] = set(super()._all_names())
            wanted = (self.arch, "all")
            for source in self._sources:
                table = source.table
                for i, name in enumerate(table.all_names()):
                    records = range(table.first[i], table.first[i + 1])
                    if any(table.arch_of(r) in wanted for r in records):
                        names.add(name)
            self._names = frozenset(names)
        return self._names


_HERE = "\0paragraph"
_HERE_LINE = re.compile("^" + re.escape(_HERE) + r":(\d+):")


def _parse_at(text: str, source: str, line: int) -> list[Paragraph]:
    """Parse one paragraph cut out of ``source`` at ``line``; errors give the file's line."""
    try:
        return list(iter_paragraphs(text.split("\n"), _HERE))
    except DebianError as exc:

        def located(match: re.Match[str]) -> str:
            return f"{source}:{line + int(match.group(1)) - 1}:"

        raise DebianError(_HERE_LINE.sub(located, exc.message)) from None


def _parse_file(path: Path, source: str) -> Iterator[Paragraph]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        yield from iter_paragraphs(fh, source)


def index_source_name(index: PackagesIndex) -> str:
    """The name a Packages index has in messages, as its full parse names it."""
    return f"{index.suite.url}/{index.component}/binary-{index.arch}/Packages"
