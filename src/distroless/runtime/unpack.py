"""Unpacking one layer into a directory that overlayfs can use as a lower layer.

Unlike applying a layer onto a merged root, each layer here stays a directory of its
own, so deletions must survive as overlayfs understands them: an OCI ``.wh.NAME`` becomes
a 0/0 character device ``NAME`` and ``.wh..wh..opq`` becomes the ``trusted.overlay.opaque``
attribute of its directory.  Everything else is the library applier's walk
(:class:`distroless.layers.apply.LayerApplier`): the same checks of names, numbers and
whiteouts, the same resolver for parents, so a hostile tar cannot write outside.

Two things differ from a merged root, both because the directory lands in the layer cache
on the host: device nodes are not created (a mode-0 FIFO holds their place
and :class:`~distroless.runtime.treeindex.DeviceNode` describes them for the container),
and every regular file is hashed while it is written, for the cache's record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from distroless.layers.apply import COPY_CHUNK, LayerApplier
from distroless.layers.reader import Limits
from distroless.runtime import namespaces, userns
from distroless.runtime.treeindex import DeviceNode

OPAQUE_XATTR = "trusted.overlay.opaque"
#: the marker overlayfs reads instead when mounted with ``userxattr`` (rootless)
USER_OPAQUE_XATTR = "user.overlay.opaque"
#: what a layer may set on the cache's files: everything else (``trusted.overlay.*``
#: redirects and opaque markers, security labels) would change how the kernel reads them
KEPT_XATTR_PREFIXES = ("user.", "security.capability")
#: ...and ``user.overlay.*`` is what overlayfs reads in place of ``trusted.overlay.*`` when
#: mounted with ``userxattr``, as a rootless command mounts it
DROPPED_XATTR_PREFIXES = ("user.overlay.",)


def opaque_xattr() -> str:
    """The opaque marker this command's overlays read: the ``trusted`` one needs the
    host's root (``CAP_SYS_ADMIN``), so a rootless command
    (:mod:`distroless.runtime.userns`) and a root without that capability (inside an
    unprivileged container, where RUN steps use ``--isolation chroot``) use ``user``."""
    if userns.rootless() or not namespaces.has_sys_admin():
        return USER_OPAQUE_XATTR
    return OPAQUE_XATTR


def is_opaque(path: Path) -> bool:
    """Whether ``path``, in an unpacked layer or an upper directory, is marked opaque."""
    try:
        return os.getxattr(path, opaque_xattr(), follow_symlinks=False) == b"y"
    except OSError:
        return False


def is_whiteout(st: os.stat_result) -> bool:
    """Whether ``st`` is overlayfs's whiteout: a character device 0:0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


@dataclass
class UnpackedLayer:
    """What the cache records about a layer unpacked by :func:`unpack_layer`."""

    devices: list[DeviceNode] = field(default_factory=list)
    #: sha256 of each regular file's content, by ``(st_dev, st_ino)``
    digests: dict[tuple[int, int], str] = field(default_factory=dict)


class _LowerApplier(LayerApplier):
    kept_xattrs = KEPT_XATTR_PREFIXES
    dropped_xattrs = DROPPED_XATTR_PREFIXES
    create_whiteout_parents = True

    def __init__(self, target: Path, preserve_owner: bool) -> None:
        super().__init__(target, preserve_owner)
        self.result = UnpackedLayer()
        self.nodes: dict[str, DeviceNode] = {}  # placeholder path -> the node it stands for
        self._hash: hashlib._Hash | None = None

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    def clear(self, path: str) -> None:
        super().clear(path)
        if self.nodes:  # whatever stood here, and below it, is gone
            gone = self.rel(path)
            for rel in [r for r in self.nodes if r == gone or r.startswith(gone + "/")]:
                del self.nodes[rel]

    def delete(self, rel: str) -> None:
        path = self.host(rel)
        self.clear(path)
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))

    def make_opaque(self, rel: str) -> None:
        os.setxattr(self.host(rel), opaque_xattr(), b"y", follow_symlinks=False)

    def make_device(self, name: str, path: str, member: tarfile.TarInfo) -> None:
        self.clear(path)
        # a FIFO, not a file: what reads the cache directly (a build's COPY --from) skips
        # it as it skips device nodes, and opening it reaches no device
        os.mkfifo(path, 0o000)
        os.chmod(path, 0o000)  # whatever the umask
        rel = self.rel(path)
        self.nodes[rel] = DeviceNode(
            path=rel,
            kind="char" if member.ischr() else "block",
            major=member.devmajor,
            minor=member.devminor,
            mode=stat.S_IMODE(member.mode),
            uid=member.uid if self.preserve_owner else 0,
            gid=member.gid if self.preserve_owner else 0,
            mtime=int(member.mtime),
        )

    def linked(self, source: str, path: str) -> None:
        node = self.nodes.get(self.rel(source))
        if node is not None:  # a second name for a device node is that node again
            rel = self.rel(path)
            self.nodes[rel] = replace(node, path=rel)

    def copy_content(self, content: BinaryIO, out: BinaryIO) -> None:
        digest = hashlib.sha256()
        while chunk := content.read(COPY_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        self._hash = digest

    def wrote_file(self, fd: int) -> None:
        st = os.fstat(fd)
        digest = self._hash if self._hash is not None else hashlib.sha256()
        self._hash = None
        self.result.digests[(st.st_dev, st.st_ino)] = digest.hexdigest()

    def finish(self) -> None:
        super().finish()
        for rel, node in sorted(self.nodes.items()):
            if self.still_real(os.path.dirname(rel)):
                self.result.devices.append(node)


def unpack_layer(
    fileobj: BinaryIO,
    target: Path,
    *,
    what: str = "layer",
    preserve_owner: bool = True,
    limits: Limits | None = None,
) -> UnpackedLayer:
    """Stream the (possibly compressed) layer ``fileobj`` into the empty dir ``target``.

    Raises :class:`ArchiveError` (prefixed with ``what``) for hostile or malformed
    layers and :class:`StoreError` when the disk fills up.
    """
    applier = _LowerApplier(target, preserve_owner)
    applier.run(fileobj, limits, what)
    return applier.result


def remove_tree(path: Path) -> None:
    """Remove an unpacked layer (or a leftover of one), whatever state it is in."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
