"""Reading ELF files: what gcc builds, hand-made files of other machines, and damaged ones."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from hypothesis import given

from distroless.elf import MalformedElfError, read_elf
from distroless.elf.reader import read_elf_bytes
from tests.elf.support import gcc, require_gcc, shared
from tests.elf.tinyelf import TinyElf, elf_hash
from tests.fuzz.mutate import fuzz_settings, mutated_bytes, result_or_error

LIB = """
#include <netdb.h>
#include <pthread.h>
int f(void) { return 1; }
int g(void) { struct addrinfo *r; pthread_cancel(0); return getaddrinfo("h", 0, 0, &r); }
"""


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    require_gcc()
    script = tmp_path / "v.map"
    script.write_text("V1 { global: f; local: *; };\nV2 { global: g; } V1;\n")
    lib = shared(
        tmp_path / "libv.so.1",
        LIB,
        "libv.so.1",
        f"-Wl,--version-script={script}",
        "-Wl,-rpath,$ORIGIN/../lib:/opt/x",
        "-Wl,--disable-new-dtags",
    )
    prog = gcc(
        tmp_path / "prog",
        "int g(void);\nint main(void) { return g(); }\n",
        str(lib),
        "-Wl,-rpath,/opt/run",
        "-Wl,--enable-new-dtags",
    )
    return lib, prog


def test_what_gcc_builds(built: tuple[Path, Path]) -> None:
    lib, prog = built
    with lib.open("rb") as fh:
        info = read_elf(fh)
    assert (info.bits, info.little_endian, info.type, info.oci_platform) == (
        64,
        True,
        "ET_DYN",
        ("amd64", None),
    )
    assert info.interpreter is None
    assert info.soname == "libv.so.1"
    assert info.rpath == "$ORIGIN/../lib:/opt/x" and info.runpath is None
    assert "libc.so.6" in info.needed
    assert [d.name for d in info.version_defs] == ["libv.so.1", "V1", "V2"]
    assert info.version_defs[0].base and not info.version_defs[1].base
    assert {"getaddrinfo", "pthread_cancel"} <= set(info.imports)
    assert "f" not in info.imports and "g" not in info.imports
    with prog.open("rb") as fh:
        main = read_elf(fh)
    assert main.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert main.runpath == "/opt/run" and main.rpath is None
    assert main.needed[0] == "libv.so.1"
    versions = {(n.file, r.name) for n in main.version_needs for r in n.versions}
    assert ("libv.so.1", "V2") in versions
    assert any(file == "libc.so.6" and v.startswith("GLIBC_2.") for file, v in versions)


def test_agrees_with_readelf(built: tuple[Path, Path]) -> None:
    """binutils' readelf is an independent reader of the same dynamic section."""
    lib, _ = built
    out = subprocess.run(["readelf", "-W", "-d", str(lib)], capture_output=True, text=True).stdout
    needed = [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]
    with lib.open("rb") as fh:
        assert list(read_elf(fh).needed) == needed


@pytest.mark.parametrize(
    ("spec", "platform"),
    [
        (TinyElf(bits=64, little=True, machine=183), ("arm64", None)),
        (TinyElf(bits=64, little=False, machine=22), ("s390x", None)),
        (TinyElf(bits=64, little=True, machine=21, flags=2), ("ppc64le", None)),
        (TinyElf(bits=32, little=True, machine=40, flags=0x05000400), ("arm", "v7")),
        (TinyElf(bits=32, little=True, machine=40, flags=0x05000200), ("arm", "v5")),
        (TinyElf(bits=32, little=True, machine=3), ("386", None)),
        (TinyElf(bits=64, little=True, machine=243, flags=4), ("riscv64", None)),
        (TinyElf(bits=64, little=True, machine=8), ("mips64le", None)),
    ],
)
def test_other_machines_and_byte_orders(spec: TinyElf, platform: tuple[str, str | None]) -> None:
    spec.needed = ("libc.so.6",)
    spec.soname = "libt.so.1"
    spec.version_needs = [("libc.so.6", [("GLIBC_2.17", False), ("GLIBC_2.38", True)])]
    spec.version_defs = ["libt.so.1", "T_1"]
    spec.imports = ["iconv_open"]
    info = read_elf_bytes(spec.build())
    assert info.oci_platform == platform
    assert info.needed == ("libc.so.6",) and info.soname == "libt.so.1"
    need = info.version_needs[0]
    assert [(r.name, r.weak) for r in need.versions] == [
        ("GLIBC_2.17", False),
        ("GLIBC_2.38", True),
    ]
    assert [d.name for d in info.version_defs] == ["libt.so.1", "T_1"]
    assert info.imports == ("iconv_open",)


def test_a_program_without_dynamic_section() -> None:
    info = read_elf_bytes(TinyElf(type=2, dynamic=False, needed=()).build())
    assert not info.dynamic and info.needed == () and info.type == "ET_EXEC"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"#!/bin/sh\necho hi\n" * 8, "not an ELF file"),
        (b"\x7fELF\x02\x01", "file too short"),
        (b"\x7fELF\x07\x01\x01" + bytes(80), "unknown ELF class or byte order"),
    ],
)
def test_files_that_are_not_elf(data: bytes, message: str) -> None:
    with pytest.raises(MalformedElfError, match=message):
        read_elf(io.BytesIO(data))


def test_version_records_that_leave_the_file_are_refused() -> None:
    spec = TinyElf(needed=("libc.so.6",), version_needs=[("libc.so.6", [("GLIBC_2.17", False)])])
    data = bytearray(spec.build())
    info = read_elf_bytes(bytes(data))
    assert info.version_needs
    record = bytes(data).index(elf_hash("GLIBC_2.17").to_bytes(4, "little"))  # a Vernaux
    data[record + 12 : record + 16] = (0).to_bytes(4, "little")
    assert read_elf_bytes(bytes(data)).version_needs  # a zero link ends the list
    data[record + 12 : record + 16] = (0xFFFFFFF0).to_bytes(4, "little")
    with pytest.raises(MalformedElfError):
        read_elf_bytes(bytes(data))


SEEDS = [
    TinyElf(
        needed=("libc.so.6", "libm.so.6"),
        soname="libs.so.1",
        rpath="$ORIGIN",
        version_needs=[("libc.so.6", [("GLIBC_2.34", False)])],
        version_defs=["libs.so.1", "S_1"],
        imports=["getpwnam"],
        interpreter="/lib64/ld-linux-x86-64.so.2",
    ).build(),
    TinyElf(bits=32, little=False, machine=20, needed=("libc.so.6",), runpath="/r").build(),
]


@fuzz_settings(300)
@given(mutated_bytes(SEEDS))
def test_damaged_elf_files_give_one_error_or_facts(data: bytes) -> None:
    outcome = result_or_error(lambda: read_elf_bytes(data))
    if isinstance(outcome, Exception):
        assert isinstance(outcome, MalformedElfError)
