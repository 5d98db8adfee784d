"""Which platforms this host can run programs of: natively, or under QEMU user emulation.

The kernel runs a program of another architecture when binfmt_misc has a handler whose
magic matches the program's ELF header; Debian's ``qemu-user-static`` (with
``binfmt-support``) registers one per architecture under ``/proc/sys/fs/binfmt_misc``.
Inside a container the handler only works when it was registered with the ``F`` flag:
the kernel then opened the interpreter at registration, so it need not exist in the
container's root (a distroless image has no ``/usr/libexec/qemu-binfmt``).

This is the one place that answers "can this host run architecture X": a RUN step of a
foreign stage asks before it starts a sandbox, and ``distroless run --platform`` asks
before it starts a container.  The answer is read from the entries themselves (enabled,
flags, magic and mask against an ELF header of that architecture), not from their names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import InputError, SandboxError
from distroless.oci.models import Platform

BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")

#: architectures a host kernel runs without help (an amd64 kernel runs i386 programs)
_NATIVE: dict[str, frozenset[str]] = {"amd64": frozenset({"amd64", "386"})}

#: QEMU's name for each OCI architecture (``qemu-<name>``), for the messages
QEMU_NAMES = {
    "amd64": "x86_64",
    "386": "i386",
    "arm64": "aarch64",
    "arm": "arm",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "loong64": "loongarch64",
}


@dataclass(frozen=True)
class BinfmtEntry:
    """One registered binfmt_misc handler of the magic kind (extension handlers are skipped)."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int
    magic: bytes
    mask: bytes

    def matches(self, header: bytes) -> bool:
        """Whether the kernel would hand a file starting with ``header`` to this handler."""
        end = self.offset + len(self.magic)
        if len(header) < end:
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        window = header[self.offset : end]
        return all(b & m == x & m for b, m, x in zip(window, mask, self.magic, strict=True))


def parse_entry(name: str, text: str) -> BinfmtEntry | None:
    """An entry as ``/proc/sys/fs/binfmt_misc/NAME`` shows it; None for one without magic."""
    enabled = False
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line in ("enabled", "disabled"):
            enabled = line == "enabled"
            continue
        key, _, value = line.partition(" ")
        fields[key.rstrip(":")] = value.strip()
    if "magic" not in fields:
        return None
    try:
        magic = bytes.fromhex(fields["magic"])
        mask = bytes.fromhex(fields.get("mask", ""))
        offset = int(fields.get("offset", "0"))
    except ValueError:
        return None
    if mask and len(mask) != len(magic):
        return None
    return BinfmtEntry(
        name=name,
        enabled=enabled,
        interpreter=fields.get("interpreter", ""),
        flags=fields.get("flags", ""),
        offset=offset,
        magic=magic,
        mask=mask,
    )


def registered(binfmt_dir: Path = BINFMT_MISC) -> list[BinfmtEntry]:
    """The enabled magic handlers; none when binfmt_misc is off or not mounted."""
    try:
        if (binfmt_dir / "status").read_text().strip() != "enabled":
            return []
        names = sorted(p.name for p in binfmt_dir.iterdir())
    except OSError:
        return []
    entries = []
    for name in names:
        if name in ("register", "status"):
            continue
        try:
            entry = parse_entry(name, (binfmt_dir / name).read_text())
        except (OSError, UnicodeDecodeError):
            continue
        if entry is not None and entry.enabled:
            entries.append(entry)
    return entries


def elf_probe(platform: Platform) -> bytes:
    """The header of a minimal executable for ``platform``: what handlers' magic is tested on."""
    # the ELF package loads only for a foreign platform: a native build never needs it
    from distroless.elf.header import ELF_MAGIC, ELFCLASS64, ELFDATA2LSB, ELFDATA2MSB, ET_EXEC
    from distroless.elf.machine import LOADERS

    try:
        debian = platform.debian_arch()
    except InputError:
        raise SandboxError(f"no program format is known for the platform {platform}") from None
    loader = LOADERS[debian]
    data = ELFDATA2LSB if loader.little_endian else ELFDATA2MSB
    order = "<" if loader.little_endian else ">"
    ident = ELF_MAGIC + bytes([loader.ei_class, data, 1]) + bytes(9)
    flags = {"armhf": 0x05000400, "armel": 0x05000200}.get(debian, 0)
    if loader.ei_class == ELFCLASS64:
        rest = struct.pack(order + "HHIQQQIHHHHHH", ET_EXEC, loader.machine, 1, 0, 64, 0,
                           flags, 64, 56, 0, 64, 0, 0)  # fmt: skip
    else:
        rest = struct.pack(order + "HHIIIIIHHHHHH", ET_EXEC, loader.machine, 1, 0, 52, 0,
                           flags, 52, 32, 0, 40, 0, 0)  # fmt: skip
    return ident + rest


def runs_natively(platform: Platform, host: Platform | None = None) -> bool:
    host = host or Platform.host()
    if platform.architecture == host.architecture:
        return True
    return platform.architecture in _NATIVE.get(host.architecture, frozenset())


def emulator(platform: Platform, binfmt_dir: Path = BINFMT_MISC) -> BinfmtEntry | None:
    """The handler that runs ``platform``'s programs inside a container, if one is registered."""
    probe = elf_probe(platform)
    for entry in registered(binfmt_dir):
        if "F" in entry.flags and entry.matches(probe):
            return entry
    return None


def check_runnable(
    platform: Platform, host: Platform | None = None, binfmt_dir: Path = BINFMT_MISC
) -> BinfmtEntry | None:
    """Refuse, in one line, a platform this host cannot run; the emulator that will run it
    (None when it runs natively)."""
    host = host or Platform.host()
    if runs_natively(platform, host):
        return None
    found = emulator(platform, binfmt_dir)
    if found is not None:
        return found
    qemu = QEMU_NAMES.get(platform.architecture, platform.architecture)
    probe = elf_probe(platform)
    unfixed = [e.name for e in registered(binfmt_dir) if e.matches(probe) and "F" not in e.flags]
    why = (
        f"its binfmt_misc handler {unfixed[0]} lacks the F flag, which containers need"
        if unfixed
        else f"QEMU for {qemu} is not registered with binfmt_misc"
    )
    raise SandboxError(
        f"{platform} programs need QEMU user emulation on this {host} host, but {why} "
        "(install qemu-user-static and binfmt-support)"
    )
