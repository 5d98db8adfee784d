"""Unpacking layers into a root file system, safely, with OCI whiteout semantics.

Layers come from registries and archives we do not trust, and the result is handed to
runc, scanned by ``check`` and read by ``sbom``, so no entry may touch anything outside
``target``.  Every parent path goes through the one resolver,
:func:`distroless.rootpath.resolve_in_root`: a symlink met on the way is followed the way
the container itself would see it (an absolute link starts again at ``target``, ``..``
stops at ``target``), so a link can never lead out; the last component is never followed
(files are created with ``O_NOFOLLOW | O_EXCL`` after whatever was there is removed).
Names that are absolute or contain ``..`` are refused outright: no honest layer writer
produces them.  Work deferred to the end of the layer (directory modes and times, opaque
sweeps) re-resolves its path first, because a later entry of the same layer may have
turned one of its parents into a symlink.

Whiteouts (``.wh.NAME``) delete ``NAME`` from the layers below; an opaque marker
(``.wh..wh..opq``) empties its directory of lower content but keeps what the same
layer adds, whatever the order of entries in the archive.  A failed apply leaves
``target`` partly written: callers unpack into a fresh directory and discard it on error.

:class:`LayerApplier` is the one walk over a layer's entries.  :func:`apply_layer` uses it
as is (merging onto a root: ``ADD`` of local archives, tests, tools); the runtime's layer
cache (:mod:`distroless.runtime.unpack`) changes only what whiteouts, opaque markers and
device nodes become on disk.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from distroless.errors import ArchiveError, StoreError
from distroless.layers.entry import AUFS_META_PREFIX, Whiteout, WhiteoutKind, parse_whiteout
from distroless.layers.reader import Limits, iter_layer
from distroless.rootpath import SymlinkLoopError, host_readlink, resolve_in_root

COPY_CHUNK = 1 << 20
_MAX_ID = (1 << 32) - 2  # (uid_t)-1 means "unchanged" to chown
_MAX_DEV = (1 << 31) - 1  # what os.makedev accepts
_XATTR_PREFIX = "SCHILY.xattr."
#: errors that say the disk under the target failed us, not that the layer is bad
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def _split(name: str, what: str = "layer entry") -> list[str]:
    """Components of an archive name; absolute names and ``..`` are hostile."""
    if name.startswith("/"):
        raise ArchiveError(f"{what} {name!r} has an absolute path; refusing to unpack it")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"{what} {name!r} climbs out of the root with '..'; refusing it")
    return parts


def _check_numbers(member: tarfile.TarInfo) -> None:
    """Refuse ids and device numbers the kernel cannot take, before anything is created.

    Tar headers can encode any integer (base-256 fields, PAX records); passed on, they would
    surface as an ``OverflowError`` half-way through unpacking the entry.
    """
    if not (0 <= member.uid <= _MAX_ID and 0 <= member.gid <= _MAX_ID):
        raise ArchiveError(
            f"layer entry {member.name!r} has an out-of-range owner {member.uid}:{member.gid}"
        )
    if (member.ischr() or member.isblk()) and not (
        0 <= member.devmajor <= _MAX_DEV and 0 <= member.devminor <= _MAX_DEV
    ):
        raise ArchiveError(
            f"layer entry {member.name!r} has an out-of-range device number "
            f"{member.devmajor}:{member.devminor}"
        )


def _remove(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def disk_error(exc: OSError, what: str) -> StoreError | None:
    """A :class:`StoreError` when ``exc`` is the disk filling up, else ``None``."""
    if exc.errno in DISK_ERRNOS:
        return StoreError(f"no space left on device while writing {what}; free space and retry")
    return None


class LayerApplier:
    """Writes one layer's entries under ``target``; one instance per layer.

    Subclasses override :meth:`delete`, :meth:`make_opaque`, :meth:`make_device` and
    :meth:`finish` to keep deletions in another form (overlayfs lower directories);
    :attr:`kept_xattrs` names the extended attributes written from ``SCHILY.xattr.``
    records (none here: a merged root is read by our own tools, not by a kernel).
    """

    kept_xattrs: tuple[str, ...] = ()
    #: prefixes refused even among :attr:`kept_xattrs`
    dropped_xattrs: tuple[str, ...] = ()
    #: whether a whiteout's parent directories are created when missing
    create_whiteout_parents = False

    def __init__(self, target: Path, preserve_owner: bool) -> None:
        target.mkdir(parents=True, exist_ok=True)
        self.target = Path(target)
        self.root = os.path.abspath(target)  # trusted: the caller's own directory
        self.preserve_owner = preserve_owner
        self.privileged = os.geteuid() == 0
        # Real (symlink-free) paths, relative to root, that this layer wrote or walked
        # through; an opaque directory keeps exactly these.
        self.added: set[str] = set()
        self.opaque: list[str] = []
        self.dirs: list[tuple[str, int, int]] = []

    def host(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def resolve_dir(self, parts: list[str], name: str, *, create: bool) -> str | None:
        """The real path (relative to root) of the directory ``parts`` inside the root.

        Missing directories are created when ``create`` is set, else ``None`` is returned.
        """
        missing = False

        def readlink(rel: str) -> str | None:
            nonlocal missing
            path = self.host(rel)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                if not create:
                    missing = True
                    return None
                os.mkdir(path, 0o755)
                self.added.add(rel)
                return None
            if stat.S_ISLNK(st.st_mode):
                return os.readlink(path)
            if not stat.S_ISDIR(st.st_mode):
                raise ArchiveError(f"layer entry {name!r}: parent {'/' + rel!r} is not a directory")
            self.added.add(rel)
            return None

        try:
            resolved = resolve_in_root("/".join(parts), readlink)
        except SymlinkLoopError:
            raise ArchiveError(f"layer entry {name!r}: too many symlinks in its path") from None
        return None if missing else resolved

    def still_real(self, rel: str) -> bool:
        """True when ``rel`` is still a directory reached through no symlink at all.

        Checked before deferred work: a later entry may have replaced a parent of ``rel``
        with a symlink, and the kernel would follow it wherever it points.
        """
        try:
            if resolve_in_root(rel, host_readlink(Path(self.root)), follow_last=False) != rel:
                return False
            return stat.S_ISDIR(os.lstat(self.host(rel)).st_mode)
        except (SymlinkLoopError, FileNotFoundError, NotADirectoryError):
            return False

    def chown(self, name: str, path: str | int, uid: int, gid: int) -> None:
        if not self.preserve_owner:
            return
        try:
            if isinstance(path, int):
                os.fchown(path, uid, gid)
            else:
                os.lchown(path, uid, gid)
        except OSError as exc:
            if self.privileged:
                raise ArchiveError(
                    f"layer entry {name!r}: cannot set owner {uid}:{gid}: {exc.strerror}"
                ) from exc

    def set_xattrs(self, path: str | int, member: tarfile.TarInfo) -> None:
        """Extended attributes of :attr:`kept_xattrs` only: an untrusted layer must not set
        ``trusted.overlay.*`` (redirects, opaque markers) or security labels."""
        if not self.kept_xattrs:
            return
        for key, value in (member.pax_headers or {}).items():
            if not key.startswith(_XATTR_PREFIX):
                continue
            attr = key[len(_XATTR_PREFIX) :]
            if not attr.startswith(self.kept_xattrs) or attr.startswith(self.dropped_xattrs):
                continue
            data = value.encode("utf-8", "surrogateescape")
            try:
                if isinstance(path, int):
                    os.setxattr(path, attr, data)
                else:
                    os.setxattr(path, attr, data, follow_symlinks=False)
            except OSError as exc:
                if exc.errno in DISK_ERRNOS:
                    raise
                continue  # an xattr the file system refuses is not fatal (docker agrees)

    def apply(self, member: tarfile.TarInfo, content: BinaryIO | None) -> None:
        name = member.name
        parts = _split(name)
        _check_numbers(member)
        if not parts:
            return  # the root directory itself keeps the target's own metadata
        if any(p.startswith(AUFS_META_PREFIX) for p in parts[:-1]):
            return  # inside aufs bookkeeping directories (.wh..wh.plnk/...)
        base = parts[-1]
        whiteout = parse_whiteout(base, name)
        if whiteout is not None:
            self.whiteout(name, parts[:-1], whiteout)
            return
        parent = self.resolve_dir(parts[:-1], name, create=True)
        assert parent is not None
        rel = f"{parent}/{base}" if parent else base
        path = self.host(rel)
        if member.isdir():
            self.make_dir(name, path, member)
            self.dirs.append((rel, stat.S_IMODE(member.mode), int(member.mtime)))
            self.added.add(rel)
            return
        if member.isreg():
            self.clear(path)
            self.write_file(name, path, member, content)
        elif member.issym():
            self.clear(path)
            os.symlink(member.linkname, path)
            self.chown(name, path, member.uid, member.gid)
            mtime = int(member.mtime)
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        elif member.islnk():
            self.hardlink(name, path, member.linkname)
        elif member.ischr() or member.isblk():
            self.make_device(name, path, member)
        elif member.isfifo():
            self.clear(path)
            os.mkfifo(path, 0o600)
            self.finish_node(name, path, member)
        else:
            raise ArchiveError(f"layer entry {name!r} has unsupported tar type {member.type!r}")
        self.added.add(rel)

    def clear(self, path: str) -> None:
        """Remove whatever ``path`` holds (a directory with all below it)."""
        with contextlib.suppress(FileNotFoundError):
            _remove(path)

    def make_dir(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            self.clear(path)
            st = None
        if st is None:
            os.mkdir(path, 0o700)
        self.chown(name, path, member.uid, member.gid)
        self.set_xattrs(path, member)

    def write_file(
        self, name: str, path: str, member: tarfile.TarInfo, content: BinaryIO | None
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            if content is not None:
                self.copy_content(content, out)
            out.flush()
            self.chown(name, fd, member.uid, member.gid)
            # After chown, which clears setuid/setgid bits and file capabilities.
            os.fchmod(fd, stat.S_IMODE(member.mode))
            self.set_xattrs(fd, member)
            mtime = int(member.mtime)
            os.utime(fd, (mtime, mtime))
            self.wrote_file(fd)

    def copy_content(self, content: BinaryIO, out: BinaryIO) -> None:
        shutil.copyfileobj(content, out, COPY_CHUNK)

    def wrote_file(self, fd: int) -> None:
        """Called with the open descriptor of each regular file once it is complete."""

    def finish_node(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        self.chown(name, path, member.uid, member.gid)
        os.chmod(path, stat.S_IMODE(member.mode))
        mtime = int(member.mtime)
        os.utime(path, (mtime, mtime), follow_symlinks=False)

    def make_device(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        if not self.privileged:
            return  # only root may create device nodes; runc provides /dev anyway
        self.clear(path)
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        mode = stat.S_IMODE(member.mode)
        try:
            os.mknod(path, mode | kind, os.makedev(member.devmajor, member.devminor))
        except PermissionError:
            return  # root in a user namespace cannot either
        self.finish_node(name, path, member)

    def hardlink(self, name: str, path: str, linkname: str) -> None:
        parts = _split(linkname, what=f"hardlink target of layer entry {name!r}:")
        if not parts:
            raise ArchiveError(f"layer entry {name!r}: hardlink to the root directory")
        parent = self.resolve_dir(parts[:-1], name, create=False)
        source = None
        if parent is not None:
            source = self.host(f"{parent}/{parts[-1]}" if parent else parts[-1])
        try:
            st = os.lstat(source) if source is not None else None
        except FileNotFoundError:
            st = None
        if source is None or st is None:
            raise ArchiveError(f"layer entry {name!r}: hardlink target {linkname!r} is missing")
        if stat.S_ISDIR(st.st_mode):
            raise ArchiveError(f"layer entry {name!r}: hardlink target {linkname!r} is a directory")
        if source == path:
            raise ArchiveError(f"layer entry {name!r} is a hardlink to itself")
        self.clear(path)
        os.link(source, path, follow_symlinks=False)
        self.linked(source, path)

    def linked(self, source: str, path: str) -> None:
        """Called after ``path`` became a second name of ``source``."""

    def whiteout(self, name: str, parent_parts: list[str], whiteout: Whiteout) -> None:
        if whiteout.kind is WhiteoutKind.AUFS_META:
            return  # aufs bookkeeping (.wh..wh.plnk and the like), not a deletion
        create = whiteout.kind is WhiteoutKind.OPAQUE or self.create_whiteout_parents
        parent = self.resolve_dir(parent_parts, name, create=create)
        if parent is None:
            return  # nothing below to delete
        if whiteout.kind is WhiteoutKind.OPAQUE:
            self.make_opaque(parent)
            return
        rel = f"{parent}/{whiteout.victim}" if parent else whiteout.victim
        if rel in self.added:
            return  # whiteouts hide lower layers only, never this layer's own entries
        self.delete(rel)

    def delete(self, rel: str) -> None:
        """Remove what the layers below hold at ``rel`` (its parent is already resolved)."""
        self.clear(self.host(rel))

    def make_opaque(self, rel: str) -> None:
        self.opaque.append(rel)

    def sweep_opaque(self, rel: str) -> None:
        """Remove everything under ``rel`` that this layer did not add."""
        try:
            children = list(os.scandir(self.host(rel)))
        except FileNotFoundError:
            return
        for child in children:
            child_rel = f"{rel}/{child.name}" if rel else child.name
            if child_rel not in self.added:
                _remove(child.path)
            elif child.is_dir(follow_symlinks=False):
                self.sweep_opaque(child_rel)

    def finish(self) -> None:
        for rel in self.opaque:
            if self.still_real(rel):
                self.sweep_opaque(rel)
        self.finish_dirs()

    def finish_dirs(self) -> None:
        # Directory modes and mtimes last: creating children changes a directory's mtime,
        # and a read-only directory must still accept this layer's children.
        for rel, mode, mtime in reversed(self.dirs):
            if not self.still_real(rel):
                continue  # replaced later in this layer (by a symlink, a file, a whiteout)
            path = self.host(rel)
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))

    def run(self, fileobj: BinaryIO, limits: Limits | None, what: str) -> None:
        """Apply every entry of ``fileobj`` and finish; errors name ``what`` and the entry."""
        name = "<start>"
        try:
            for member, content in iter_layer(fileobj, limits=limits):
                name = member.name
                self.apply(member, content)
            self.finish()
        except ArchiveError as exc:
            if what and not exc.message.startswith(what):
                raise ArchiveError(f"{what}: {exc.message}") from exc
            raise
        except OSError as exc:
            full = disk_error(exc, f"{what or 'a layer'} into {self.target}")
            if full is not None:
                raise full from exc
            raise ArchiveError(
                f"{what + ': ' if what else ''}cannot unpack layer entry {name!r} into "
                f"{self.target}: {exc.strerror or exc}"
            ) from exc
        except (OverflowError, ValueError) as exc:
            raise ArchiveError(
                f"{what + ': ' if what else ''}layer entry {name!r} has an out-of-range "
                f"field: {exc}"
            ) from exc


def apply_layer(
    fileobj: BinaryIO,
    target: Path,
    *,
    preserve_owner: bool = True,
    limits: Limits | None = None,
) -> None:
    """Unpack one layer blob (gzip, zstd or plain tar) on top of ``target``.

    Raises :class:`ArchiveError` naming the entry for anything hostile or malformed, and
    :class:`StoreError` when the disk fills up.  Device nodes are created only when
    running as root; ownership is applied when ``preserve_owner`` is set and the process
    may change it.  Without ``limits``, :func:`distroless.layers.reader.layer_limits`.
    """
    LayerApplier(target, preserve_owner).run(fileobj, limits, "")


def apply_layers(
    openers: Iterable[Callable[[], BinaryIO]],
    target: Path,
    *,
    preserve_owner: bool = True,
    limits: Limits | None = None,
) -> None:
    """Unpack layers bottom to top; each opener is called (and its stream closed) in turn."""
    for opener in openers:
        with opener() as fileobj:
            apply_layer(fileobj, target, preserve_owner=preserve_owner, limits=limits)
