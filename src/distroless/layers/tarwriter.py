"""Deterministic tar writing: the same set of entries always gives the same bytes.

Everything that could vary between two builds of the same content is fixed here: order
(sorted by path, bytewise), parents (every missing directory is emitted, root-owned and
0755, so extractors never invent their own), duplicates (the last one wins, as when a
later COPY overwrites an earlier one), timestamps (clamped to ``SOURCE_DATE_EPOCH``,
no atime/ctime), and the header format (plain ustar, PAX records only for what ustar
cannot hold).  Directory names end in ``/`` as in the layers docker writes.
"""

from __future__ import annotations

import dataclasses
import posixpath
import stat
import tarfile
from collections.abc import Iterable
from typing import BinaryIO

from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType, normalize_path
from distroless.oci.digest import Writable

_TAR_TYPES: dict[EntryType, bytes] = {
    EntryType.FILE: tarfile.REGTYPE,
    EntryType.DIR: tarfile.DIRTYPE,
    EntryType.SYMLINK: tarfile.SYMTYPE,
    EntryType.HARDLINK: tarfile.LNKTYPE,
    EntryType.CHAR: tarfile.CHRTYPE,
    EntryType.BLOCK: tarfile.BLKTYPE,
    EntryType.FIFO: tarfile.FIFOTYPE,
}

COPY_CHUNK = 1 << 20


class _CountingSink:
    """Gives ``tarfile`` the ``tell`` it wants without asking the real sink to seek."""

    def __init__(self, sink: Writable) -> None:
        self._sink = sink
        self.offset = 0

    def write(self, data: bytes) -> int:
        self._sink.write(data)
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        """The caller decides when its sink is flushed."""


class _ExactReader:
    """Reads an entry's content and insists on exactly the size the entry announced.

    A file that grew or shrank between the walk and the write would otherwise give a
    corrupt archive whose headers disagree with its data.
    """

    def __init__(self, entry: Entry, stream: BinaryIO) -> None:
        self._entry = entry
        self._stream = stream
        self._left = entry.size

    def read(self, size: int = -1) -> bytes:
        want = self._left if size < 0 else min(size, self._left)
        parts: list[bytes] = []
        got = 0
        while got < want:
            chunk = self._stream.read(want - got)
            if not chunk:
                raise ArchiveError(
                    f"layer entry {self._entry.path!r}: content ended after "
                    f"{self._entry.size - self._left + got} of {self._entry.size} bytes"
                )
            parts.append(chunk)
            got += len(chunk)
        self._left -= got
        return b"".join(parts)

    def check_exhausted(self) -> None:
        if self._left == 0 and self._stream.read(1):
            raise ArchiveError(
                f"layer entry {self._entry.path!r}: content is longer than "
                f"its declared {self._entry.size} bytes"
            )


def _canonical(entries: Iterable[Entry]) -> dict[str, Entry]:
    """Normalise paths and keep the last entry given for each path."""
    by_path: dict[str, Entry] = {}
    for given in entries:
        path = normalize_path(given.path)
        entry = given
        if given.type is EntryType.HARDLINK:
            link = normalize_path(given.linkname)
            if link == path:
                raise ArchiveError(f"layer entry {path!r}: hardlink to itself")
            entry = dataclasses.replace(given, path=path, linkname=link)
        elif path != given.path:
            entry = dataclasses.replace(given, path=path)
        by_path.pop(path, None)  # a re-added path moves to the end of the insertion order
        by_path[path] = entry
    return by_path


def _add_parents(by_path: dict[str, Entry]) -> None:
    for path in list(by_path):
        parent = posixpath.dirname(path)
        while parent:
            existing = by_path.get(parent)
            if existing is None:
                by_path[parent] = Entry.directory(parent)
            elif existing.type is not EntryType.DIR:
                raise ArchiveError(
                    f"layer entry {path!r} lies under {parent!r}, which this layer "
                    f"makes a {existing.type.value}, not a directory"
                )
            else:
                break
            parent = posixpath.dirname(parent)


def _order_hardlinks(by_path: dict[str, Entry]) -> None:
    """Make the first path (in archive order) of each hardlink group carry the content.

    Extractors can only link to a file they have already written, so when a link sorts
    before its target the two swap roles; the result is the same inode either way.
    """
    groups: dict[str, list[str]] = {}
    for path, entry in by_path.items():
        if entry.type is not EntryType.HARDLINK:
            continue
        target = entry.linkname
        seen = {path}
        while (t := by_path.get(target)) is not None and t.type is EntryType.HARDLINK:
            if target in seen:
                raise ArchiveError(f"layer entry {path!r}: hardlink cycle through {target!r}")
            seen.add(target)
            target = t.linkname
        groups.setdefault(target, []).append(path)
    for target, links in groups.items():
        holder = by_path.get(target)
        if holder is None:
            # A link into a lower layer: written as given, the extractor checks it.
            for link in links:
                by_path[link] = dataclasses.replace(by_path[link], linkname=target)
            continue
        if holder.type is not EntryType.FILE:
            raise ArchiveError(
                f"layer entry {links[0]!r}: hardlink target {target!r} is a "
                f"{holder.type.value}, not a regular file"
            )
        first = min([target, *links], key=lambda p: p.encode("utf-8", "surrogateescape"))
        for member in [target, *links]:
            if member == first:
                by_path[member] = dataclasses.replace(holder, path=first)
            else:
                by_path[member] = Entry(
                    member,
                    EntryType.HARDLINK,
                    mode=holder.mode,
                    uid=holder.uid,
                    gid=holder.gid,
                    linkname=first,
                    mtime=holder.mtime,
                    uname=holder.uname,
                    gname=holder.gname,
                )


def _tarinfo(entry: Entry, source_date_epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.type = _TAR_TYPES[entry.type]
    info.mode = stat.S_IMODE(entry.mode)
    info.uid = entry.uid
    info.gid = entry.gid
    info.uname = entry.uname
    info.gname = entry.gname
    info.mtime = max(0, min(int(entry.mtime), source_date_epoch))
    info.size = entry.size if entry.type is EntryType.FILE else 0
    info.linkname = entry.linkname
    if entry.type in (EntryType.CHAR, EntryType.BLOCK):
        info.devmajor = entry.devmajor
        info.devminor = entry.devminor
    if entry.xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": entry.xattrs[k] for k in sorted(entry.xattrs)}
    return info


def sort_key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def canonical_entries(entries: Iterable[Entry]) -> list[Entry]:
    """The exact entry list :func:`write_tar` writes, in order (useful to inspect a layer)."""
    by_path = _canonical(entries)
    _add_parents(by_path)
    _order_hardlinks(by_path)
    return [by_path[p] for p in sorted(by_path, key=sort_key)]


def write_tar(entries: Iterable[Entry], sink: Writable, *, source_date_epoch: int = 0) -> None:
    """Write ``entries`` as a deterministic tar stream to ``sink`` (which is not closed).

    Entry metadata is gathered first (small), content is streamed from each entry's
    opener in order, one file open at a time.
    """
    if source_date_epoch < 0:
        raise ArchiveError(f"SOURCE_DATE_EPOCH {source_date_epoch} is negative")
    ordered = canonical_entries(entries)
    counting = _CountingSink(sink)
    tar = tarfile.TarFile(
        fileobj=counting,  # type: ignore[arg-type]
        mode="w",
        format=tarfile.PAX_FORMAT,
        encoding="utf-8",
        errors="surrogateescape",
        copybufsize=COPY_CHUNK,
    )
    try:
        for entry in ordered:
            info = _tarinfo(entry, source_date_epoch)
            if entry.type is EntryType.FILE and entry.size > 0:
                stream = entry.open()
                try:
                    reader = _ExactReader(entry, stream)
                    tar.addfile(info, reader)
                    reader.check_exhausted()
                finally:
                    stream.close()
            else:
                tar.addfile(info)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"cannot write layer entry: {exc}") from exc
    # Not in a ``finally``: after a failed write (a full disk) the end-of-archive blocks would
    # only fail again and hide the first error; the caller discards the partial stream.
    tar.close()
