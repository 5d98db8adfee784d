"""Unpacking one layer into a directory that overlayfs can use as a lower layer.

Unlike applying a layer onto a merged root, each layer here stays a directory of its
own, so deletions must survive as overlayfs understands them: an OCI ``.wh.NAME`` becomes
a 0/0 character device ``NAME`` and ``.wh..wh..opq`` becomes the ``trusted.overlay.opaque``
attribute of its directory.  The directory starts empty and only this layer is written
into it, yet entries are still checked so a hostile tar cannot write outside it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from distroless.errors import ArchiveError
from distroless.layers.entry import OPAQUE_MARKER, WHITEOUT_PREFIX, normalize_path
from distroless.layers.reader import DEFAULT_LIMITS, Limits, iter_layer

OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20


def _safe_parent(root: Path, rel: str, what: str) -> Path:
    """Create the parents of ``rel`` under ``root``, refusing any that is not a directory."""
    current = root
    for part in posixpath.dirname(rel).split("/"):
        if not part:
            continue
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise ArchiveError(f"{what}: entry {rel!r} has a parent that is not a directory")
    return current


def _plain_path(root: Path, rel: str) -> bool:
    """True when ``rel`` exists under ``root`` with no symlink among its parents."""
    current = root
    parts = rel.split("/")
    for part in parts[:-1]:
        current = current / part
        if not current.is_dir() or current.is_symlink():
            return False
    return os.path.lexists(current / parts[-1])


def _remove(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply_meta(path: Path, info: tarfile.TarInfo, preserve_owner: bool) -> None:
    if preserve_owner:
        os.lchown(path, info.uid, info.gid)
    if not info.issym():
        os.chmod(path, stat.S_IMODE(info.mode))
    for key, value in (info.pax_headers or {}).items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            try:
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"),
                            follow_symlinks=False)  # fmt: skip
            except OSError:
                continue  # an xattr the file system refuses is not fatal (docker agrees)
    os.utime(path, (info.mtime, info.mtime), follow_symlinks=False)


def unpack_layer(
    fileobj: BinaryIO,
    target: Path,
    *,
    what: str = "layer",
    preserve_owner: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Stream the (possibly compressed) layer ``fileobj`` into the empty dir ``target``."""
    dirs: list[tuple[Path, tarfile.TarInfo]] = []
    name = "<start>"
    try:
        for info, content in iter_layer(fileobj, limits=limits):
            name = info.name
            _unpack_one(info, content, target, what, preserve_owner=preserve_owner, dirs=dirs)
    except ArchiveError as exc:
        if exc.message.startswith(what):
            raise
        raise ArchiveError(f"{what}: {exc.message}") from exc
    except OSError as exc:
        raise ArchiveError(f"{what}: cannot unpack into {target}: {exc.strerror or exc}") from exc
    except (OverflowError, ValueError) as exc:
        # Tar headers can carry ids and device numbers no kernel call accepts.
        raise ArchiveError(f"{what}: entry {name!r} has an out-of-range field ({exc})") from exc
    # Directory times last: writing into a directory changes its mtime.
    for path, info in reversed(dirs):
        os.utime(path, (info.mtime, info.mtime), follow_symlinks=False)


def _unpack_one(
    info: tarfile.TarInfo,
    content: BinaryIO | None,
    target: Path,
    what: str,
    *,
    preserve_owner: bool,
    dirs: list[tuple[Path, tarfile.TarInfo]],
) -> None:
    try:
        rel = normalize_path(info.name)
    except ArchiveError:
        if posixpath.normpath("/" + info.name) == "/":
            return  # "./" itself: the layer root carries no content
        raise ArchiveError(f"{what}: entry {info.name!r} escapes the layer root") from None
    parent = _safe_parent(target, rel, what)
    name = posixpath.basename(rel)
    if name == OPAQUE_MARKER:
        os.setxattr(parent, OPAQUE_XATTR, b"y")
        return
    if name.startswith(WHITEOUT_PREFIX):
        victim = parent / name[len(WHITEOUT_PREFIX) :]
        _remove(victim)
        os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    path = parent / name
    existing = None
    with contextlib.suppress(FileNotFoundError):
        existing = os.lstat(path)
    if existing is not None and not (info.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(path)
    if info.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            os.mkdir(path, 0o700)
        dirs.append((path, info))
    elif info.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            while content is not None and (chunk := content.read(_CHUNK)):
                out.write(chunk)
    elif info.issym():
        os.symlink(info.linkname, path)
    elif info.islnk():
        link_rel = normalize_path(info.linkname)
        source = target / link_rel
        if not _plain_path(target, link_rel):
            raise ArchiveError(
                f"{what}: hard link {rel!r} points to {info.linkname!r}, not an earlier entry"
            )
        os.link(source, path, follow_symlinks=False)
        return  # a hard link shares its target's metadata
    elif info.ischr() or info.isblk() or info.isfifo():
        kind = stat.S_IFCHR if info.ischr() else stat.S_IFBLK if info.isblk() else stat.S_IFIFO
        os.mknod(path, kind | 0o600, os.makedev(info.devmajor, info.devminor))
    else:
        raise ArchiveError(f"{what}: entry {rel!r} has an unsupported type {info.type!r}")
    _apply_meta(path, info, preserve_owner)
