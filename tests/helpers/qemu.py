"""QEMU user emulation for the tests that run other architectures' programs.

Debian's qemu-user-static ships one binfmt_misc rule per architecture under
/usr/lib/binfmt.d; the kernel only honours a rule once it is written to
/proc/sys/fs/binfmt_misc/register.  A fresh CI machine has the package (the Makefile
installs it) but nothing registered, so the tests register the rules they need, with the
rule's own ``F`` flag (the interpreter is opened at registration, which is what lets a
container without /usr/libexec/qemu-binfmt use it), and remove what they added afterwards.

The rules are the host's, shared by every test process (the suite runs in several workers):
a test that changes or relies on them holds :func:`binfmt_lock` for as long as it does.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.require import require, require_root, require_tool

BINFMT = Path("/proc/sys/fs/binfmt_misc")
RULES = Path("/usr/lib/binfmt.d")
LOCK = Path("/run/lock/distroless-tests-binfmt.lock")


def _mounted() -> bool:
    if (BINFMT / "register").exists():
        return True
    subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
    return (BINFMT / "register").exists()


@contextmanager
def binfmt_lock() -> Iterator[None]:
    """Hold the host's binfmt_misc rules still against other test processes."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def qemu_registered(names: tuple[str, ...]) -> Iterator[None]:
    """Make ``qemu-<name>`` rules active for the duration, registering missing ones."""
    require_root()
    require(_mounted(), "binfmt_misc cannot be mounted here")
    added: list[str] = []
    with binfmt_lock():
        try:
            for name in names:
                rule = RULES / f"qemu-{name}.conf"
                require(rule.is_file(), f"{rule} is missing (Debian's qemu-user-static)")
                if (BINFMT / f"qemu-{name}").exists():
                    continue
                (BINFMT / "register").write_text(rule.read_text().strip())
                added.append(name)
            yield
        finally:
            for name in added:
                (BINFMT / f"qemu-{name}").write_text("-1")


def without_binfmt(argv: Sequence[str]) -> list[str]:
    """``argv`` run in a mount namespace of its own whose binfmt_misc shows no handler.

    That is how a host without QEMU registered looks to the tool, whatever this host has
    registered; the kernel's handlers stay as they are, so tests running beside this one
    that use them are not disturbed.
    """
    require_root()
    require_tool("unshare")
    script = f'mount -t tmpfs none {BINFMT} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]
