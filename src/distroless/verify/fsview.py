"""The flattened file system of an image, read from its layers without extracting them.

Checks and tests ask questions like "is there an executable called ``sh``" or "what does
``/etc/os-release`` point to".  Answering them must not need root, a sandbox or disk space
for a rootfs, so the layers are walked bottom-up once and only their metadata is kept:
whiteouts and opaque directories are applied to an in-memory map of path -> :class:`Node`.
Contents are read on demand by streaming the one layer that holds the file again.
"""

from __future__ import annotations

import contextlib
import posixpath
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from distroless.errors import ArchiveError, NotFoundError
from distroless.layers.entry import EntryType, WhiteoutKind, parse_whiteout
from distroless.layers.reader import iter_layer
from distroless.rootpath import MAX_SYMLINK_HOPS, SymlinkLoopError, resolve_in_root
from distroless.verify.image import ImageHandle

#: the pax header of a file with capabilities (all a view keeps of pax headers)
CAPABILITY_XATTR = "SCHILY.xattr.security.capability"

_TAR_TYPES: dict[bytes, EntryType] = {
    tarfile.REGTYPE: EntryType.FILE,
    tarfile.AREGTYPE: EntryType.FILE,
    tarfile.CONTTYPE: EntryType.FILE,
    tarfile.DIRTYPE: EntryType.DIR,
    tarfile.SYMTYPE: EntryType.SYMLINK,
    tarfile.LNKTYPE: EntryType.HARDLINK,
    tarfile.CHRTYPE: EntryType.CHAR,
    tarfile.BLKTYPE: EntryType.BLOCK,
    tarfile.FIFOTYPE: EntryType.FIFO,
}


@dataclass(frozen=True)
class Node:
    """Metadata of one path of the flattened image; ``layer`` is the index that last set it."""

    path: str
    type: EntryType
    mode: int
    uid: int
    gid: int
    size: int
    linkname: str
    layer: int
    capabilities: bool = False  # a security.capability xattr: privileges like setuid's

    @property
    def is_file(self) -> bool:
        return self.type in (EntryType.FILE, EntryType.HARDLINK)

    @property
    def is_dir(self) -> bool:
        return self.type is EntryType.DIR

    @property
    def is_symlink(self) -> bool:
        return self.type is EntryType.SYMLINK


def _layer_path(name: str) -> str:
    cleaned = posixpath.normpath("/" + name)
    # normpath keeps a leading "//"; a tar member never means that
    return "/" + cleaned.lstrip("/") if cleaned != "/" else "/"


def _is_under(path: str, directory: str) -> bool:
    return directory in ("/", path) or path.startswith(directory + "/")


_ROOT = Node("/", EntryType.DIR, 0o755, 0, 0, 0, "", -1)

#: Called for every member of every layer while a view is built, with the layer index, the
#: member's path in the image, the member, and (for regular files) its content stream, valid
#: only during the call.  It lets a reader that needs file contents (the SBOM) take them in
#: the same pass that builds the view instead of streaming the layers again.
Visitor = Callable[[int, str, tarfile.TarInfo, BinaryIO | None], None]
#: Given a layer index, that layer's members (metadata only) if they are known without
#: reading the layer, else None.
Known = Callable[[int], Iterator[tuple[tarfile.TarInfo, None]] | None]


class FileSystemView:
    """Path -> :class:`Node` for the merged layers of one image, with in-image lookups."""

    def __init__(
        self,
        image: ImageHandle,
        nodes: dict[str, Node],
        layer_stats: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.image = image
        #: per layer: (number of tar entries, bytes of regular-file content)
        self.layer_stats = layer_stats
        self._nodes = nodes
        nodes.setdefault("/", _ROOT)
        self._sorted: list[Node] | None = None
        self._parents: set[str] = set()
        for path in nodes:
            parent = posixpath.dirname(path)
            while parent not in self._parents and parent != "/":
                self._parents.add(parent)
                parent = posixpath.dirname(parent)

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_image(
        cls, image: ImageHandle, visit: Visitor | None = None, known: Known | None = None
    ) -> FileSystemView:
        """Merge every layer of ``image``, bottom-up, reading each layer once.

        ``visit`` sees every member on the way (see :data:`Visitor`); what it reads of a
        content stream is not read again.  ``known`` may give a layer's members without
        reading it (see :data:`Known`); ``visit`` does not see those.
        """
        nodes: dict[str, Node] = {}
        stats = []
        for index, desc in enumerate(image.layers):
            replayed = known(index) if known is not None else None
            if replayed is not None:
                stats.append(_apply_layer(nodes, index, replayed))
                continue
            with image.open_layer(index) as blob:
                try:
                    members = iter_layer(blob)
                    if visit is not None:
                        members = _visiting(index, members, visit)
                    stats.append(_apply_layer(nodes, index, members))
                except ArchiveError as exc:
                    raise ArchiveError(
                        f"image {image.name}, layer {index} ({desc.digest}): {exc}"
                    ) from exc
        return cls(image, nodes, tuple(stats))

    # -- queries -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._nodes)

    def nodes(self) -> Iterator[Node]:
        """Every node, in path order (sorted once; the view never changes)."""
        if self._sorted is None:
            self._sorted = [self._nodes[p] for p in sorted(self._nodes)]
        yield from self._sorted

    def get(self, path: str) -> Node | None:
        """The node at exactly ``path`` without following any symlink (``lstat``)."""
        return self._nodes.get(_layer_path(path))

    def resolve(self, path: str, *, follow_last: bool = True) -> str | None:
        """The canonical path of ``path`` inside the image, following symlinks like the kernel.

        The walk is the one resolver inside a root (:mod:`distroless.rootpath`): absolute
        link targets start again at the image root and ``..`` stops there, as in a
        container.  ``None`` when the path leads nowhere: a missing component, a file used
        as a directory (``ENOTDIR``), or too many links.
        """
        walk = _ViewWalk(self)
        try:
            rel = resolve_in_root(path, walk.readlink, follow_last=follow_last)
        except (SymlinkLoopError, _Nowhere):
            return None
        resolved = "/" + rel
        if walk.non_directory not in (None, resolved):
            return None  # a file was met and then left again: it was used as a directory
        if rel and resolved not in self._nodes and not self._has_children(resolved):
            return None  # the last component does not exist
        return resolved

    def lookup(self, path: str, *, follow: bool = True) -> Node | None:
        """The node ``path`` names once symlinks are followed (``stat``); ``lstat`` if not."""
        resolved = self.resolve(path, follow_last=follow)
        if resolved is None:
            return None
        node = self._nodes.get(resolved)
        if node is None and self._has_children(resolved):
            return Node(resolved, EntryType.DIR, 0o755, 0, 0, 0, "", -1)
        return node

    def exists(self, path: str, *, follow: bool = True) -> bool:
        return self.lookup(path, follow=follow) is not None

    def listdir(self, path: str) -> list[str]:
        """Names directly inside directory ``path`` (symlinks followed), sorted."""
        resolved = self.resolve(path)
        if resolved is None:
            return []
        prefix = resolved.rstrip("/") + "/"
        names = {p[len(prefix) :].split("/", 1)[0] for p in self._nodes if p.startswith(prefix)}
        return sorted(n for n in names if n)

    def _has_children(self, path: str) -> bool:
        return path in self._parents

    # -- contents ----------------------------------------------------------------------

    def content_node(self, path: str) -> Node | None:
        """The node whose layer holds the bytes of ``path`` (symlinks and hard links followed).

        ``None`` when ``path`` is not a regular file; its ``(layer, path)`` is where a
        :data:`Visitor` saw the bytes.
        """
        return self._content_node(path)

    def _content_node(self, path: str) -> Node | None:
        """The node whose layer holds the bytes of ``path`` (symlinks and hard links followed)."""
        node = self.lookup(path)
        if node is None or not node.is_file:
            return None
        hops = 0
        while node.type is EntryType.HARDLINK:
            target = self._nodes.get(_layer_path(node.linkname))
            hops += 1
            if target is None or hops > MAX_SYMLINK_HOPS:
                raise ArchiveError(f"{path}: hard link to missing {node.linkname!r}")
            node = target
        return node

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        """Stream the content of regular file ``path`` (symlinks followed) from its layer."""
        node = self._content_node(path)
        if node is None:
            raise NotFoundError(f"{path} is not a regular file in image {self.image.name}")
        with self.image.open_layer(node.layer) as blob:
            for member, stream in iter_layer(blob):
                if _layer_path(member.name) == node.path and stream is not None:
                    yield stream
                    return
        raise ArchiveError(f"{node.path} vanished from layer {node.layer} of {self.image.name}")

    def read_many(self, paths: Iterable[str], limit: int = 16 << 20) -> dict[str, bytes]:
        """Contents of many small files, streaming each layer involved only once.

        Package metadata is spread over every layer of an image (or packed into one big
        layer); reading file by file would stream a big layer once per file.  Paths that
        are not regular files are left out of the result.
        """
        wanted: dict[int, dict[str, list[str]]] = {}
        for path in paths:
            node = self._content_node(path)
            if node is not None:
                wanted.setdefault(node.layer, {}).setdefault(node.path, []).append(path)
        out: dict[str, bytes] = {}
        for layer in sorted(wanted):
            targets = wanted[layer]
            remaining = set(targets)
            with self.image.open_layer(layer) as blob:
                for member, stream in iter_layer(blob):
                    member_path = _layer_path(member.name)
                    if member_path not in remaining or stream is None:
                        continue
                    data = stream.read(limit + 1)
                    if len(data) > limit:
                        raise ArchiveError(
                            f"{member_path} in image {self.image.name} is larger than {limit} bytes"
                        )
                    for path in targets[member_path]:
                        out[path] = data
                    remaining.discard(member_path)
                    if not remaining:
                        break
        return out

    def read_bytes(self, path: str, limit: int = 16 << 20) -> bytes:
        """The content of a small file (status.d entries, copyright files, passwd)."""
        with self.open(path) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise ArchiveError(f"{path} in image {self.image.name} is larger than {limit} bytes")
        return data

    def read_text(self, path: str, limit: int = 16 << 20) -> str:
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")


class _Nowhere(Exception):
    """A component of a path under resolution does not exist (raised by :class:`_ViewWalk`)."""


class _ViewWalk:
    """The :data:`~distroless.rootpath.ReadLink` of one resolution over a view's nodes.

    Besides answering "is this a symlink", it keeps what the kernel would refuse: a
    component that does not exist (``ENOENT``), and a non-directory that the walk goes on
    from (``ENOTDIR``).  The resolver asks about every component it appends except, with
    ``follow_last`` off, the last one; so a non-directory seen before any later question was
    not the last component, and one seen last must be the final result.
    """

    def __init__(self, view: FileSystemView) -> None:
        self._view = view
        #: the last non-directory the walk appended, if any (only the result may be one)
        self.non_directory: str | None = None

    def readlink(self, rel: str) -> str | None:
        if self.non_directory is not None:
            raise _Nowhere(rel)  # the walk continued past a file
        path = "/" + rel
        node = self._view._nodes.get(path)
        if node is None:
            if self._view._has_children(path):
                return None  # a directory implied by its contents
            raise _Nowhere(rel)
        if node.is_symlink:
            return node.linkname
        if not node.is_dir:
            self.non_directory = path
        return None


def _visiting(
    index: int, members: Iterator[tuple[tarfile.TarInfo, BinaryIO | None]], visit: Visitor
) -> Iterator[tuple[tarfile.TarInfo, BinaryIO | None]]:
    for member, stream in members:
        visit(index, _layer_path(member.name), member, stream)
        yield member, stream


def _apply_layer(
    nodes: dict[str, Node],
    index: int,
    members: Iterator[tuple[tarfile.TarInfo, BinaryIO | None]],
) -> tuple[int, int]:
    """Apply one layer: its whiteouts hide lower content, then its entries are added.

    Returns the layer's entry count and content bytes, for size reports.
    """
    deletions: list[str] = []
    opaque: list[str] = []
    added: dict[str, Node] = {}
    entries = 0
    content = 0
    for member, _ in members:
        entries += 1
        if member.isreg():
            content += member.size
        path = _layer_path(member.name)
        parent, base = posixpath.split(path)
        whiteout = parse_whiteout(base, member.name)  # refuses whiteouts of "", ".", ".."
        if whiteout is not None:
            if whiteout.kind is WhiteoutKind.OPAQUE:
                opaque.append(parent)
            elif whiteout.kind is WhiteoutKind.DELETE:
                deletions.append(posixpath.join(parent, whiteout.victim))
            continue
        kind = _TAR_TYPES.get(member.type)
        if kind is None:
            raise ArchiveError(f"layer {index}: entry {member.name!r} has unknown type")
        linkname = member.linkname
        if kind is EntryType.HARDLINK:
            linkname = _layer_path(linkname)
        added[path] = Node(
            path=path,
            type=kind,
            mode=member.mode & 0o7777,
            uid=member.uid,
            gid=member.gid,
            size=member.size if kind is EntryType.FILE else 0,
            linkname=linkname,
            layer=index,
            capabilities=CAPABILITY_XATTR in member.pax_headers,
        )
    for directory in opaque:
        for path in [p for p in nodes if _is_under(p, directory) and p != directory]:
            del nodes[path]
    for gone in deletions:
        for path in [p for p in nodes if _is_under(p, gone)]:
            del nodes[path]
    for path in sorted(added):
        node = added[path]
        old = nodes.get(path)
        if old is not None and old.is_dir and not node.is_dir:
            for child in [p for p in nodes if _is_under(p, path)]:
                del nodes[child]
        if node.type is EntryType.HARDLINK:
            target = added.get(node.linkname) or nodes.get(node.linkname)
            if target is not None and target.type is EntryType.FILE:
                node = Node(
                    node.path,
                    EntryType.HARDLINK,
                    target.mode,
                    target.uid,
                    target.gid,
                    target.size,
                    node.linkname,
                    node.layer,
                    target.capabilities,
                )
        nodes[path] = node
    return entries, content
