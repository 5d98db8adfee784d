"""The one resolver of untrusted names inside a root.

Build contexts, layers, image file systems, archives and container roots all hold names and
symlinks written by someone we do not trust.  Whenever such a name becomes a host path (or a
lookup in an image), it is resolved here, the way a container sees its own root: an
absolute link target starts again at the root, ``..`` never climbs above it, and a chain of
links longer than :data:`MAX_SYMLINK_HOPS` is refused, as the kernel refuses it with
``ELOOP``.  The walk knows nothing about where the names live: the caller supplies a
``readlink`` callback that says whether one already-resolved path is a symlink (and may
refuse a path, or create a missing directory, while it looks).  That keeps one algorithm
for real directories, overlay layer stacks, tar member tables and flattened image views.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from distroless.errors import DistrolessError

#: the kernel's own limit on links followed while resolving one path (``MAXSYMLINKS``)
MAX_SYMLINK_HOPS = 40

#: Given a path relative to the root whose parents are already resolved (``"a/b"``, never
#: with a leading slash), the target of the symlink there, or ``None`` when it is anything
#: else or missing.
ReadLink = Callable[[str], str | None]


class SymlinkLoopError(DistrolessError):
    """More links than :data:`MAX_SYMLINK_HOPS` were met resolving one path.

    Callers catch it and raise the error of their own family (a build, archive or sandbox
    error) naming what they were resolving.
    """

    def __init__(self, path: str) -> None:
        super().__init__(f"too many symbolic links resolving {path!r}")
        self.path = path


def split_path(path: str) -> list[str]:
    """The components of ``path`` without empty and ``.`` parts (``..`` is kept)."""
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve_in_root(
    path: str,
    readlink: ReadLink,
    *,
    follow_last: bool = True,
    max_hops: int = MAX_SYMLINK_HOPS,
) -> str:
    """``path`` with every symlink resolved inside the root, as a root-relative path.

    The result has no leading slash (``""`` is the root itself) and contains no ``..``, so
    joining it to the root's host path can never leave the root.  Missing components are
    kept as they are (the tail of a path that does not exist yet).  With ``follow_last``
    off, a symlink in the last position is returned as itself (``lstat`` semantics).
    """
    pending = split_path(path)
    pending.reverse()  # a stack: the next component is at the end
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = "/".join([*resolved, part])
        target = readlink(candidate) if (pending or follow_last) else None
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > max_hops:
            raise SymlinkLoopError(path)
        if target.startswith("/"):
            resolved = []
        pending.extend(reversed(split_path(target)))
    return "/".join(resolved)


def host_readlink(root: Path) -> ReadLink:
    """A :data:`ReadLink` over a real directory tree rooted at ``root`` (``lstat`` only)."""

    def readlink(rel: str) -> str | None:
        host = os.path.join(root, rel)
        try:
            st = os.lstat(host)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISLNK(st.st_mode):
            return None
        return os.readlink(host)

    return readlink


def host_path_in_root(root: Path, path: str, *, follow_last: bool = True) -> Path:
    """The host path that ``path`` names inside the real directory ``root``.

    Symlinks under ``root`` are resolved inside it, never on the host: a link to
    ``/etc/shadow`` in a build context means ``<root>/etc/shadow``.
    """
    rel = resolve_in_root(path, host_readlink(root), follow_last=follow_last)
    return root / rel if rel else root
