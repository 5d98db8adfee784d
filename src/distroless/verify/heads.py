"""The first bytes of many files of a flattened image, each layer streamed once.

Whether a file is an ELF program, a ``#!`` script or neither is decided by its first
bytes, as the kernel decides it.  ``check`` asks that of every executable under ``PATH``
(hundreds in a builder image); reading each file whole, or one layer pass per file,
would inflate big layers again and again, so the files are grouped by the layer that
holds their bytes and each such layer is read once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from distroless.errors import ArchiveError
from distroless.layers.entry import EntryType, normalize_path
from distroless.layers.reader import iter_layer
from distroless.rootpath import MAX_SYMLINK_HOPS
from distroless.verify.fsview import FileSystemView, Node

#: what the kernel reads of a file to pick its loader (``BINPRM_BUF_SIZE``)
HEAD_BYTES = 256


def _content(fs: FileSystemView, path: str) -> Node | None:
    """The node whose layer holds the bytes of canonical ``path`` (hard links followed)."""
    node = fs.get(path)
    hops = 0
    while node is not None and node.type is EntryType.HARDLINK:
        hops += 1
        if hops > MAX_SYMLINK_HOPS:
            return None
        node = fs.get(node.linkname)
    return node if node is not None and node.type is EntryType.FILE else None


def _member_path(name: str) -> str | None:
    try:
        return "/" + normalize_path(name)
    except ArchiveError:
        return None


def read_heads(
    fs: FileSystemView, paths: Iterable[str], size: int = HEAD_BYTES
) -> dict[str, bytes]:
    """Up to ``size`` first bytes of each regular file of ``paths`` (canonical paths).

    Paths that are no regular file are left out of the result.
    """
    wanted: dict[int, dict[str, list[str]]] = {}
    for path in dict.fromkeys(paths):
        node = _content(fs, path)
        if node is not None:
            wanted.setdefault(node.layer, {}).setdefault(node.path, []).append(path)
    out: dict[str, bytes] = {}
    for layer in sorted(wanted):
        targets = wanted[layer]
        with fs.image.open_layer(layer) as blob:
            for member, stream in iter_layer(blob):
                member_path = _member_path(member.name)
                if stream is None or member_path not in targets:
                    continue
                head = stream.read(size)
                for alias in targets.pop(member_path):
                    out[alias] = head
                if not targets:
                    break
    return out
