"""One file-system entry of a layer, independent of where its content comes from.

Producers (a directory walk, a .deb's data.tar, generated files, a sandbox's upper
directory) yield :class:`Entry` values; the tar writer consumes them.  Content is opened
lazily through ``opener`` so a layer's data is streamed, never gathered in memory.
"""

from __future__ import annotations

import enum
import io
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, TypedDict

from distroless.errors import ArchiveError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
#: aufs keeps its own bookkeeping under names with this prefix (``.wh..wh.plnk``); they
#: delete nothing and carry nothing an image needs
AUFS_META_PREFIX = WHITEOUT_PREFIX + WHITEOUT_PREFIX


class EntryType(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    CHAR = "char"
    BLOCK = "block"
    FIFO = "fifo"


Opener = Callable[[], BinaryIO]


class EntryMeta(TypedDict):
    """What every kind of entry carries besides path and type: read once per file by a
    producer (a tar member, a ``stat``) and given to whichever kind the file turns out to
    be, as ``Entry(path, kind, **meta)``."""

    mode: int
    uid: int
    gid: int
    mtime: int


class WhiteoutKind(enum.Enum):
    DELETE = "delete"  # ``.wh.NAME``: NAME is gone from the layers below
    OPAQUE = "opaque"  # ``.wh..wh..opq``: the directory hides the layers below
    AUFS_META = "aufs-meta"  # ``.wh..wh.*``: aufs bookkeeping, nothing to do


@dataclass(frozen=True)
class Whiteout:
    kind: WhiteoutKind
    victim: str = ""  # the sibling name a DELETE whiteout removes


def parse_whiteout(base: str, entry: str) -> Whiteout | None:
    """What the layer entry whose last component is ``base`` deletes, or ``None``.

    Every applier and every reader that interprets whiteouts asks here, so they agree on
    which names are hostile: a whiteout of ``.``, ``..`` or of nothing would delete the
    directory holding the entry or its parent (in the layer cache: every unpacked layer),
    and a name with ``/`` is no sibling at all.  Such a layer is refused, naming ``entry``.
    """
    if not base.startswith(WHITEOUT_PREFIX):
        return None
    if base == OPAQUE_MARKER:
        return Whiteout(WhiteoutKind.OPAQUE)
    if base.startswith(AUFS_META_PREFIX):
        return Whiteout(WhiteoutKind.AUFS_META)
    victim = base[len(WHITEOUT_PREFIX) :]
    if victim in ("", ".", "..") or "/" in victim or "\x00" in victim:
        raise ArchiveError(
            f"layer entry {entry!r} is a whiteout of {victim!r}, which names no file; "
            "refusing the layer"
        )
    return Whiteout(WhiteoutKind.DELETE, victim)


def normalize_path(path: str) -> str:
    """Layer path form: relative, no ``./`` prefix, no trailing slash, no ``..`` escape."""
    cleaned = posixpath.normpath("/" + path.lstrip("/")).lstrip("/")
    if cleaned in ("", "."):
        raise ArchiveError(f"entry path {path!r} names the root itself")
    if cleaned.split("/")[0] == "..":
        raise ArchiveError(f"entry path {path!r} escapes the root")
    return cleaned


@dataclass(frozen=True)
class Entry:
    """One member of a layer: a file, directory, link, device, FIFO or whiteout.

    Invariants: ``path`` is in the layer path form of :func:`normalize_path` (relative, no
    ``./``, no trailing ``/``, never the root, never above it) by the time the tar writer
    emits it: the named constructors normalise at once, and :func:`canonical_entries`
    normalises, de-duplicates and orders what producers built directly, so two spellings
    of one path are one member.  ``size`` and ``opener`` belong to ``FILE`` only, and the
    writer refuses an opener that yields other than ``size`` bytes; ``linkname`` belongs
    to ``SYMLINK`` (any text, written as given) and ``HARDLINK`` (a layer path).  The kind
    is ``type`` alone: only the permission bits of ``mode`` are written.  Entries are
    values: equal metadata means equal entries, whatever the opener.
    """

    path: str
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    linkname: str = ""
    mtime: int = 0
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: Mapping[str, str] = field(default_factory=dict)
    opener: Opener | None = field(default=None, compare=False, repr=False)

    @classmethod
    def file(cls, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
        """A small generated file (passwd, os-release); its bytes are tiny by construction."""
        return cls(
            normalize_path(path),
            EntryType.FILE,
            mode=mode,
            uid=uid,
            gid=gid,
            size=len(data),
            opener=lambda: io.BytesIO(data),
        )

    @classmethod
    def directory(cls, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
        return cls(normalize_path(path), EntryType.DIR, mode=mode, uid=uid, gid=gid)

    @classmethod
    def symlink(cls, path: str, target: str, uid: int = 0, gid: int = 0) -> Entry:
        return cls(
            normalize_path(path), EntryType.SYMLINK, mode=0o777, uid=uid, gid=gid, linkname=target
        )

    @classmethod
    def whiteout(cls, path: str) -> Entry:
        """Marks ``path`` as deleted relative to the layers below."""
        norm = normalize_path(path)
        parent, name = posixpath.split(norm)
        return cls(posixpath.join(parent, WHITEOUT_PREFIX + name), EntryType.FILE, mode=0o644)

    @classmethod
    def opaque(cls, directory: str) -> Entry:
        """Hides everything the layers below hold inside ``directory``."""
        return cls(
            posixpath.join(normalize_path(directory), OPAQUE_MARKER), EntryType.FILE, mode=0o644
        )

    def open(self) -> BinaryIO:
        if self.opener is None:
            return io.BytesIO(b"")
        return self.opener()
