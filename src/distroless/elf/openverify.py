"""Whether the loader can use a file it found: ``open_verify`` of glibc's ``dl-load.c``.

The verdict comes from the ELF header alone and has three outcomes.  A file of the other
ELF class or of another machine is *skipped*: the search goes on, as on a multilib system
where both kinds sit in one directory.  Anything else that is wrong -- not ELF at all, too
short, the other byte order, an unknown OS ABI, an ARM float ABI the loader refuses, an
object type it cannot map -- is *fatal*: the loader reports it and the program does not
start, since it means a broken installation rather than a choice between candidates.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import BinaryIO

from distroless.elf.header import (
    ELF_MAGIC,
    ELFCLASS64,
    ELFDATA2LSB,
    ELFDATA2MSB,
    ET_DYN,
    ET_EXEC,
    EV_CURRENT,
    HEADER_BYTES,
    PHDR_BYTES,
    ElfHeader,
    parse_header,
)
from distroless.elf.machine import Loader
from distroless.elf.reader import ElfInfo, MalformedElfError, read_elf


@dataclass
class Parsed:
    """What reading one file gave: its size, first bytes, header and facts, or the failure."""

    size: int
    head: bytes
    header: ElfHeader | None
    info: ElfInfo | None
    error: str | None
    #: the file could not be opened or read at all (the loader goes on searching)
    unreadable: bool = False


def parse_file(stream: BinaryIO) -> Parsed:
    """Read a seekable stream once: header verdict material and, when possible, the facts."""
    stream.seek(0)
    head = stream.read(64)
    size = stream.seek(0, os.SEEK_END)
    header = parse_header(head)
    try:
        info = read_elf(stream)
    except MalformedElfError as exc:
        return Parsed(size, head, header, None, str(exc))
    return Parsed(size, head, header, info, None)


class Verdict(enum.Enum):
    OK = "ok"
    SKIP = "skip"
    FATAL = "fatal"


def check_candidate(loader: Loader, parsed: Parsed) -> tuple[Verdict, str]:
    """The loader's verdict on a file, with the loader's own words for a refusal."""
    if parsed.size < HEADER_BYTES[loader.ei_class]:
        return Verdict.FATAL, "file too short"
    header = parsed.header
    if parsed.head[:4] != ELF_MAGIC or header is None:
        return Verdict.FATAL, "invalid ELF header"
    byteorder = ELFDATA2LSB if loader.little_endian else ELFDATA2MSB
    ident_ok = (
        header.ei_class == loader.ei_class
        and header.ei_data == byteorder
        and header.ei_version == EV_CURRENT
        and loader.valid_osabi(header)
        and loader.valid_abiversion(header)
        and header.ei_pad_zero
        and loader.valid_float_abi(header)
    )
    if not ident_ok:
        # the same order of diagnosis as glibc: only the class is not fatal
        if header.ei_class != loader.ei_class:
            other = "ELFCLASS64" if header.ei_class == ELFCLASS64 else "ELFCLASS32"
            return Verdict.SKIP, f"wrong ELF class: {other}"
        if header.ei_data != byteorder:
            order = "little" if loader.little_endian else "big"
            return Verdict.FATAL, f"ELF file data encoding not {order}-endian"
        if header.ei_version != EV_CURRENT:
            return Verdict.FATAL, "ELF file version ident does not match current one"
        if not loader.valid_osabi(header):
            return Verdict.FATAL, "ELF file OS ABI invalid"
        if not loader.valid_abiversion(header):
            return Verdict.FATAL, "ELF file ABI version invalid"
        if not header.ei_pad_zero:
            return Verdict.FATAL, "nonzero padding in e_ident"
        return Verdict.FATAL, "internal error"  # glibc's words for a refused ARM float ABI
    if header.e_version != EV_CURRENT:
        return Verdict.FATAL, "ELF file version does not match current one"
    if not loader.matches_machine(header):
        arch = parsed.info.oci_platform if parsed.info else None
        label = f" ({arch[0]})" if arch else ""
        return Verdict.SKIP, f"wrong machine {header.e_machine}{label}"
    if header.e_type not in (ET_DYN, ET_EXEC):
        return Verdict.FATAL, "only ET_DYN and ET_EXEC can be loaded"
    if header.e_phentsize != PHDR_BYTES[loader.ei_class]:
        return Verdict.FATAL, "ELF file's phentsize not the expected size"
    if parsed.info is None:
        return Verdict.FATAL, parsed.error or "malformed ELF"
    return Verdict.OK, ""
