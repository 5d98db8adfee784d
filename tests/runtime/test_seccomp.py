"""The seccomp profile as data: every system call is classified once, the rules hold."""

from __future__ import annotations

import errno
import re
from collections import Counter
from pathlib import Path

import pytest

from distroless.runtime.seccomp import (
    ALLOWED,
    BLOCKED,
    CONDITIONAL,
    NAMESPACE_FLAGS,
    allowed_names,
    blocked_names,
    profile,
)

HEADERS = [
    Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    Path("/usr/include/x86_64-linux-gnu/asm/unistd_32.h"),
    Path("/usr/include/asm-generic/unistd.h"),
]


def _classified() -> list[str]:
    return [n for group in (*ALLOWED, *BLOCKED, CONDITIONAL) for n in group.names]


def test_no_system_call_is_in_two_groups() -> None:
    assert [n for n, count in Counter(_classified()).items() if count > 1] == []


def test_every_group_says_why() -> None:
    assert all(len(group.why) > 10 for group in (*ALLOWED, *BLOCKED, CONDITIONAL))


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_every_system_call_of_the_kernel_headers_is_classified(header: Path) -> None:
    if not header.is_file():
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    names = set(re.findall(r"#define __NR3?2?_([a-z0-9_]+)\s", header.read_text()))
    names -= {"arch_specific_syscall", "syscalls", "llseek"}  # macros, not calls
    assert sorted(names - set(_classified())) == []


def test_the_attack_surface_is_blocked() -> None:
    blocked = blocked_names()
    for name in ("mount", "setns", "bpf", "keyctl", "userfaultfd", "io_uring_setup",
                 "open_by_handle_at", "kexec_load", "init_module", "perf_event_open"):  # fmt: skip
        assert name in blocked
    assert not blocked & allowed_names()


def test_profile_allows_clone_only_without_namespace_flags() -> None:
    doc = profile("x86_64")
    assert doc["defaultAction"] == "SCMP_ACT_ERRNO"
    assert doc["defaultErrnoRet"] == errno.EPERM
    assert doc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    rules = {tuple(r["names"]): r for r in doc["syscalls"]}
    for name in ("clone", "unshare"):
        (arg,) = rules[(name,)]["args"]
        assert arg == {"index": 0, "value": NAMESPACE_FLAGS, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}  # fmt: skip
    assert NAMESPACE_FLAGS & 0x10000000  # CLONE_NEWUSER
    assert rules[("clone3",)]["errnoRet"] == errno.ENOSYS
    unconditional = next(r for r in doc["syscalls"] if "read" in r["names"])
    assert "clone" not in unconditional["names"] and "mount" not in unconditional["names"]
    s390 = {tuple(r["names"]): r for r in profile("s390x")["syscalls"]}
    assert s390[("clone",)]["args"][0]["index"] == 1
