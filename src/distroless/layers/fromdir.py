"""Entries for a directory tree (or a single file) on disk, as ``COPY`` needs them.

The walk never follows symlinks (a link is copied as a link, like docker does), turns
files that share an inode into one file plus hardlink entries, and opens content only
when the tar writer gets to it, so walking a large tree costs metadata only.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType, normalize_path


def _opener(path: str) -> Callable[[], BinaryIO]:
    def open_file() -> BinaryIO:
        try:
            return open(path, "rb")
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror}") from exc

    return open_file


class _Walker:
    def __init__(
        self,
        uid: int | None,
        gid: int | None,
        mode: int | None,
        exclude: Callable[[str], bool] | None,
        prune: Callable[[str], bool] | None = None,
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.mode = mode
        self.exclude = exclude
        self.prune = prune
        self.inodes: dict[tuple[int, int], str] = {}

    def entry(self, disk: str, layer_path: str, st: os.stat_result) -> Entry | None:
        uid = st.st_uid if self.uid is None else self.uid
        gid = st.st_gid if self.gid is None else self.gid
        perm = stat.S_IMODE(st.st_mode)
        if self.mode is not None:
            perm = self.mode
        mtime = int(st.st_mtime)
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFDIR:
            return Entry(layer_path, EntryType.DIR, mode=perm, uid=uid, gid=gid, mtime=mtime)
        if fmt == stat.S_IFLNK:
            return Entry(
                layer_path,
                EntryType.SYMLINK,
                mode=0o777,
                uid=uid,
                gid=gid,
                mtime=mtime,
                linkname=os.readlink(disk),
            )
        if fmt == stat.S_IFREG:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                first = self.inodes.get(key)
                if first is not None:
                    return Entry(
                        layer_path,
                        EntryType.HARDLINK,
                        mode=perm,
                        uid=uid,
                        gid=gid,
                        mtime=mtime,
                        linkname=first,
                    )
                self.inodes[key] = layer_path
            return Entry(
                layer_path,
                EntryType.FILE,
                mode=perm,
                uid=uid,
                gid=gid,
                size=st.st_size,
                mtime=mtime,
                opener=_opener(disk),
            )
        kinds = {stat.S_IFCHR: EntryType.CHAR, stat.S_IFBLK: EntryType.BLOCK}
        if fmt in kinds:
            return Entry(
                layer_path,
                kinds[fmt],
                mode=perm,
                uid=uid,
                gid=gid,
                mtime=mtime,
                devmajor=os.major(st.st_rdev),
                devminor=os.minor(st.st_rdev),
            )
        if fmt == stat.S_IFIFO:
            return Entry(layer_path, EntryType.FIFO, mode=perm, uid=uid, gid=gid, mtime=mtime)
        return None  # sockets and doors have no tar form; docker skips them too

    def walk(self, disk: str, layer_dir: str, rel: str) -> Iterator[Entry]:
        try:
            children = sorted(os.scandir(disk), key=lambda d: os.fsencode(d.name))
        except OSError as exc:
            raise ArchiveError(f"cannot list {disk}: {exc.strerror}") from exc
        for child in children:
            child_rel = posixpath.join(rel, child.name) if rel else child.name
            hidden = self.exclude is not None and self.exclude(child_rel)
            if hidden and (self.prune is None or self.prune(child_rel)):
                continue
            if hidden and not child.is_dir(follow_symlinks=False):
                continue
            st = child.stat(follow_symlinks=False)
            layer_path = posixpath.join(layer_dir, child.name) if layer_dir else child.name
            entry = self.entry(child.path, layer_path, st)
            if entry is None:
                continue
            if not hidden:
                yield entry
                if entry.type is EntryType.DIR:
                    yield from self.walk(child.path, layer_path, child_rel)
                continue
            # an excluded directory that an exception may reach into: it is there only
            # as the parent of what is re-included below it
            below = self.walk(child.path, layer_path, child_rel)
            first = next(below, None)
            if first is not None:
                yield entry
                yield first
                yield from below


def entries_from_directory(
    src: Path,
    dest: str,
    *,
    uid: int | None = None,
    gid: int | None = None,
    mode: int | None = None,
    exclude: Callable[[str], bool] | None = None,
    prune: Callable[[str], bool] | None = None,
    include_root: bool = True,
) -> Iterator[Entry]:
    """Entries placing ``src`` at ``dest`` in the layer.

    A directory's *contents* land under ``dest`` (``dest`` itself gets the directory's
    metadata unless it is the root); a single file becomes the entry ``dest``.  ``exclude``
    receives paths relative to ``src`` (``a/b.txt``) and hides them; an excluded directory
    hides its whole subtree unless ``prune`` says otherwise for it (False: something below
    may be re-included, as a ``.dockerignore`` exception does; the directory then appears
    only as the parent of what is).  Without ``include_root`` a directory's own entry is
    left to the caller (``COPY`` decides the destination's metadata).  ``uid``,
    ``gid`` and ``mode`` override what is on disk (``mode`` applies to files and
    directories, not symlinks).
    """
    walker = _Walker(uid, gid, mode, exclude, prune)
    try:
        st = os.lstat(src)
    except OSError as exc:
        raise ArchiveError(f"cannot read {src}: {exc.strerror}") from exc
    stripped = dest.strip("/")
    layer_root = "" if stripped in ("", ".") else normalize_path(stripped)
    if not stat.S_ISDIR(st.st_mode):
        if not layer_root:
            raise ArchiveError(f"cannot place file {src} at the layer root; give a file path")
        entry = walker.entry(os.fspath(src), layer_root, st)
        if entry is None:
            raise ArchiveError(f"{src} is a socket, which a layer cannot hold")
        yield entry
        return
    if layer_root and include_root:
        root_entry = walker.entry(os.fspath(src), layer_root, st)
        assert root_entry is not None
        yield root_entry
    yield from walker.walk(os.fspath(src), layer_root, "")
