"""Rootless: a user who is not root runs the whole command as root of a user namespace.

The command re-executes itself once, at its start, through util-linux ``unshare``: a new
user namespace that maps the user to uid 0 and the user's first block of subordinate ids
(``/etc/subuid``, ``/etc/subgid``) to 1 and up, written by the set-uid helpers
``newuidmap``/``newgidmap`` (Debian package ``uidmap``), and a new mount namespace.  Inside
it everything the root code path does works unchanged and is confined to what the user
may do: unpacked layers are chowned to the ids the image names (uid 0 in the image is the
user on the host, 65532 a subordinate id), overlayfs mounts (the kernel allows them in a
user namespace since 5.11; with ``userxattr`` its markers live in ``user.overlay.*``),
runc sees euid 0 in a user namespace and uses its rootless cgroup manager, and a RUN
step's upper directory reads back with the ids the step saw, so its layer is the one a
root build writes.  Mounts vanish with the namespace when the command ends.

This is buildah's ``unshare`` model rather than rootlesskit's: one namespace for the
command, no daemon.  Nothing here runs as the host's root, and nothing the command writes
belongs to it.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

#: Set in the environment of the re-executed command: the host uid it runs for.
MARK = "_DISTROLESS_ROOTLESS_UID"
#: The ids an image uses in practice: root to ``nobody`` (65534) and ``nonroot`` (65532).
WANTED_IDS = 65536
SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")


@dataclass(frozen=True)
class IdRange:
    """One line of ``/etc/subuid`` or ``/etc/subgid``: ``count`` ids from ``start``."""

    start: int
    count: int


def subordinate_range(path: Path, name: str, ident: int) -> IdRange | None:
    """The first block ``path`` gives the user ``name`` (or its numeric id ``ident``)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (name, str(ident)):
            continue
        try:
            start, count = int(fields[1]), int(fields[2])
        except ValueError:
            continue
        if start > 0 and count > 0:
            return IdRange(start, count)
    return None


def rootless() -> bool:
    """Whether this process is the re-executed command of a user who is not root."""
    return bool(os.environ.get(MARK))


def runtime_state_root() -> Path | None:
    """Where runc keeps container state for a rootless command (None: runc's default).

    runc's own default, ``/run/runc``, belongs to the host's root; ``$XDG_RUNTIME_DIR`` is
    the user's own tmpfs, emptied at logout, as runc itself uses when rootless.
    """
    if not rootless():
        return None
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base) / "distroless" / "runc"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "distroless" / "runc"


#: sysctls that, at these values, refuse a user namespace to a user who is not root
_SYSCTLS = (
    ("user.max_user_namespaces", "0"),
    ("kernel.unprivileged_userns_clone", "0"),  # Debian's kernels before 5.10
    ("kernel.apparmor_restrict_unprivileged_userns", "1"),  # Ubuntu since 23.10
)


def _sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text(encoding="ascii").strip()
    except OSError:
        return None


def missing_setup(name: str, uid: int, gid: int) -> str | None:
    """Why this user cannot have a user namespace with subordinate ids (None: it can)."""
    for knob, off in _SYSCTLS:
        if _sysctl(knob) == off:
            return f"the kernel refuses user namespaces to users (sysctl {knob} = {off})"
    if shutil.which("unshare") is None:
        return "the unshare program is missing (Debian package util-linux)"
    if shutil.which("newuidmap") is None or shutil.which("newgidmap") is None:
        return "newuidmap/newgidmap are missing (Debian package uidmap)"
    for path, ident in ((SUBUID, uid), (SUBGID, gid)):
        if subordinate_range(path, name, ident) is None:
            return f"{path} gives {name} no subordinate ids (add a line {name}:START:65536)"
    return None


def reexec_argv(argv: list[str], name: str, uid: int, gid: int) -> list[str] | None:
    """The command line that re-runs ``argv`` in a user namespace, or None if it cannot.

    Ids above :data:`WANTED_IDS` are not mapped even when the block is larger, so the
    namespace is the same size on every machine that gives the user a normal block.
    """
    if missing_setup(name, uid, gid) is not None:
        return None
    users = subordinate_range(SUBUID, name, uid)
    groups = subordinate_range(SUBGID, name, gid)
    assert users is not None and groups is not None
    user_count = min(users.count, WANTED_IDS - 1)
    group_count = min(groups.count, WANTED_IDS - 1)
    return [
        "unshare", "--user", "--map-root-user",
        f"--map-users={users.start},1,{user_count}",
        f"--map-groups={groups.start},1,{group_count}",
        "--mount", "--propagation", "private", "--", *argv,
    ]  # fmt: skip


def enter() -> None:
    """Re-execute this command in its user namespace when run by a user who is not root.

    Returns (and the command runs as the plain user) when it is root, already inside,
    or the host gives the user no subordinate ids: commands that need no container still
    work, and those that do say what to set up (:func:`missing_setup`).
    """
    if os.geteuid() == 0 or rootless():
        return
    uid, gid = os.geteuid(), os.getegid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return
    import sys

    argv = reexec_argv([sys.executable, "-m", "distroless", *sys.argv[1:]], name, uid, gid)
    if argv is None:
        return
    unshare = shutil.which("unshare")
    assert unshare is not None
    env = dict(os.environ, **{MARK: str(uid)})
    os.execve(unshare, argv, env)  # noqa: S606 - a fixed program, not a shell line
