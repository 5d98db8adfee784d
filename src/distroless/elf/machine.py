"""Machines: OCI architecture names, and how Debian's glibc loader is built for each.

An ELF names its machine with ``e_machine``, its word size with the class and its byte
order with the data byte; ARM, RISC-V and POWER add the floating-point or call ABI in
``e_flags``.  :func:`oci_platform` turns that into the ``architecture``/``variant`` an
image config uses.  :class:`Loader` holds what glibc's ``ld.so`` for one Debian
architecture was compiled with: its path, the built-in library directories, the
expansion of ``$LIB`` and ``$PLATFORM``, the flags it accepts in ``ld.so.cache``, and the
test it applies to every library it opens (``elf_machine_matches_host``).

The values were read from glibc's sources (``sysdeps/*/dl-cache.h``, ``dl-machine.h``,
``libc-abis``) and checked against Debian's own ``ld.so`` (``ld.so --help`` lists the
system directories; the strings of the binary hold them and ``$LIB``).
"""

from __future__ import annotations

from dataclasses import dataclass

from distroless.elf.header import (
    ELFCLASS32,
    ELFCLASS64,
    ELFOSABI_ARM_AEABI,
    ELFOSABI_GNU,
    ELFOSABI_SYSV,
    ElfHeader,
)
from distroless.oci.arch import oci_of_debian

EM_386 = 3
EM_MIPS = 8
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_SPARCV9 = 43
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243
EM_LOONGARCH = 258
EM_S390_OLD = 0xA390

EF_ARM_ABI_FLOAT_SOFT = 0x200
EF_ARM_ABI_FLOAT_HARD = 0x400
EF_ARM_EABI_MASK = 0xFF000000
EF_ARM_EABI_VER5 = 0x05000000
EF_RISCV_FLOAT_ABI = 0x6
EF_RISCV_FLOAT_ABI_DOUBLE = 0x4
EF_PPC64_ABI = 0x3
EF_MIPS_ABI2 = 0x20

#: ``ld.so.cache`` entry flags (glibc's ``ldconfig.h``)
FLAG_ELF = 0x0001
FLAG_ELF_LIBC6 = 0x0003


def _arm_hard(flags: int) -> bool | None:
    """True for the hard-float ABI, False for soft, None when the object does not say."""
    if flags & EF_ARM_ABI_FLOAT_HARD:
        return True
    if flags & EF_ARM_ABI_FLOAT_SOFT:
        return False
    return None


def oci_platform(header: ElfHeader) -> tuple[str, str | None] | None:
    """The OCI ``(architecture, variant)`` of an ELF, None for one no image platform names."""
    machine, bits, little = header.e_machine, header.bits, header.little_endian
    if machine == EM_X86_64 and bits == 64:
        return "amd64", None
    if machine == EM_386:
        return "386", None
    if machine == EM_AARCH64 and bits == 64 and little:
        return "arm64", None
    if machine == EM_ARM and little:
        return "arm", ("v7" if _arm_hard(header.e_flags) else "v5")
    if machine == EM_PPC64:
        return ("ppc64le" if little else "ppc64"), None
    if machine == EM_PPC and not little:
        return "ppc", None
    if machine in (EM_S390, EM_S390_OLD):
        return ("s390x" if bits == 64 else "s390"), None
    if machine == EM_RISCV:
        return ("riscv64" if bits == 64 else "riscv32"), None
    if machine == EM_MIPS:
        base = "mips64" if bits == 64 else "mips"
        return (base + "le" if little else base), None
    if machine == EM_LOONGARCH and bits == 64:
        return "loong64", None
    if machine == EM_SPARCV9:
        return "sparc64", None
    return None


@dataclass(frozen=True)
class Loader:
    """Debian's glibc dynamic loader for one architecture, as compiled."""

    debian_arch: str
    oci_arch: str
    oci_variant: str | None
    ei_class: int
    little_endian: bool
    machine: int
    triplet: str
    interpreter: str
    #: ``_DL_CACHE_DEFAULT_ID``: a cache entry with these flags ends the search for a name
    cache_default: int
    #: ``_dl_cache_check_flags``: the cache entries this loader may use at all
    cache_flags: frozenset[int]
    #: ``AT_PLATFORM`` as the kernel (or glibc) usually sets it; the CPU decides for real
    at_platform: str | None
    #: ``LIBC_ABI_MAX``: an ``ELFOSABI_GNU`` object needs ``EI_ABIVERSION`` below it
    abi_max: int = 3
    #: the ARM float ABI (True hard, False soft), the RISC-V float ABI, or the POWER ABI
    flavor: int | bool | None = None

    @property
    def bits(self) -> int:
        return 64 if self.ei_class == ELFCLASS64 else 32

    @property
    def system_dirs(self) -> tuple[str, ...]:
        """The built-in search path (``SYSTEM_DIRS``), each with its trailing slash."""
        return (f"/lib/{self.triplet}/", f"/usr/lib/{self.triplet}/", "/lib/", "/usr/lib/")

    @property
    def dst_lib(self) -> str:
        """What ``$LIB`` expands to (``DL_DST_LIB``)."""
        return f"lib/{self.triplet}"

    def valid_osabi(self, header: ElfHeader) -> bool:
        allowed = {ELFOSABI_SYSV, ELFOSABI_GNU}
        if self.machine == EM_ARM:
            allowed.add(ELFOSABI_ARM_AEABI)
        return header.ei_osabi in allowed

    def valid_abiversion(self, header: ElfHeader) -> bool:
        version = header.ei_abiversion
        return version == 0 or (header.ei_osabi == ELFOSABI_GNU and version < self.abi_max)

    def valid_float_abi(self, header: ElfHeader) -> bool:
        """ARM's ``VALID_FLOAT_ABI``: part of the header check, so a failure is fatal."""
        if self.machine != EM_ARM or header.e_flags & EF_ARM_EABI_MASK != EF_ARM_EABI_VER5:
            return True
        refused = EF_ARM_ABI_FLOAT_SOFT if self.flavor else EF_ARM_ABI_FLOAT_HARD
        return not header.e_flags & refused

    def matches_machine(self, header: ElfHeader) -> bool:
        """``elf_machine_matches_host``: False means the loader skips the file."""
        machine, flags = header.e_machine, header.e_flags
        if self.machine == EM_S390:
            return machine in (EM_S390, EM_S390_OLD)
        if machine != self.machine:
            return False
        if self.machine == EM_RISCV:
            return flags & EF_RISCV_FLOAT_ABI == self.flavor
        if self.machine == EM_PPC64:
            return flags & EF_PPC64_ABI in (0, self.flavor)
        if self.machine == EM_MIPS and self.ei_class == ELFCLASS32:
            return not flags & EF_MIPS_ABI2  # n32 objects are not o32 ones
        return True


def _loader(
    debian: str,
    bits: int,
    little: bool,
    machine: int,
    triplet: str,
    interpreter: str,
    cache: tuple[int, frozenset[int]],
    platform: str | None,
    abi_max: int = 3,
    flavor: int | bool | None = None,
) -> Loader:
    oci = oci_of_debian(debian)
    return Loader(
        debian_arch=debian,
        oci_arch=oci[0],
        oci_variant=oci[1],
        ei_class=ELFCLASS64 if bits == 64 else ELFCLASS32,
        little_endian=little,
        machine=machine,
        triplet=triplet,
        interpreter=interpreter,
        cache_default=cache[0],
        cache_flags=cache[1],
        at_platform=platform,
        abi_max=abi_max,
        flavor=flavor,
    )


def _strict(flags: int) -> tuple[int, frozenset[int]]:
    return flags, frozenset({flags})


_GENERIC = (FLAG_ELF_LIBC6, frozenset({FLAG_ELF, FLAG_ELF_LIBC6}))

#: Debian's loaders by Debian architecture name
LOADERS: dict[str, Loader] = {
    loader.debian_arch: loader
    for loader in (
        _loader("amd64", 64, True, EM_X86_64, "x86_64-linux-gnu",
                "/lib64/ld-linux-x86-64.so.2", _strict(0x0303), "x86_64", abi_max=4),
        _loader("i386", 32, True, EM_386, "i386-linux-gnu",
                "/lib/ld-linux.so.2", _GENERIC, "i686", abi_max=4),
        _loader("arm64", 64, True, EM_AARCH64, "aarch64-linux-gnu",
                "/lib/ld-linux-aarch64.so.1", _strict(0x0A03), "aarch64"),
        _loader("armhf", 32, True, EM_ARM, "arm-linux-gnueabihf",
                "/lib/ld-linux-armhf.so.3", (FLAG_ELF_LIBC6, frozenset({0x0903, FLAG_ELF_LIBC6})),
                "v7l", flavor=True),
        _loader("armel", 32, True, EM_ARM, "arm-linux-gnueabi",
                "/lib/ld-linux.so.3", (FLAG_ELF_LIBC6, frozenset({0x0B03, FLAG_ELF_LIBC6})),
                "v5l", flavor=False),
        _loader("ppc64el", 64, True, EM_PPC64, "powerpc64le-linux-gnu",
                "/lib64/ld64.so.2", _strict(0x0503), "power8", abi_max=4, flavor=2),
        _loader("ppc64", 64, False, EM_PPC64, "powerpc64-linux-gnu",
                "/lib64/ld64.so.1", _strict(0x0503), "power5", abi_max=4, flavor=1),
        _loader("s390x", 64, False, EM_S390, "s390x-linux-gnu",
                "/lib/ld64.so.1", _strict(0x0403), "z13"),
        _loader("riscv64", 64, True, EM_RISCV, "riscv64-linux-gnu",
                "/lib/ld-linux-riscv64-lp64d.so.1", _strict(0x1003), None, abi_max=4,
                flavor=EF_RISCV_FLOAT_ABI_DOUBLE),
        _loader("mips64el", 64, True, EM_MIPS, "mips64el-linux-gnuabi64",
                "/lib64/ld.so.1", _strict(0x0703), None),
        _loader("loong64", 64, True, EM_LOONGARCH, "loongarch64-linux-gnu",
                "/lib64/ld-linux-loongarch-lp64d.so.1", _strict(0x1203), None),
    )
}  # fmt: skip


def loader_for(header: ElfHeader, interpreter: str | None = None) -> Loader | None:
    """The loader that runs ``header``'s object (its ``PT_INTERP`` breaks ties), or None."""
    candidates = [
        loader
        for loader in LOADERS.values()
        if loader.ei_class == header.ei_class
        and loader.little_endian == header.little_endian
        and (loader.machine == header.e_machine or loader.matches_machine(header))
    ]
    if len(candidates) > 1 and interpreter is not None:
        named = [
            c
            for c in candidates
            if c.interpreter.rsplit("/", 1)[-1] == interpreter.rsplit("/", 1)[-1]
        ]
        candidates = named or candidates
    if len(candidates) > 1:
        fitting = [c for c in candidates if c.matches_machine(header) and c.valid_float_abi(header)]
        candidates = fitting or candidates
    if len(candidates) > 1 and header.e_machine == EM_ARM:
        soft = [c for c in candidates if c.flavor is False]
        candidates = soft or candidates  # an unmarked ARM object is the older soft-float ABI
    return candidates[0] if candidates else None


def loader_for_arch(arch: str, variant: str | None = None) -> Loader | None:
    """The loader of an OCI ``architecture``/``variant`` (``arm`` without variant: ``v7``)."""
    matches = [loader for loader in LOADERS.values() if loader.oci_arch == arch]
    if len(matches) > 1:
        matches = [m for m in matches if m.oci_variant == (variant or "v7")] or matches
    return matches[0] if matches else None
