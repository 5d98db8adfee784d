"""An :class:`~distroless.elf.view.ImageView` over a real directory tree.

Used for a rootfs on disk (a builder stage, a test fixture) and for the host itself
(``DirectoryView(Path("/"))``).  Links are never followed here: the resolver walks them
through :func:`distroless.rootpath.host_readlink`, so a link to ``/etc/shadow`` inside the
tree means ``<root>/etc/shadow``, and the last component is opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from distroless.elf.view import FileKind, FileStat
from distroless.rootpath import host_readlink


def _kind(mode: int) -> FileKind:
    if stat.S_ISREG(mode):
        return FileKind.FILE
    if stat.S_ISDIR(mode):
        return FileKind.DIR
    if stat.S_ISLNK(mode):
        return FileKind.SYMLINK
    return FileKind.OTHER


class DirectoryView:
    """The tree under ``root`` as an image sees it (``/`` is ``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._readlink = host_readlink(root)

    def _host(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def readlink(self, rel: str) -> str | None:
        return self._readlink(rel)

    def stat(self, path: str) -> FileStat | None:
        try:
            st = os.lstat(self._host(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return FileStat(
            _kind(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size, (st.st_dev, st.st_ino)
        )

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._host(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        fd = os.open(self._host(path), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            yield stream

    def open_many(self, paths: Sequence[str]) -> Generator[tuple[str, BinaryIO], None, None]:
        for path in paths:
            st = self.stat(path)
            if st is None or st.kind is not FileKind.FILE:
                continue
            with self.open(path) as stream:
                yield path, stream
