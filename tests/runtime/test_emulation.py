"""Which platforms the host runs: binfmt_misc entries read as the kernel shows them.

The entries are small fakes in a directory laid out as ``/proc/sys/fs/binfmt_misc``; the
rules Debian's qemu-user-static ships (``/usr/lib/binfmt.d``) are the real data the probe
headers are checked against.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from distroless.errors import SandboxError
from distroless.oci.models import Platform
from distroless.runtime.emulation import (
    check_runnable,
    elf_probe,
    emulator,
    parse_entry,
    registered,
    runs_natively,
)

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
RULES = Path("/usr/lib/binfmt.d")

AARCH64_ENTRY = """\
enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: {flags}
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def _binfmt(tmp_path: Path, entries: dict[str, str], status: str = "enabled") -> Path:
    root = tmp_path / "binfmt_misc"
    root.mkdir()
    (root / "status").write_text(status + "\n")
    (root / "register").write_text("")
    for name, text in entries.items():
        (root / name).write_text(text)
    return root


def test_the_host_runs_its_own_platform_and_i386_on_amd64() -> None:
    assert runs_natively(AMD64, AMD64)
    assert runs_natively(Platform("linux", "386"), AMD64)
    assert not runs_natively(ARM64, AMD64)
    assert check_runnable(AMD64, AMD64, Path("/nonexistent")) is None


def test_a_registered_handler_with_the_f_flag_runs_arm64(tmp_path: Path) -> None:
    root = _binfmt(tmp_path, {"qemu-aarch64": AARCH64_ENTRY.format(flags="POCF")})
    found = check_runnable(ARM64, AMD64, root)
    assert found is not None and found.name == "qemu-aarch64"
    assert emulator(Platform("linux", "riscv64"), root) is None


@pytest.mark.parametrize(
    ("entries", "status", "expected"),
    [
        ({}, "enabled", "QEMU for aarch64 is not registered with binfmt_misc"),
        (
            {"qemu-aarch64": AARCH64_ENTRY.format(flags="PO")},
            "enabled",
            "its binfmt_misc handler qemu-aarch64 lacks the F flag",
        ),
        (
            {"qemu-aarch64": AARCH64_ENTRY.format(flags="F").replace("enabled", "disabled")},
            "enabled",
            "QEMU for aarch64 is not registered",
        ),
        ({"qemu-aarch64": AARCH64_ENTRY.format(flags="F")}, "disabled", "is not registered"),
    ],
)
def test_no_usable_handler_is_one_line_naming_qemu(
    tmp_path: Path, entries: dict[str, str], status: str, expected: str
) -> None:
    root = _binfmt(tmp_path, entries, status)
    with pytest.raises(SandboxError) as caught:
        check_runnable(ARM64, AMD64, root)
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("linux/arm64 programs need QEMU user emulation on this linux/amd64")
    assert expected in message
    assert "qemu-user-static" in message


def test_an_absent_binfmt_misc_registers_nothing(tmp_path: Path) -> None:
    assert registered(tmp_path / "missing") == []


def test_extension_entries_and_garbage_are_skipped(tmp_path: Path) -> None:
    root = _binfmt(
        tmp_path,
        {
            "python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \nextension .pyc\n",
            "broken": "enabled\nflags: F\noffset x\nmagic zz\n",
            "qemu-aarch64": AARCH64_ENTRY.format(flags="F"),
        },
    )
    assert [e.name for e in registered(root)] == ["qemu-aarch64"]


def _rule(path: Path) -> tuple[bytes, bytes, int]:
    """magic, mask and offset of a ``:name:M:offset:magic:mask:interpreter:flags`` rule."""
    fields = path.read_text().strip().split(":")

    def unescape(text: str) -> bytes:
        return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text).encode(
            "latin-1"
        )

    return unescape(fields[4]), unescape(fields[5]), int(fields[3] or 0)


@pytest.mark.parametrize(
    ("platform", "rule"),
    [
        ("linux/arm64", "aarch64"),
        ("linux/arm/v7", "arm"),
        ("linux/arm/v5", "arm"),
        ("linux/riscv64", "riscv64"),
        ("linux/ppc64le", "ppc64le"),
        ("linux/s390x", "s390x"),
        ("linux/mips64le", "mips64el"),
        ("linux/386", None),  # an amd64 kernel runs it: Debian ships no rule for it here
    ],
)
def test_the_probe_matches_debians_qemu_rule_for_it_and_no_other(
    platform: str, rule: str | None
) -> None:
    rules = sorted(RULES.glob("qemu-*.conf"))
    if not rules:
        pytest.skip("qemu-user-static's binfmt rules are not installed")
    probe = elf_probe(Platform.parse(platform))
    matching = []
    for path in rules:
        magic, mask, offset = _rule(path)
        text = f"enabled\nflags: F\noffset {offset}\nmagic {magic.hex()}\nmask {mask.hex()}\n"
        entry = parse_entry(path.stem, text)
        assert entry is not None, path
        if entry.matches(probe):
            matching.append(path.stem.removeprefix("qemu-"))
    assert matching == ([rule] if rule else [])
