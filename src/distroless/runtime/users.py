"""Resolving ``-u USER[:GROUP]`` against the image's own ``/etc/passwd`` and ``/etc/group``.

Names mean what the image says they mean, never what the host says, so the files are read
from the container's root filesystem; parsing is pure so it is tested without a rootfs.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import SandboxError
from distroless.rootpath import SymlinkLoopError, host_path_in_root

_MAX_ID = 2**32 - 2

#: A passwd or group file larger than this is not one a container could mean seriously.
MAX_ACCOUNT_FILE = 4 << 20


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of a passwd file; malformed lines are skipped like libc's files backend."""
    out: list[PasswdEntry] = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or line.startswith("#"):
            continue
        uid, gid = _int_or_none(fields[2]), _int_or_none(fields[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(fields[0], uid, gid, fields[5] or "/"))
    return out


def parse_group(text: str) -> list[GroupEntry]:
    out: list[GroupEntry] = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 4 or line.startswith("#"):
            continue
        gid = _int_or_none(fields[2])
        if gid is None:
            continue
        members = tuple(m for m in fields[3].split(",") if m)
        out.append(GroupEntry(fields[0], gid, members))
    return out


def _check_id(value: int, spec: str) -> int:
    if value > _MAX_ID:
        raise SandboxError(f"user {spec!r}: id {value} is out of range")
    return value


def resolve_user(spec: str, passwd: str | None, group: str | None) -> ResolvedUser:
    """Docker's rules: ``name|uid[:group|gid]``; numeric ids need no passwd entry.

    Without a group the user's primary group from passwd is used (0 for an unknown
    numeric uid); supplementary groups are those listing the user's name as a member.
    A name that the image does not define is an error, as it is for docker.
    """
    users = parse_passwd(passwd or "")
    groups = parse_group(group or "")
    user_part, sep, group_part = (spec or "0").partition(":")
    if sep and not group_part:
        raise SandboxError(f"user {spec!r}: the group after ':' is empty")
    user_part = user_part or "0"

    entry: PasswdEntry | None = None
    if user_part.isdigit():
        uid = _check_id(int(user_part), spec)
        entry = next((u for u in users if u.uid == uid), None)
    else:
        entry = next((u for u in users if u.name == user_part), None)
        if entry is None:
            raise SandboxError(
                f"user {user_part!r} is not in the image's /etc/passwd; use a numeric uid"
            )
        uid = entry.uid

    if group_part:
        if group_part.isdigit():
            gid = _check_id(int(group_part), spec)
        else:
            found = next((g for g in groups if g.name == group_part), None)
            if found is None:
                raise SandboxError(
                    f"group {group_part!r} is not in the image's /etc/group; use a numeric gid"
                )
            gid = found.gid
    else:
        gid = entry.gid if entry is not None else 0

    extra: list[int] = []
    if entry is not None and not group_part:
        for g in groups:
            if entry.name in g.members and g.gid != gid and g.gid not in extra:
                extra.append(g.gid)
    home = entry.home if entry is not None else "/"
    return ResolvedUser(uid, gid, tuple(extra), home)


def read_image_file(rootfs: Path, path: str) -> str | None:
    """The text of ``path`` as the container will see it, or None when it is not a file.

    The name is resolved inside ``rootfs`` by the one resolver, so an image whose ``/etc``
    links to ``/etc`` (or whose ``/etc/passwd`` links to an absolute ``/etc/passwd``)
    still names its own file, never the host's; the last component is opened without
    following links, as the resolver has already followed them inside the root.
    """
    try:
        host = host_path_in_root(rootfs, path)
    except SymlinkLoopError:
        return None
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ACCOUNT_FILE:
            return None
        return fh.read(MAX_ACCOUNT_FILE).decode("utf-8", errors="replace")


def resolve_user_in(rootfs: Path, spec: str) -> ResolvedUser:
    """:func:`resolve_user` with the passwd and group files of ``rootfs``."""
    return resolve_user(
        spec, read_image_file(rootfs, "/etc/passwd"), read_image_file(rootfs, "/etc/group")
    )
