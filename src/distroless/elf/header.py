"""The ELF file header, read byte by byte as the dynamic loader reads it.

The loader decides from the first 64 bytes whether a file it found is a library it can
use, one to skip (another class or machine), or a fatal error (not ELF at all, the wrong
byte order).  Those verdicts must hold for any bytes, including garbage and truncated
files, so the header is decoded here with :mod:`struct` rather than by a parser that
rejects what it does not know.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ELF_MAGIC = b"\x7fELF"
EI_NIDENT = 16
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
EV_CURRENT = 1
ELFOSABI_SYSV = 0
ELFOSABI_GNU = 3
ELFOSABI_ARM_AEABI = 64

ET_REL = 1
ET_EXEC = 2
ET_DYN = 3
ET_CORE = 4
ET_NAMES = {
    0: "ET_NONE",
    ET_REL: "ET_REL",
    ET_EXEC: "ET_EXEC",
    ET_DYN: "ET_DYN",
    ET_CORE: "ET_CORE",
}

#: the rest of the header after ``e_ident``, up to ``e_phnum``
_REST32 = "HHIIIIIHHH"
_REST64 = "HHIQQQIHHH"
HEADER_BYTES = {ELFCLASS32: 52, ELFCLASS64: 64}
PHDR_BYTES = {ELFCLASS32: 32, ELFCLASS64: 56}


@dataclass(frozen=True)
class ElfHeader:
    """``e_ident`` and the fields of the header the loader checks (raw numbers)."""

    ei_class: int
    ei_data: int
    ei_version: int
    ei_osabi: int
    ei_abiversion: int
    ei_pad_zero: bool
    e_type: int
    e_machine: int
    e_version: int
    e_flags: int
    e_phentsize: int
    e_phnum: int

    @property
    def bits(self) -> int:
        """32 or 64 (0 for a class byte that is neither)."""
        return {ELFCLASS32: 32, ELFCLASS64: 64}.get(self.ei_class, 0)

    @property
    def little_endian(self) -> bool:
        return self.ei_data == ELFDATA2LSB

    @property
    def type_name(self) -> str:
        return ET_NAMES.get(self.e_type, f"ET_{self.e_type:#x}")


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def parse_header(data: bytes) -> ElfHeader | None:
    """The header at the start of ``data``; None when ``data`` is not (a whole) ELF header.

    A file with the magic but an unknown class or byte order still gets a header (the
    loader's verdict depends on which field is wrong); only a short or non-ELF file
    gives None.
    """
    if not is_elf(data) or len(data) < EI_NIDENT:
        return None
    ident = data[:EI_NIDENT]
    ei_class, ei_data = ident[4], ident[5]
    size = HEADER_BYTES.get(ei_class, 52)
    if len(data) < size:
        return None
    order = ">" if ei_data == ELFDATA2MSB else "<"
    rest = _REST64 if ei_class == ELFCLASS64 else _REST32
    (
        e_type,
        e_machine,
        e_version,
        _entry,
        _phoff,
        _shoff,
        e_flags,
        _ehsize,
        e_phentsize,
        e_phnum,
    ) = struct.unpack_from(order + rest, data, EI_NIDENT)
    return ElfHeader(
        ei_class=ei_class,
        ei_data=ei_data,
        ei_version=ident[6],
        ei_osabi=ident[7],
        ei_abiversion=ident[8],
        ei_pad_zero=not any(ident[9:]),
        e_type=e_type,
        e_machine=e_machine,
        e_version=e_version,
        e_flags=e_flags,
        e_phentsize=e_phentsize,
        e_phnum=e_phnum,
    )
