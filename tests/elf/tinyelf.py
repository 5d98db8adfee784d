"""A writer of tiny ELF files, for fixtures of any machine, class and byte order.

The files hold exactly what the loader reads before it maps code: the ELF header, program
headers (one ``PT_LOAD`` over the whole file at address 0, ``PT_DYNAMIC``, an optional
``PT_INTERP``), the dynamic section, its string table, ``DT_HASH`` and ``DT_SYMTAB`` (the
imported and exported symbols) and the version records.  They contain no code, so they
never run; they stand for libraries of machines this host cannot execute.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from distroless.elf.header import ET_DYN
from distroless.elf.machine import EM_S390

DT = {
    "NULL": 0, "NEEDED": 1, "HASH": 4, "STRTAB": 5, "SYMTAB": 6, "STRSZ": 10, "SYMENT": 11,
    "SONAME": 14, "RPATH": 15, "RUNPATH": 29, "FLAGS_1": 0x6FFFFFFB, "VERDEF": 0x6FFFFFFC,
    "VERDEFNUM": 0x6FFFFFFD, "VERNEED": 0x6FFFFFFE, "VERNEEDNUM": 0x6FFFFFFF,
}  # fmt: skip
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3


def elf_hash(name: str) -> int:
    """The System V ABI hash of a symbol or version name."""
    h = 0
    for byte in name.encode():
        h = ((h << 4) + byte) & 0xFFFFFFFF
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


@dataclass
class TinyElf:
    """What to write; the defaults make an x86-64 shared library."""

    bits: int = 64
    little: bool = True
    machine: int = 62
    flags: int = 0
    type: int = ET_DYN
    osabi: int = 0
    interpreter: str | None = None
    needed: Sequence[str] = ()
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    flags_1: int = 0
    #: (file, [(version, weak)]) needed
    version_needs: Sequence[tuple[str, Sequence[tuple[str, bool]]]] = ()
    #: versions defined (the first is the base, named after the soname)
    version_defs: Sequence[str] = ()
    imports: Sequence[str] = ()
    exports: Sequence[str] = ()
    dynamic: bool = True
    extra: dict[str, int] = field(default_factory=dict)

    def build(self) -> bytes:
        return _write(self)


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.data)
            self.data += text.encode() + b"\0"
        return self.index[text]


def _write(spec: TinyElf) -> bytes:
    o = "<" if spec.little else ">"
    wide = spec.bits == 64
    addr = "Q" if wide else "I"
    ehdr_size, phdr_size = (64, 56) if wide else (52, 32)
    dyn = o + ("qQ" if wide else "iI")
    sym_size = 24 if wide else 16
    strings = _Strings()
    for text in (*spec.needed, spec.soname, spec.rpath, spec.runpath, *spec.imports, *spec.exports):
        if text:
            strings.add(text)
    for file, versions in spec.version_needs:
        strings.add(file)
        for version, _weak in versions:
            strings.add(version)
    for version in spec.version_defs:
        strings.add(version)

    nphdr = 3 if spec.interpreter else 2
    base = ehdr_size + nphdr * phdr_size
    body = bytearray()

    def place(data: bytes, align: int = 8) -> int:
        body.extend(b"\0" * (-(base + len(body)) % align))
        at = base + len(body)
        body.extend(data)
        return at

    interp_at = place(spec.interpreter.encode() + b"\0", 1) if spec.interpreter else 0
    strtab_at = place(bytes(strings.data), 1)

    verneed = bytearray()
    for i, (file, versions) in enumerate(spec.version_needs):
        aux = bytearray()
        for j, (version, weak) in enumerate(versions):
            nxt = 16 if j + 1 < len(versions) else 0
            aux += struct.pack(
                o + "IHHII", elf_hash(version), 2 if weak else 0, 2 + j, strings.add(version), nxt
            )
        size = 16 + len(aux)
        nxt = size if i + 1 < len(spec.version_needs) else 0
        verneed += struct.pack(o + "HHIII", 1, len(versions), strings.add(file), 16, nxt) + aux
    verneed_at = place(bytes(verneed)) if verneed else 0

    verdef = bytearray()
    for i, version in enumerate(spec.version_defs):
        nxt = 28 if i + 1 < len(spec.version_defs) else 0
        verdef += struct.pack(
            o + "HHHHIII", 1, 1 if i == 0 else 0, i + 1, 1, elf_hash(version), 20, nxt
        )
        verdef += struct.pack(o + "II", strings.add(version), 0)
    verdef_at = place(bytes(verdef)) if verdef else 0

    symbols = [("", 0), *((n, 0) for n in spec.imports), *((n, 1) for n in spec.exports)]
    symtab = bytearray()
    for name, defined in symbols:
        info = (1 << 4) | 2 if name else 0  # STB_GLOBAL, STT_FUNC
        shndx = 7 if defined else 0
        if wide:
            symtab += struct.pack(o + "IBBHQQ", strings.add(name), info, 0, shndx, 0, 0)
        else:
            symtab += struct.pack(o + "IIIBBH", strings.add(name), 0, 0, info, 0, shndx)
    symtab_at = place(bytes(symtab))
    hash_word = "Q" if wide and spec.machine == EM_S390 else "I"
    hashtab = struct.pack(
        f"{o}{2 + 1 + len(symbols)}{hash_word}", 1, len(symbols), 0, *([0] * len(symbols))
    )
    hash_at = place(hashtab)

    tags: list[tuple[int, int]] = [(DT["NEEDED"], strings.add(n)) for n in spec.needed]
    for key, value in (("SONAME", spec.soname), ("RPATH", spec.rpath), ("RUNPATH", spec.runpath)):
        if value is not None:
            tags.append((DT[key], strings.add(value)))
    tags += [(DT["STRTAB"], strtab_at), (DT["STRSZ"], len(strings.data)), (DT["SYMTAB"], symtab_at),
             (DT["SYMENT"], sym_size), (DT["HASH"], hash_at)]  # fmt: skip
    if spec.flags_1:
        tags.append((DT["FLAGS_1"], spec.flags_1))
    if verneed:
        tags += [(DT["VERNEED"], verneed_at), (DT["VERNEEDNUM"], len(spec.version_needs))]
    if verdef:
        tags += [(DT["VERDEF"], verdef_at), (DT["VERDEFNUM"], len(spec.version_defs))]
    tags += [(DT[k], v) for k, v in spec.extra.items()]
    tags.append((DT["NULL"], 0))
    dynamic = b"".join(struct.pack(dyn, tag, value) for tag, value in tags)
    dynamic_at = place(dynamic)
    total = base + len(body)

    ident = (
        b"\x7fELF" + bytes([2 if wide else 1, 1 if spec.little else 2, 1, spec.osabi]) + bytes(8)
    )
    ehdr = ident + struct.pack(
        f"{o}HHI{addr}{addr}{addr}IHHHHHH",
        spec.type,
        spec.machine,
        1,
        0,
        ehdr_size,
        0,
        spec.flags,
        ehdr_size,
        phdr_size,
        nphdr,
        0,
        0,
        0,
    )

    def phdr(kind: int, at: int, size: int) -> bytes:
        if wide:
            return struct.pack(o + "IIQQQQQQ", kind, 4, at, at, at, size, size, 8)
        return struct.pack(o + "IIIIIIII", kind, at, at, at, size, size, 4, 4)

    phdrs = phdr(PT_LOAD, 0, total)
    phdrs += phdr(PT_DYNAMIC if spec.dynamic else 6, dynamic_at, len(dynamic))  # 6: PT_PHDR
    if spec.interpreter:
        phdrs += phdr(PT_INTERP, interp_at, len(spec.interpreter) + 1)
    return ehdr + phdrs + bytes(body)
