"""``ADD`` of a local tar archive: its members turned straight into layer entries.

The archive is untrusted, and nothing of it is ever unpacked on the host: member names,
link targets and hardlinks only ever index a table of what the archive has put under the
destination so far, so no member can reach a host file whatever it is called.  Regular
files keep their bytes where they are (a plain tar is read in place, a compressed one is
decompressed once into a private spool file) until the layer writer streams them.

What the table reproduces is docker's ``ADD``, which unpacks the archive into the
destination directory as if that were the root (BuildKit extracts it chrooted there):

* member names are relative to the destination; a leading ``/`` and ``..`` above the
  destination stay inside it, and symlinks in a member's parents are followed inside it,
  through the archive's own links and the image's (via :mod:`distroless.rootpath`);
* members keep their owner, mode and type (set-id bits and device nodes included);
  ``--chown`` applies only to the destination directories ``ADD`` creates, which are
  0755; an existing destination keeps its metadata, and so does the archive's ``.``;
* a later member replaces an earlier one of the same name (a directory is merged);
  a hardlink shares the content of the file it names at that moment, and a link to a
  file that is missing, or to a directory, is an error, as in docker;
* missing parent directories are created 0755 and owned by root.

Refused, where docker would write something else than a layer can say: names that are
whiteouts (``.wh.*``), sparse members and numbers no file system can hold.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import posixpath
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, cast

from distroless.dockerfile.layerfs import FsNode, LayeredFS
from distroless.errors import ArchiveError, BuildError
from distroless.layers.compress import DECOMPRESS_ERRORS
from distroless.layers.entry import WHITEOUT_PREFIX, Entry, EntryType
from distroless.layers.reader import Limits, iter_layer, layer_limits
from distroless.rootpath import SymlinkLoopError, resolve_in_root, split_path

#: the compressions docker's ADD unpacks (a zstd file is copied as it is, as docker does)
Kind = Literal["none", "gzip", "bzip2", "xz"]
_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    lzma.LZMAError,
    *DECOMPRESS_ERRORS,
)
_MAX_ID = (1 << 32) - 2  # (uid_t)-1 means "unchanged" to chown
_MAX_DEV = 0o7777777  # what a ustar header holds, which is where device numbers go
_CHUNK = 1 << 20


def _kind_of(head: bytes) -> Kind:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "none"


def _decompressed(fh: BinaryIO, kind: Kind) -> BinaryIO:
    if kind == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(fh))
    if kind == "xz":
        return cast(BinaryIO, lzma.LZMAFile(fh))
    if kind == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=fh, mode="rb"))
    return fh


def archive_kind(path: Path) -> Kind | None:
    """How ``path`` is compressed if it is a tar archive ``ADD`` unpacks, else None.

    Docker's test: the (decompressed) file starts with a valid tar header.
    """
    try:
        with path.open("rb") as fh:
            kind = _kind_of(fh.read(6))
            fh.seek(0)
            block = _read_up_to(_decompressed(fh, kind), tarfile.BLOCKSIZE)
    except _READ_ERRORS:
        return None
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return None
    return kind


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@dataclass(eq=False)
class _Inode:
    """A regular file's bytes and metadata, shared by the names hardlinked to it."""

    offset: int
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int


@dataclass
class _Node:
    type: EntryType
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    inode: _Inode | None = None


class _Slice:
    """``size`` bytes of a file from ``offset``: one archive member's content."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._fh = path.open("rb")
        self._fh.seek(offset)
        self._left = size

    def read(self, size: int = -1) -> bytes:
        want = self._left if size < 0 else min(size, self._left)
        data = self._fh.read(want)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Table:
    """What the archive has put under the destination so far, by resolved path."""

    def __init__(self, fs: LayeredFS, dest: str, name: str, where: str) -> None:
        self.fs = fs
        self.dest = dest.strip("/")
        self.nodes: dict[str, _Node] = {}
        self.name = name
        self.where = where
        self._image: dict[str, FsNode | None] = {}
        self._kids: dict[str, set[str]] = {}

    def fail(self, member: str, problem: str) -> BuildError:
        return BuildError(f"{self.where}: ADD {self.name}: member {member!r} {problem}")

    def image_node(self, rel: str) -> FsNode | None:
        """What the image already has at ``rel`` under the destination (parents resolved)."""
        if rel not in self._image:
            full = f"{self.dest}/{rel}" if self.dest else rel
            self._image[rel] = self.fs.node_at(full)
        return self._image[rel]

    def readlink(self, rel: str) -> str | None:
        node = self.nodes.get(rel)
        if node is not None:
            return node.linkname if node.type is EntryType.SYMLINK else None
        found = self.image_node(rel)
        if found is None or not found.is_symlink:
            return None
        return os.readlink(found.host)

    def resolve(self, member: str, path: str, *, follow_last: bool) -> str:
        try:
            return resolve_in_root(path, self.readlink, follow_last=follow_last)
        except SymlinkLoopError:
            raise self.fail(member, "has too many symbolic links in its path") from None

    def check_parents(self, member: str, rel: str) -> None:
        parent = posixpath.dirname(rel)
        while parent:
            node = self.nodes.get(parent)
            if node is not None:
                if node.type is not EntryType.DIR:
                    raise self.fail(member, f"lies under {parent!r}, which is not a directory")
                return  # a directory in the table has directories above it
            found = self.image_node(parent)
            if found is not None and not found.is_dir:
                raise self.fail(member, f"lies under {parent!r}, which is not a directory")
            parent = posixpath.dirname(parent)

    def remove(self, rel: str) -> None:
        """Forget ``rel`` and everything the table holds below it."""
        pending = [rel]
        while pending:
            path = pending.pop()
            self.nodes.pop(path, None)
            pending.extend(self._kids.pop(path, ()))

    def put(self, rel: str, node: _Node) -> None:
        existing = self.nodes.get(rel)
        if existing is None or existing.type is not EntryType.DIR or node.type is not EntryType.DIR:
            self.remove(rel)  # directories merge (the last metadata wins); all else is replaced
        self.nodes[rel] = node
        # index every path under its parent, implicit parents included, for remove()
        child = rel
        while child:
            parent = posixpath.dirname(child)
            kids = self._kids.setdefault(parent, set())
            if child in kids:
                break
            kids.add(child)
            child = parent


def _node_of(member: tarfile.TarInfo) -> _Node:
    return _Node(
        EntryType.DIR,
        mode=stat.S_IMODE(member.mode),
        uid=member.uid,
        gid=member.gid,
        mtime=int(member.mtime),
    )


def _check_numbers(table: _Table, member: tarfile.TarInfo) -> None:
    if not (0 <= member.uid <= _MAX_ID and 0 <= member.gid <= _MAX_ID):
        raise table.fail(member.name, f"has an out-of-range owner {member.uid}:{member.gid}")
    if (member.ischr() or member.isblk()) and not (
        0 <= member.devmajor <= _MAX_DEV and 0 <= member.devminor <= _MAX_DEV
    ):
        raise table.fail(
            member.name,
            f"has an out-of-range device number {member.devmajor}:{member.devminor}",
        )


def _add_member(
    table: _Table,
    member: tarfile.TarInfo,
    content: Callable[[], tuple[int, int]],
) -> None:
    name = member.name
    parts = split_path(name)
    if parts and parts[-1].startswith(WHITEOUT_PREFIX):
        raise table.fail(name, "has a whiteout name, which a layer cannot hold as a file")
    _check_numbers(table, member)
    rel = table.resolve(name, name, follow_last=False)
    if not rel:
        return  # the archive's "." (or a name climbing to it): docker leaves the destination
    table.check_parents(name, rel)
    node = _node_of(member)
    if member.isdir():
        table.put(rel, node)
    elif member.isreg():
        if member.issparse():
            raise table.fail(name, "is a sparse file, which ADD does not support")
        offset, size = content()
        node.type = EntryType.FILE
        node.inode = _Inode(offset, size, node.mode, node.uid, node.gid, node.mtime)
        table.put(rel, node)
    elif member.issym():
        node.type = EntryType.SYMLINK
        node.linkname = member.linkname
        table.put(rel, node)
    elif member.islnk():
        table.put(rel, _hardlink(table, member))
    elif member.ischr() or member.isblk() or member.isfifo():
        node.type = (
            EntryType.CHAR
            if member.ischr()
            else EntryType.BLOCK
            if member.isblk()
            else EntryType.FIFO
        )
        node.devmajor, node.devminor = member.devmajor, member.devminor
        table.put(rel, node)
    else:
        raise table.fail(name, f"has the unsupported tar type {member.type!r}")


def _hardlink(table: _Table, member: tarfile.TarInfo) -> _Node:
    """A hardlink shares its target's inode (a file) or copies it (links, devices)."""
    target_rel = table.resolve(member.name, member.linkname, follow_last=False)
    target = table.nodes.get(target_rel) if target_rel else None
    if target is None:
        raise table.fail(
            member.name, f"is a hardlink to {member.linkname!r}, which the archive does not hold"
        )
    if target.type is EntryType.DIR:
        raise table.fail(member.name, f"is a hardlink to the directory {member.linkname!r}")
    mode, uid, gid, mtime = stat.S_IMODE(member.mode), member.uid, member.gid, int(member.mtime)
    if target.inode is not None:
        inode = target.inode
        # link(2), then docker's chown/chmod/utime of the new name: the inode changes
        inode.mode, inode.uid, inode.gid, inode.mtime = mode, uid, gid, mtime
        return _Node(EntryType.FILE, mode, uid, gid, mtime, inode=inode)
    return _Node(
        target.type,
        mode=target.mode if target.type is EntryType.SYMLINK else mode,
        uid=uid,
        gid=gid,
        mtime=mtime,
        linkname=target.linkname,
        devmajor=target.devmajor,
        devminor=target.devminor,
    )


def _dir_entry(path: str, node: FsNode) -> Entry:
    st = node.st
    return Entry(
        path, EntryType.DIR, mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime),
    )  # fmt: skip


def _entries(table: _Table, source: Path) -> Iterator[Entry]:
    prefix = f"{table.dest}/" if table.dest else ""
    holders: dict[int, str] = {}  # id(inode) -> the layer path that carries its bytes
    parents: set[str] = set()
    for rel, node in table.nodes.items():
        path = prefix + rel
        parent = posixpath.dirname(rel)
        while parent and parent not in table.nodes and parent not in parents:
            parents.add(parent)
            parent = posixpath.dirname(parent)
        inode = node.inode
        if inode is None:
            yield Entry(
                path, node.type, mode=node.mode, uid=node.uid, gid=node.gid, mtime=node.mtime,
                linkname=node.linkname, devmajor=node.devmajor, devminor=node.devminor,
            )  # fmt: skip
            continue
        holder = holders.get(id(inode))
        if holder is not None:
            yield Entry(
                path, EntryType.HARDLINK, mode=inode.mode, uid=inode.uid, gid=inode.gid,
                mtime=inode.mtime, linkname=holder,
            )  # fmt: skip
            continue
        holders[id(inode)] = path

        def opener(inode: _Inode = inode) -> BinaryIO:
            return cast(BinaryIO, _Slice(source, inode.offset, inode.size))

        yield Entry(
            path, EntryType.FILE, mode=inode.mode, uid=inode.uid, gid=inode.gid,
            size=inode.size, mtime=inode.mtime, opener=opener,
        )  # fmt: skip
    for rel in parents:
        found = table.image_node(rel)
        if found is not None and found.is_dir:
            yield _dir_entry(prefix + rel, found)
        else:
            yield Entry.directory(prefix + rel)


def archive_entries(
    path: Path,
    dest: str,
    *,
    fs: LayeredFS,
    spool_dir: Path,
    where: str,
    limits: Limits | None = None,
) -> list[Entry]:
    """The layer entries ``ADD path dest/`` makes (``dest``: an absolute, resolved path).

    Only the archive's members; the destination directories are the caller's.  A
    compressed archive is decompressed into a file under ``spool_dir``, which must stay
    until the entries are written.  The archive becomes one layer, so it is held to what
    one layer may hold (:func:`layer_limits`) unless ``limits`` says otherwise.
    """
    kind = archive_kind(path)
    if kind is None:
        raise BuildError(f"{where}: ADD {path.name}: not a tar archive")
    bounds = layer_limits() if limits is None else limits
    table = _Table(fs, dest, path.name, where)
    try:
        with contextlib.ExitStack() as stack:
            fh = stack.enter_context(path.open("rb"))
            spool: BinaryIO | None = None
            source = path
            if kind != "none":
                fd, name = tempfile.mkstemp(dir=spool_dir, prefix="add-", suffix=".data")
                spool = stack.enter_context(os.fdopen(fd, "w+b"))
                source = Path(name)
            stream = _decompressed(fh, kind) if kind in ("bzip2", "xz") else fh
            for member, data in iter_layer(stream, limits=bounds):

                def content(
                    member: tarfile.TarInfo = member, data: BinaryIO | None = data
                ) -> tuple[int, int]:
                    if spool is None:
                        return member.offset_data, member.size
                    return _spool(spool, data, member)

                _add_member(table, member, content)
            if spool is not None:
                spool.flush()
    except ArchiveError as exc:
        raise BuildError(f"{where}: ADD {path.name}: {exc.message}") from None
    except _READ_ERRORS as exc:
        raise BuildError(f"{where}: ADD {path.name}: cannot read the archive: {exc}") from None
    return list(_entries(table, source))


def _spool(spool: BinaryIO, data: BinaryIO | None, member: tarfile.TarInfo) -> tuple[int, int]:
    offset = spool.tell()
    written = 0
    if data is not None:
        while chunk := data.read(_CHUNK):
            spool.write(chunk)
            written += len(chunk)
    if written != member.size:
        raise ArchiveError(
            f"member {member.name!r} holds {written} bytes, not the {member.size} it announces"
        )
    return offset, written


__all__ = ["Kind", "archive_entries", "archive_kind"]
