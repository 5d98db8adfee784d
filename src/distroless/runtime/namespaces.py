"""Whether this machine lets the command make the namespaces a sandbox needs.

A container started with the Docker engine's defaults runs as root but without
``CAP_SYS_ADMIN``, and its seccomp profile refuses ``unshare`` and ``clone`` with namespace
flags: runc cannot start a container there, and an overlay cannot be mounted.  The build
then runs its RUN steps with ``--isolation chroot`` (:mod:`distroless.runtime.chroot`), and
``run`` says in one line why it cannot work.  The answer is asked of the kernel itself, by
a child that tries to make a mount namespace, because neither capabilities nor the seccomp
profile can be read reliably from inside.
"""

from __future__ import annotations

import functools
import subprocess
import sys

#: CLONE_NEWNS from <sched.h>: the first namespace runc makes
_CLONE_NEWNS = 0x00020000
#: CAP_SYS_ADMIN's bit in the capability sets of /proc/self/status
_CAP_SYS_ADMIN = 21

_PROBE = f"""
import os, sys
try:
    os.unshare({_CLONE_NEWNS})
except AttributeError:
    import ctypes
    sys.exit(1 if ctypes.CDLL(None, use_errno=True).unshare({_CLONE_NEWNS}) else 0)
except OSError:
    sys.exit(1)
"""


@functools.cache
def namespaces_allowed() -> bool:
    """Whether a child of this process may make a mount namespace (asked once).

    A process holding ``CAP_SYS_ADMIN`` may (the host's root, or a rootless command in
    its own user namespace), so only one without it pays for the probe."""
    if has_sys_admin():
        return True
    try:
        probe = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


@functools.cache
def has_sys_admin() -> bool:
    """Whether this process holds ``CAP_SYS_ADMIN`` (needed for ``trusted.*`` attributes)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return True  # no /proc to ask: assume the host's root, as before
