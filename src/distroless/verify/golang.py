"""The build information the Go toolchain writes into every binary it links.

Since Go 1.18 the linker puts a small blob at the start of the ``.go.buildinfo`` section::

    "\\xff Go buildinf:"  ptrsize(1)  flags(1)  padding to 32 bytes
    uvarint len, Go version ("go1.22.4")
    uvarint len, module info framed by two 16-byte sentinels

with bit 1 of ``flags`` set for this inline layout (older binaries hold pointers instead and
are not read here).  The module info is what ``go version -m`` prints: ``path`` (the main
package), ``mod`` (the main module), ``dep`` lines (every module linked in, with version and
``h1:`` sum), ``=>`` lines (the replacement of the line before) and ``build`` settings.

The section always lies in a writable ``PT_LOAD`` segment, and the program headers that name
those segments come at the front of the file, so a binary read as a stream (a member of a
layer) is recognised without seeking: :class:`GoProbe` keeps only the bytes of writable
segments, then looks for the magic at 16-byte alignment, as the section is aligned, and
accepts only a blob that parses completely.  No Go toolchain is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# e_ident of the ELF header (the System V ABI), spelled out rather than imported from
# distroless.elf: the probe runs in every SBOM, and that package loads the loader model.
ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2MSB = 2

MAGIC = b"\xff Go buildinf:"
HEADER_SIZE = 32
FLAG_INLINE = 0x2
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")
_PT_LOAD = 1
_PF_W = 0x2
#: bytes of writable segments kept per binary; Go's data segments are far smaller
MAX_DATA_BYTES = 32 << 20
#: program headers live at the front; an ELF whose headers lie further in is not read
_MAX_HEAD = 64 << 10
_MAX_STRING = 4 << 20


@dataclass(frozen=True)
class GoModule:
    """One module of a binary: its path, version and go.sum hash (``h1:…``, may be empty)."""

    path: str
    version: str
    sum: str = ""
    replacement: GoModule | None = None


@dataclass(frozen=True)
class GoBuildInfo:
    go_version: str
    main_package: str
    main: GoModule | None
    deps: tuple[GoModule, ...]
    settings: tuple[tuple[str, str], ...]

    def setting(self, key: str) -> str | None:
        return next((v for k, v in self.settings if k == key), None)


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _string(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = _uvarint(data, pos)
    if length > _MAX_STRING or pos + length > len(data):
        raise ValueError("string runs past the blob")
    return data[pos : pos + length], pos + length


def _module(fields: list[str]) -> GoModule:
    if len(fields) < 2 or not fields[0]:
        raise ValueError("a module line needs a path and a version")
    return GoModule(fields[0], fields[1], fields[2] if len(fields) > 2 else "")


def parse_modinfo(
    text: str,
) -> tuple[str, GoModule | None, tuple[GoModule, ...], tuple[tuple[str, str], ...]]:
    """``path``, ``mod``, ``dep`` (with ``=>`` applied) and ``build`` lines of module info."""
    main_package = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    last: str | None = None  # "mod" or "dep": what a "=>" line replaces
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path":
            main_package = rest
        elif kind == "mod":
            main, last = _module(fields), "mod"
        elif kind == "dep":
            deps.append(_module(fields))
            last = "dep"
        elif kind == "=>":
            new = _module(fields) if len(fields) >= 2 else GoModule(fields[0], "")
            if last == "dep" and deps:
                deps[-1] = GoModule(deps[-1].path, deps[-1].version, deps[-1].sum, new)
            elif last == "mod" and main is not None:
                main = GoModule(main.path, main.version, main.sum, new)
        elif kind == "build":
            key, _, value = rest.partition("=")
            settings.append((key, value.strip('"')))
    return main_package, main, tuple(deps), tuple(settings)


def parse_buildinfo(blob: bytes) -> GoBuildInfo | None:
    """The build info in ``blob`` (starting at the magic); None unless it parses completely."""
    if not blob.startswith(MAGIC) or len(blob) < HEADER_SIZE:
        return None
    ptr_size, flags = blob[14], blob[15]
    if ptr_size not in (4, 8) or not flags & FLAG_INLINE:
        return None
    try:
        version, pos = _string(blob, HEADER_SIZE)
        modinfo, _ = _string(blob, pos)
    except ValueError:
        return None
    if not version.startswith((b"go", b"devel")):
        return None
    if len(modinfo) >= 33 and modinfo[-17] == ord("\n"):
        if not (modinfo.startswith(INFO_START) and modinfo.endswith(INFO_END)):
            return None
        modinfo = modinfo[16:-16]
    else:
        modinfo = b""
    try:
        main_package, main, deps, settings = parse_modinfo(modinfo.decode("utf-8"))
        go_version = version.decode("ascii")
    except (UnicodeDecodeError, ValueError):
        return None
    return GoBuildInfo(go_version, main_package, main, deps, settings)


def _writable_segments(head: bytes) -> list[tuple[int, int]] | None:
    """File ranges of the writable ``PT_LOAD`` segments; None when ``head`` cannot tell."""
    if head[:4] != ELF_MAGIC[: len(head)]:
        return []
    if len(head) < 64:
        return None
    if head[4] not in (ELFCLASS32, ELFCLASS64):
        return []
    order = ">" if head[5] == ELFDATA2MSB else "<"
    if head[4] == ELFCLASS64:
        (phoff,) = struct.unpack_from(order + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
        layout, minimum = order + "IIQQQQQQ", 56
    else:
        (phoff,) = struct.unpack_from(order + "I", head, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
        layout, minimum = order + "IIIIIIII", 32
    if phentsize < minimum or phnum == 0:
        return []
    end = phoff + phentsize * phnum
    if end > _MAX_HEAD:
        return []
    if len(head) < end:
        return None  # not enough read yet
    ranges = []
    for i in range(phnum):
        fields = struct.unpack_from(layout, head, phoff + i * phentsize)
        if head[4] == ELFCLASS64:
            p_type, p_flags, p_offset, _va, _pa, p_filesz = fields[:6]
        else:
            p_type, p_offset, _va, _pa, p_filesz, _memsz, p_flags = fields[:7]
        if p_type == _PT_LOAD and p_flags & _PF_W and p_filesz:
            ranges.append((p_offset, p_offset + p_filesz))
    return sorted(ranges)


class GoProbe:
    """Fed the bytes of one file in order; :meth:`result` is its Go build info, if any."""

    def __init__(self) -> None:
        self._offset = 0
        self._head = bytearray()
        self._ranges: list[tuple[int, int]] | None = None
        self._data: list[tuple[int, bytearray]] = []  # (file offset, bytes) per segment
        self._kept = 0
        self.active = True

    def feed(self, chunk: bytes) -> None:
        if not self.active:
            return
        start = self._offset
        self._offset += len(chunk)
        if self._ranges is not None:
            self._keep(start, chunk)
            return
        # still reading the head, which holds every byte from offset 0 so far
        room = _MAX_HEAD - len(self._head)
        self._head += chunk[:room]
        rest = chunk[room:]
        if len(self._head) >= 4 and self._head[:4] != ELF_MAGIC:
            self.active = False
            return
        ranges = _writable_segments(bytes(self._head))
        if ranges is None and not rest and len(self._head) < _MAX_HEAD:
            return  # the program headers are not all here yet
        if not ranges:
            self.active = False
            return
        self._ranges = ranges
        head, self._head = bytes(self._head), bytearray()
        self._keep(0, head)
        if rest:
            self._keep(len(head), rest)

    def _keep(self, start: int, chunk: bytes) -> None:
        assert self._ranges is not None
        end = start + len(chunk)
        for low, high in self._ranges:
            a, b = max(low, start), min(high, end)
            if a >= b:
                continue
            if self._kept + (b - a) > MAX_DATA_BYTES:
                self.active = False
                return
            piece = chunk[a - start : b - start]
            if self._data and self._data[-1][0] + len(self._data[-1][1]) == a:
                self._data[-1][1].extend(piece)
            else:
                self._data.append((a, bytearray(piece)))
            self._kept += b - a

    def result(self) -> GoBuildInfo | None:
        if not self.active or self._ranges is None:
            return None
        for offset, data in self._data:
            view = bytes(data)
            pos = view.find(MAGIC)
            while pos != -1:
                if (offset + pos) % 16 == 0:
                    info = parse_buildinfo(view[pos:])
                    if info is not None:
                        return info
                pos = view.find(MAGIC, pos + 1)
        return None
