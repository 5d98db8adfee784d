"""What the ELF resolver needs from an image: a read-only file tree it can look into.

The resolver runs over a flattened image (the layers never unpacked to disk), over a real
directory (a builder's rootfs, the host, a test fixture) and over anything else that can
answer four questions: is this name a symlink and to what, what kind of file is here,
what does this directory hold, and what are this file's bytes.  Symlinks are followed
only by :func:`resolve`, which hands the walk to :func:`distroless.rootpath.resolve_in_root`
so that an image's links can never name anything outside the image.

Every path a view receives is absolute and already canonical (no symlink anywhere in it,
no ``..``): views never walk links themselves.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from distroless.rootpath import SymlinkLoopError, resolve_in_root


class FileKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"  # devices, fifos, sockets: never a library


@dataclass(frozen=True)
class FileStat:
    """``lstat`` of one canonical path.

    ``identity`` is equal for two paths exactly when they are the same file (hard links,
    or a name reached twice): the loader loads one object per file, not per name.
    """

    kind: FileKind
    mode: int
    size: int
    identity: Hashable


class ImageView(Protocol):
    """A read-only file tree; every path argument is absolute and canonical."""

    def readlink(self, rel: str) -> str | None:
        """The target of the symlink at root-relative ``rel`` (no leading slash), else None.

        This is :data:`distroless.rootpath.ReadLink`: ``rel``'s parents are resolved.
        """
        ...

    def stat(self, path: str) -> FileStat | None:
        """``lstat`` of ``path``; None when nothing is there."""
        ...

    def listdir(self, path: str) -> list[str]:
        """The names in directory ``path``, sorted; empty when it is no directory."""
        ...

    def open(self, path: str) -> AbstractContextManager[BinaryIO]:
        """The bytes of regular file ``path`` as a seekable stream (pyelftools seeks)."""
        ...

    def open_many(self, paths: Sequence[str]) -> Iterator[tuple[str, BinaryIO]]:
        """Each regular file of ``paths`` with a seekable stream, in any order.

        A stream is valid until the next item is requested.  Views over layer blobs read
        each layer once for the whole batch instead of once per file.
        """
        ...


def resolve(view: ImageView, path: str, *, follow_last: bool = True, cwd: str = "/") -> str:
    """The canonical absolute path ``path`` names inside the image.

    A relative ``path`` starts at ``cwd`` (the process's working directory).  Missing
    components are kept, so the result may name nothing.  Raises
    :class:`~distroless.rootpath.SymlinkLoopError` as the kernel fails with ``ELOOP``.
    """
    full = path if path.startswith("/") else posixpath.join(cwd, path)
    return "/" + resolve_in_root(full, view.readlink, follow_last=follow_last)


def lookup(view: ImageView, path: str, *, cwd: str = "/") -> tuple[str, FileStat] | None:
    """``stat`` through symlinks: the canonical path and what is there, or None."""
    try:
        real = resolve(view, path, cwd=cwd)
    except SymlinkLoopError:
        return None
    st = view.stat(real)
    if st is None or st.kind is FileKind.SYMLINK:  # a dangling link that ends nowhere
        return None
    return real, st


def links_on_path(view: ImageView, path: str, *, cwd: str = "/") -> tuple[tuple[str, str], ...]:
    """The symlinks the walk to ``path`` passes through, in order: ``(link, target)``.

    What a copy of one file must also carry for the same name to lead to it (``pack``
    keeps each library's path: ``/lib`` -> ``usr/lib``, ``libz.so.1`` -> ``libz.so.1.3``).
    The walk is :func:`resolve`'s; this only records the links it reads.
    """
    seen: list[tuple[str, str]] = []

    def recording(rel: str) -> str | None:
        target = view.readlink(rel)
        if target is not None:
            seen.append(("/" + rel, target))
        return target

    full = path if path.startswith("/") else posixpath.join(cwd, path)
    resolve_in_root(full, recording)
    return tuple(seen)
