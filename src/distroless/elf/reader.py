"""What one ELF file tells the dynamic loader: interpreter, needed libraries, search paths,
symbol versions, and the symbols it imports.

The loader reads an object through its program headers only (section headers may be
stripped), so everything here comes from ``PT_INTERP`` and ``PT_DYNAMIC``: dynamic tags are
read with pyelftools, and the tables they point to (string table, ``DT_VERNEED``,
``DT_VERDEF``, ``DT_SYMTAB``) are found by address through the ``PT_LOAD`` segments, as the
loader finds them in memory.  Where a tag repeats, the last one counts, as in glibc's
``elf_get_dynamic_info``; version records are followed through their ``next`` links, not
their counts, as ``_dl_check_map_versions`` does.

Files are untrusted: every count and offset is bounded by the file's size, and anything
malformed becomes one :class:`MalformedElfError`.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from elftools.common.exceptions import ELFError, ELFParseError
from elftools.common.utils import struct_parse
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile

from distroless.elf.header import HEADER_BYTES, ElfHeader, is_elf, parse_header
from distroless.elf.machine import EM_S390, oci_platform
from distroless.errors import ArchiveError

VER_FLG_BASE = 0x1
VER_FLG_WEAK = 0x2
DF_1_NODEFLIB = 0x800
DT_NULL = 0
DT_NEEDED = 1
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_GNU_HASH = 0x6FFFFEF5
DT_VERDEF = 0x6FFFFFFC
DT_VERNEED = 0x6FFFFFFE
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_PIE = 0x08000000

#: more version records than this in one file is a loop or garbage
MAX_VERSION_RECORDS = 1 << 16
MAX_STRING = 1 << 16
MAX_STRTAB = 64 << 20

_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ELFError,
    ELFParseError,
    ConstructError,
    struct.error,
    ValueError,
    OverflowError,
    IndexError,
    KeyError,
    TypeError,
    EOFError,
    UnicodeDecodeError,
)


class MalformedElfError(ArchiveError):
    """A file has the ELF magic but its header or dynamic section cannot be read."""


@dataclass(frozen=True)
class VersionRef:
    """One version an object needs from one file (a ``Vernaux`` record)."""

    name: str
    hash: int
    weak: bool
    index: int


@dataclass(frozen=True)
class VersionNeed:
    """The versions an object needs from the file named ``file`` (a ``Verneed`` record)."""

    file: str
    versions: tuple[VersionRef, ...]


@dataclass(frozen=True)
class VersionDef:
    """A version an object defines; ``base`` marks the entry naming the object itself."""

    name: str
    hash: int
    index: int
    base: bool
    weak: bool


@dataclass(frozen=True)
class ElfInfo:
    """The dynamic-linking facts of one ELF file."""

    header: ElfHeader
    size: int
    interpreter: str | None
    dynamic: bool
    needed: tuple[str, ...]
    soname: str | None
    rpath: str | None
    runpath: str | None
    flags_1: int
    version_needs: tuple[VersionNeed, ...]
    version_defs: tuple[VersionDef, ...]
    imports: tuple[str, ...]

    @property
    def bits(self) -> int:
        return self.header.bits

    @property
    def little_endian(self) -> bool:
        return self.header.little_endian

    @property
    def machine(self) -> int:
        return self.header.e_machine

    @property
    def type(self) -> str:
        return self.header.type_name

    @property
    def oci_platform(self) -> tuple[str, str | None] | None:
        return oci_platform(self.header)


def _size(stream: BinaryIO) -> int:
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end


class _Strings:
    """The dynamic string table, read once; strings past ``DT_STRSZ`` read on demand."""

    def __init__(self, stream: BinaryIO, offset: int | None, size: int, file_size: int) -> None:
        self.stream = stream
        self.offset = offset
        self.file_size = file_size
        self.data = b""
        if offset is not None and 0 <= offset < file_size:
            stream.seek(offset)
            self.data = stream.read(max(0, min(size, MAX_STRTAB, file_size - offset)))

    def get(self, index: int) -> str:
        if self.offset is None:
            raise MalformedElfError("a dynamic tag names a string but there is no DT_STRTAB")
        end = self.data.find(b"\0", index) if 0 <= index < len(self.data) else -1
        if end >= 0:
            raw = self.data[index:end]
        else:
            start = self.offset + index
            if not 0 <= start < self.file_size:
                raise MalformedElfError(f"string offset {index} is outside the file")
            self.stream.seek(start)
            chunk = self.stream.read(MAX_STRING)
            cut = chunk.find(b"\0")
            if cut < 0:
                raise MalformedElfError(f"string at offset {index} is not terminated")
            raw = chunk[:cut]
        return raw.decode("utf-8", errors="surrogateescape")


@dataclass(frozen=True)
class _Load:
    vaddr: int
    offset: int
    filesz: int


class _Layout:
    """The program headers: where each address of the object lives in the file."""

    def __init__(self, elf: ELFFile, size: int) -> None:
        self.loads: list[_Load] = []
        self.interp: tuple[int, int] | None = None
        self.dynamic: tuple[int, int] | None = None
        phoff, phnum, phentsize = elf["e_phoff"], elf["e_phnum"], elf["e_phentsize"]
        if phnum and (
            phentsize < elf.structs.Elf_Phdr.sizeof() or phoff + phnum * phentsize > size
        ):
            raise MalformedElfError("program headers lie outside the file")
        for index in range(phnum):
            phdr = struct_parse(elf.structs.Elf_Phdr, elf.stream, phoff + index * phentsize)
            kind = phdr["p_type"]
            where = (int(phdr["p_offset"]), int(phdr["p_filesz"]))
            if kind == "PT_LOAD":
                self.loads.append(_Load(int(phdr["p_vaddr"]), *where))
            elif kind == "PT_INTERP" and self.interp is None:
                self.interp = where  # the kernel uses the first one
            elif kind == "PT_DYNAMIC":
                self.dynamic = where  # the loader keeps the last one

    def offset(self, address: int, size: int = 1) -> int | None:
        for load in self.loads:
            if load.vaddr <= address and address + size <= load.vaddr + load.filesz:
                return address - load.vaddr + load.offset
        return None


def _read_at(stream: BinaryIO, offset: int, length: int, size: int) -> bytes:
    if offset < 0 or length < 0 or offset + length > size:
        raise MalformedElfError(f"{length} bytes at offset {offset} lie outside the file")
    stream.seek(offset)
    return stream.read(length)


def _chain(
    elf: ELFFile, start: int | None, record: Any, next_field: str, file_size: int
) -> list[tuple[int, Any]]:
    """The records of a ``next``-linked list at file offset ``start``: (offset, record)."""
    out: list[tuple[int, Any]] = []
    offset = start
    seen: set[int] = set()
    while offset is not None:
        if offset in seen or len(out) >= MAX_VERSION_RECORDS or not 0 <= offset < file_size:
            raise MalformedElfError("version records loop or leave the file")
        seen.add(offset)
        entry = struct_parse(record, elf.stream, offset)
        out.append((offset, entry))
        step = int(entry[next_field])
        offset = offset + step if step else None
    return out


def _version_needs(
    elf: ELFFile, start: int | None, strings: _Strings, size: int
) -> tuple[VersionNeed, ...]:
    needs = []
    for offset, need in _chain(elf, start, elf.structs.Elf_Verneed, "vn_next", size):
        if need["vn_version"] != 1:
            raise MalformedElfError(f"unsupported version {need['vn_version']} of Verneed record")
        refs = []
        first = offset + need["vn_aux"] if need["vn_aux"] else None
        for _off, aux in _chain(elf, first, elf.structs.Elf_Vernaux, "vna_next", size):
            refs.append(
                VersionRef(
                    name=strings.get(aux["vna_name"]),
                    hash=int(aux["vna_hash"]),
                    weak=bool(aux["vna_flags"] & VER_FLG_WEAK),
                    index=int(aux["vna_other"]) & 0x7FFF,
                )
            )
        needs.append(VersionNeed(strings.get(need["vn_file"]), tuple(refs)))
    return tuple(needs)


def _version_defs(
    elf: ELFFile, start: int | None, strings: _Strings, size: int
) -> tuple[VersionDef, ...]:
    defs = []
    for offset, vd in _chain(elf, start, elf.structs.Elf_Verdef, "vd_next", size):
        if vd["vd_version"] != 1:
            raise MalformedElfError(f"unsupported version {vd['vd_version']} of Verdef record")
        aux = struct_parse(elf.structs.Elf_Verdaux, elf.stream, offset + vd["vd_aux"])
        defs.append(
            VersionDef(
                name=strings.get(aux["vda_name"]),
                hash=int(vd["vd_hash"]),
                index=int(vd["vd_ndx"]) & 0x7FFF,
                base=bool(vd["vd_flags"] & VER_FLG_BASE),
                weak=bool(vd["vd_flags"] & VER_FLG_WEAK),
            )
        )
    return tuple(defs)


def _symbol_count(
    stream: BinaryIO, layout: _Layout, last: dict[int, int], header: ElfHeader, size: int
) -> int:
    """How many entries ``DT_SYMTAB`` has, from ``DT_GNU_HASH`` or ``DT_HASH``."""
    order = "<" if header.little_endian else ">"
    word = 8 if header.bits == 64 else 4
    gnu = layout.offset(last[DT_GNU_HASH], 16) if DT_GNU_HASH in last else None
    if gnu is not None:
        nbuckets, symoffset, bloom_size, _shift = struct.unpack(
            order + "4I", _read_at(stream, gnu, 16, size)
        )
        buckets_at = gnu + 16 + bloom_size * word
        buckets = struct.unpack(
            f"{order}{nbuckets}I", _read_at(stream, buckets_at, 4 * nbuckets, size)
        )
        highest = max(buckets, default=0)
        if highest < symoffset:
            return int(symoffset)
        chain_at = buckets_at + 4 * nbuckets
        index = highest
        while True:
            (value,) = struct.unpack(
                order + "I", _read_at(stream, chain_at + 4 * (index - symoffset), 4, size)
            )
            index += 1
            if value & 1:
                return index
    plain = layout.offset(last[DT_HASH], 8) if DT_HASH in last else None
    if plain is not None:
        # s390x keeps 64-bit hash words, every other machine 32-bit ones
        wide = header.bits == 64 and header.e_machine == EM_S390
        fmt = order + ("2Q" if wide else "2I")
        _nbucket, nchain = struct.unpack(fmt, _read_at(stream, plain, struct.calcsize(fmt), size))
        return int(nchain)
    return 0


def _imports(
    stream: BinaryIO,
    layout: _Layout,
    last: dict[int, int],
    header: ElfHeader,
    strings: _Strings,
    size: int,
) -> tuple[str, ...]:
    """Names of the undefined global and weak symbols of ``DT_SYMTAB``."""
    offset = layout.offset(last[DT_SYMTAB]) if DT_SYMTAB in last else None
    if offset is None:
        return ()
    order = "<" if header.little_endian else ">"
    if header.bits == 64:
        layout_fmt, entry_size = "IBBHQQ", 24  # st_name st_info st_other st_shndx value size
    else:
        layout_fmt, entry_size = "IIIBBH", 16  # st_name value size st_info st_other st_shndx
    count = _symbol_count(stream, layout, last, header, size)
    count = min(count, max(0, size - offset) // entry_size)
    table = _read_at(stream, offset, count * entry_size, size)
    names: set[str] = set()
    for fields in struct.iter_unpack(order + layout_fmt, table):
        if header.bits == 64:
            name, info, shndx = fields[0], fields[1], fields[3]
        else:
            name, info, shndx = fields[0], fields[3], fields[5]
        if shndx == 0 and name and info >> 4 in (1, 2):  # SHN_UNDEF, STB_GLOBAL or STB_WEAK
            names.add(strings.get(name))
    return tuple(sorted(names))


def read_elf(stream: BinaryIO, *, imports: bool = True) -> ElfInfo:
    """Read the ELF in seekable ``stream``; raises :class:`MalformedElfError`.

    ``imports=False`` skips the symbol table, the one part whose cost grows with the
    size of the library.
    """
    stream.seek(0)
    head = stream.read(64)
    header = parse_header(head)
    if header is None:
        raise MalformedElfError("not an ELF file" if not is_elf(head) else "file too short")
    if header.bits == 0 or header.ei_data not in (1, 2):
        raise MalformedElfError("unknown ELF class or byte order")
    size = _size(stream)
    if size < HEADER_BYTES[header.ei_class]:
        raise MalformedElfError("file too short")
    try:
        return _read(stream, header, size, imports)
    except MalformedElfError:
        raise
    except _PARSE_ERRORS as exc:
        raise MalformedElfError(f"malformed ELF: {exc}") from exc


def _read(stream: BinaryIO, header: ElfHeader, size: int, want_imports: bool) -> ElfInfo:
    stream.seek(0)
    elf = ELFFile(stream)
    layout = _Layout(elf, size)
    interpreter: str | None = None
    if layout.interp is not None:
        raw = _read_at(stream, *layout.interp, size)
        interpreter = raw.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")
    if layout.dynamic is None:
        return ElfInfo(header, size, interpreter, False, (), None, None, None, 0, (), (), ())
    order = "<" if header.little_endian else ">"
    pair = order + ("qQ" if header.bits == 64 else "iI")
    raw = _read_at(stream, layout.dynamic[0], layout.dynamic[1], size)
    raw = raw[: len(raw) - len(raw) % struct.calcsize(pair)]
    tags: list[tuple[int, int]] = []
    for tag, value in struct.iter_unpack(pair, raw):
        if tag == DT_NULL:
            break
        tags.append((tag, value))
    last = dict(tags)
    strtab = layout.offset(last[DT_STRTAB]) if DT_STRTAB in last else None
    strings = _Strings(stream, strtab, last.get(DT_STRSZ, MAX_STRTAB), size)

    def text(tag: int) -> str | None:
        return strings.get(last[tag]) if tag in last else None

    verneed = layout.offset(last[DT_VERNEED]) if DT_VERNEED in last else None
    verdef = layout.offset(last[DT_VERDEF]) if DT_VERDEF in last else None
    return ElfInfo(
        header=header,
        size=size,
        interpreter=interpreter,
        dynamic=True,
        needed=tuple(strings.get(value) for tag, value in tags if tag == DT_NEEDED),
        soname=text(DT_SONAME),
        rpath=text(DT_RPATH),
        runpath=text(DT_RUNPATH),
        flags_1=last.get(DT_FLAGS_1, 0),
        version_needs=_version_needs(elf, verneed, strings, size),
        version_defs=_version_defs(elf, verdef, strings, size),
        imports=_imports(stream, layout, last, header, strings, size) if want_imports else (),
    )


def read_elf_bytes(data: bytes, *, imports: bool = True) -> ElfInfo:
    """:func:`read_elf` over bytes already in memory (tests, tiny fixtures)."""
    return read_elf(io.BytesIO(data), imports=imports)
