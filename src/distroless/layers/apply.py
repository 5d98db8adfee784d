"""Unpacking layers into a root file system, safely, with OCI whiteout semantics.

Layers come from registries and archives we do not trust, and the result is handed to
runc, scanned by ``check`` and read by ``sbom``, so no entry may touch anything outside
``target``.  Every parent path is resolved here, component by component, with ``lstat``:
a symlink met on the way is followed the way the container itself would see it (an
absolute link starts again at ``target``, ``..`` stops at ``target``), so a link can
never lead out; the last component is never followed (files are created with
``O_NOFOLLOW | O_EXCL`` after whatever was there is removed).  Names that are absolute or
contain ``..`` are refused outright: no honest layer writer produces them.

Whiteouts (``.wh.NAME``) delete ``NAME`` from the layers below; an opaque marker
(``.wh..wh..opq``) empties its directory of lower content but keeps what the same
layer adds, whatever the order of entries in the archive.  A failed apply leaves
``target`` partly written: callers unpack into a fresh directory and discard it on error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from distroless.errors import ArchiveError
from distroless.layers.entry import OPAQUE_MARKER, WHITEOUT_PREFIX
from distroless.layers.reader import DEFAULT_LIMITS, Limits, iter_layer

MAX_SYMLINK_HOPS = 40
COPY_CHUNK = 1 << 20
_AUFS_META_PREFIX = WHITEOUT_PREFIX + WHITEOUT_PREFIX
_MAX_ID = (1 << 32) - 2  # (uid_t)-1 means "unchanged" to chown
_MAX_DEV = (1 << 31) - 1  # what os.makedev accepts


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


class _Applier:
    def __init__(self, target: Path, preserve_owner: bool) -> None:
        target.mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(target)
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
        stack: list[str] = []
        pending = deque(parts)
        hops = 0
        while pending:
            comp = pending.popleft()
            if comp in ("", "."):
                continue
            if comp == "..":
                if stack:
                    stack.pop()
                continue
            rel = "/".join([*stack, comp])
            path = self.host(rel)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    return None
                os.mkdir(path, 0o755)
                self.added.add(rel)
                stack.append(comp)
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise ArchiveError(f"layer entry {name!r}: too many symlinks in its path")
                link = os.readlink(path)
                if link.startswith("/"):
                    stack = []
                pending.extendleft(reversed(link.split("/")))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise ArchiveError(f"layer entry {name!r}: parent {'/' + rel!r} is not a directory")
            self.added.add(rel)
            stack.append(comp)
        return "/".join(stack)

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

    def apply(self, member: tarfile.TarInfo, content: BinaryIO | None) -> None:
        name = member.name
        parts = _split(name)
        _check_numbers(member)
        if not parts:
            return  # the root directory itself keeps the target's own metadata
        if any(p.startswith(_AUFS_META_PREFIX) for p in parts[:-1]):
            return  # inside aufs bookkeeping directories (.wh..wh.plnk/...)
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self.whiteout(name, parts[:-1], base)
            return
        parent = self.resolve_dir(parts[:-1], name, create=True)
        assert parent is not None
        rel = f"{parent}/{base}" if parent else base
        path = self.host(rel)
        mtime = int(member.mtime)
        mode = stat.S_IMODE(member.mode)
        if member.isdir():
            self.make_dir(name, path, member)
            self.dirs.append((rel, mode, mtime))
            self.added.add(rel)
            return
        if member.isreg():
            self.clear(path)
            self.write_file(name, path, member, content)
        elif member.issym():
            self.clear(path)
            os.symlink(member.linkname, path)
            self.chown(name, path, member.uid, member.gid)
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        elif member.islnk():
            self.hardlink(name, path, member.linkname)
        elif member.ischr() or member.isblk():
            if not self.privileged:
                return  # only root may create device nodes; runc provides /dev anyway
            self.clear(path)
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            try:
                os.mknod(path, mode | kind, os.makedev(member.devmajor, member.devminor))
            except PermissionError:
                return  # root in a user namespace cannot either
            self.finish_node(name, path, member)
        elif member.isfifo():
            self.clear(path)
            os.mkfifo(path, 0o600)
            self.finish_node(name, path, member)
        else:
            raise ArchiveError(f"layer entry {name!r} has unsupported tar type {member.type!r}")
        self.added.add(rel)

    def clear(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            _remove(path)

    def make_dir(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISDIR(st.st_mode):
            _remove(path)
            st = None
        if st is None:
            os.mkdir(path, 0o700)
        self.chown(name, path, member.uid, member.gid)

    def write_file(
        self, name: str, path: str, member: tarfile.TarInfo, content: BinaryIO | None
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            if content is not None:
                shutil.copyfileobj(content, out, COPY_CHUNK)
            out.flush()
            self.chown(name, fd, member.uid, member.gid)
            # After chown, which clears setuid/setgid bits.
            os.fchmod(fd, stat.S_IMODE(member.mode))
            mtime = int(member.mtime)
            os.utime(fd, (mtime, mtime))

    def finish_node(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        self.chown(name, path, member.uid, member.gid)
        os.chmod(path, stat.S_IMODE(member.mode))
        mtime = int(member.mtime)
        os.utime(path, (mtime, mtime), follow_symlinks=False)

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

    def whiteout(self, name: str, parent_parts: list[str], base: str) -> None:
        if base == OPAQUE_MARKER:
            parent = self.resolve_dir(parent_parts, name, create=True)
            assert parent is not None
            self.opaque.append(parent)
            return
        if base.startswith(_AUFS_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk and the like), not a deletion
        victim = base[len(WHITEOUT_PREFIX) :]
        if victim in ("", ".", ".."):
            raise ArchiveError(f"layer entry {name!r} is a whiteout of nothing")
        parent = self.resolve_dir(parent_parts, name, create=False)
        if parent is None:
            return
        rel = f"{parent}/{victim}" if parent else victim
        if rel in self.added:
            return  # whiteouts hide lower layers only, never this layer's own entries
        self.clear(self.host(rel))

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
            self.sweep_opaque(rel)
        # Directory modes and mtimes last: creating children changes a directory's mtime,
        # and a read-only directory must still accept this layer's children.
        for rel, mode, mtime in reversed(self.dirs):
            path = self.host(rel)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(st.st_mode):
                os.chmod(path, mode)
                os.utime(path, (mtime, mtime))


def apply_layer(
    fileobj: BinaryIO,
    target: Path,
    *,
    preserve_owner: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Unpack one layer blob (gzip, zstd or plain tar) on top of ``target``.

    Raises :class:`ArchiveError` naming the entry for anything hostile or malformed.
    Device nodes are created only when running as root; ownership is applied when
    ``preserve_owner`` is set and the process may change it.
    """
    applier = _Applier(target, preserve_owner)
    name = "<start>"
    try:
        for member, content in iter_layer(fileobj, limits=limits):
            name = member.name
            applier.apply(member, content)
        applier.finish()
    except ArchiveError:
        raise
    except OSError as exc:
        raise ArchiveError(
            f"cannot unpack layer entry {name!r} into {target}: {exc.strerror or exc}"
        ) from exc
    except (OverflowError, ValueError) as exc:
        raise ArchiveError(f"layer entry {name!r} has an out-of-range field: {exc}") from exc


def apply_layers(
    openers: Iterable[Callable[[], BinaryIO]],
    target: Path,
    *,
    preserve_owner: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Unpack layers bottom to top; each opener is called (and its stream closed) in turn."""
    for opener in openers:
        with opener() as fileobj:
            apply_layer(fileobj, target, preserve_owner=preserve_owner, limits=limits)
