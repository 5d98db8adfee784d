"""Layers of hand-made ELF files for ``check``'s "will it run" tests.

A glibc layer holds the loader and ``libc.so.6`` of one architecture at their Debian
paths, as the ``libc6`` package (with its ``status.d`` entry and md5sums, so findings can
name the package that owns a file); programs need ``libc.so.6`` and glibc versions.  The
files are :mod:`tests.elf.tinyelf` fixtures: headers, dynamic sections and version
records, no code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from distroless.elf import LOADERS, Loader
from distroless.layers.entry import Entry
from tests.elf.tinyelf import TinyElf
from tests.verify.fakeimage import base_entries, package_entries

AMD64 = LOADERS["amd64"]
ARM64 = LOADERS["arm64"]
GLIBC_VERSIONS = ("GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.34", "GLIBC_2.36")
LIBC_VERSION = "2.36-9"


def libdir(loader: Loader = AMD64) -> str:
    return f"usr/lib/{loader.triplet}"


def elf(loader: Loader = AMD64, **fields: object) -> bytes:
    """An ELF of ``loader``'s machine; ``fields`` set :class:`TinyElf` attributes."""
    spec = TinyElf(bits=loader.bits, little=loader.little_endian, machine=loader.machine)
    for key, value in fields.items():
        setattr(spec, key, value)
    return spec.build()


def program(
    loader: Loader = AMD64,
    *,
    needed: Sequence[str] = ("libc.so.6",),
    versions: Sequence[str] = ("GLIBC_2.34",),
    weak: Sequence[str] = (),
    **fields: object,
) -> bytes:
    """A dynamically linked position-independent program."""
    needs = [(v, False) for v in versions] + [(v, True) for v in weak]
    return elf(
        loader,
        type=3,
        flags_1=0x08000000,
        interpreter=loader.interpreter,
        needed=tuple(needed),
        version_needs=[("libc.so.6", needs)] if needs and "libc.so.6" in needed else [],
        **fields,
    )


def static_program(loader: Loader = AMD64) -> bytes:
    return elf(loader, type=2, dynamic=False)


def library(soname: str, loader: Loader = AMD64, **fields: object) -> bytes:
    return elf(loader, soname=soname, **fields)


def glibc_layer(loader: Loader = AMD64, versions: Sequence[str] = GLIBC_VERSIONS) -> list[Entry]:
    """``libc6``: the loader at ``PT_INTERP`` (through ``/lib64`` or ``/lib``) and libc."""
    ld_name = loader.interpreter.rsplit("/", 1)[1]
    files = {
        f"{libdir(loader)}/{ld_name}": library(ld_name, loader, version_defs=[ld_name]),
        f"{libdir(loader)}/libc.so.6": library(
            "libc.so.6", loader, version_defs=["libc.so.6", *versions], needed=(ld_name,)
        ),
    }
    entries = [
        replace(e, mode=0o755) if e.path.endswith(ld_name) else e
        for e in package_entries("libc6", LIBC_VERSION, files, arch=loader.debian_arch)
    ]
    if loader.interpreter.startswith("/lib64/"):
        entries.append(Entry.symlink("lib64", "usr/lib64"))
        entries.append(Entry.symlink(f"usr/lib64/{ld_name}", f"../lib/{loader.triplet}/{ld_name}"))
    else:
        entries.append(Entry.symlink(f"usr{loader.interpreter}", f"{loader.triplet}/{ld_name}"))
    return entries


def base_layers(loader: Loader = AMD64) -> list[list[Entry]]:
    """What ``base`` holds in these tests: the common files and glibc."""
    return [base_entries(), glibc_layer(loader)]
