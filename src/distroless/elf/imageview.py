"""An :class:`~distroless.elf.view.ImageView` over the flattened image that ``check`` reads.

:class:`~distroless.verify.fsview.FileSystemView` knows every path of an image from one
pass over its layers and streams a file's bytes from the one layer that holds it.  Layer
streams cannot seek, and pyelftools must, so each file read is copied into a spooled
temporary file (in memory while small, on disk beyond that) that lives only while the
resolver parses it.  A batch (:meth:`FsViewAdapter.open_many`) reads each layer once for
all the files it holds; reading file by file would inflate a big layer once per library.
"""

from __future__ import annotations

import contextlib
import posixpath
import shutil
import tempfile
from collections.abc import Generator, Iterator, Sequence
from typing import BinaryIO

from distroless.elf.view import FileKind, FileStat
from distroless.errors import ArchiveError, NotFoundError
from distroless.layers.entry import EntryType, normalize_path
from distroless.layers.reader import iter_layer
from distroless.rootpath import MAX_SYMLINK_HOPS
from distroless.verify.fsview import FileSystemView, Node

#: bytes of a file kept in memory before its copy spills to a temporary file on disk
SPOOL_IN_MEMORY = 1 << 20
#: the largest file copied out of a layer for parsing; an ELF beyond it is not read
MAX_FILE_BYTES = 4 << 30
_CHUNK = 1 << 20

_KINDS = {
    EntryType.FILE: FileKind.FILE,
    EntryType.HARDLINK: FileKind.FILE,
    EntryType.DIR: FileKind.DIR,
    EntryType.SYMLINK: FileKind.SYMLINK,
}


def _member_path(name: str) -> str | None:
    try:
        return "/" + normalize_path(name)
    except ArchiveError:
        return None


class FsViewAdapter:
    """``fs`` as an image view; only its public methods are used."""

    def __init__(self, fs: FileSystemView) -> None:
        self.fs = fs
        self._implied: set[str] | None = None

    def _implied_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory no layer names, implied by what is inside it."""
        if self._implied is None:
            implied = {"/"}
            for node in self.fs.nodes():
                parent = posixpath.dirname(node.path)
                while parent not in implied:
                    implied.add(parent)
                    parent = posixpath.dirname(parent)
            self._implied = implied
        return path in self._implied

    def readlink(self, rel: str) -> str | None:
        node = self.fs.get("/" + rel)
        if node is None or not node.is_symlink:
            return None
        return node.linkname

    def _content(self, path: str) -> Node | None:
        """The node whose layer holds the bytes of ``path`` (hard links followed)."""
        node = self.fs.get(path)
        hops = 0
        while node is not None and node.type is EntryType.HARDLINK:
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None
            node = self.fs.get(node.linkname)
        if node is None or node.type is not EntryType.FILE:
            return None
        return node

    def stat(self, path: str) -> FileStat | None:
        node = self.fs.get(path)
        if node is None:
            if self._implied_dir(path):
                return FileStat(FileKind.DIR, 0o755, 0, ("dir", path))
            return None
        kind = _KINDS.get(node.type, FileKind.OTHER)
        identity: object = ("path", path)
        if node.type is EntryType.HARDLINK:
            target = self._content(path)
            identity = ("path", target.path) if target is not None else identity
        return FileStat(kind, node.mode, node.size, identity)

    def listdir(self, path: str) -> list[str]:
        return self.fs.listdir(path)

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        with contextlib.closing(self.open_many([path])) as batch:
            for _name, stream in batch:
                yield stream
                return
        raise NotFoundError(f"{path} is not a regular file in image {self.fs.image.name}")

    def open_many(self, paths: Sequence[str]) -> Generator[tuple[str, BinaryIO], None, None]:
        by_layer: dict[int, dict[str, list[str]]] = {}
        for path in dict.fromkeys(paths):
            node = self._content(path)
            if node is None:
                continue
            if node.size > MAX_FILE_BYTES:
                raise ArchiveError(
                    f"{path} in image {self.fs.image.name} is larger than {MAX_FILE_BYTES} bytes"
                )
            by_layer.setdefault(node.layer, {}).setdefault(node.path, []).append(path)
        for layer in sorted(by_layer):
            wanted = by_layer[layer]
            with self.fs.image.open_layer(layer) as blob:
                for member, content in iter_layer(blob):
                    member_path = _member_path(member.name)
                    if content is None or member_path not in wanted:
                        continue
                    with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as copy:
                        shutil.copyfileobj(content, copy, _CHUNK)
                        for alias in wanted.pop(member_path):
                            copy.seek(0)
                            yield alias, copy  # type: ignore[misc]
                    if not wanted:
                        break
