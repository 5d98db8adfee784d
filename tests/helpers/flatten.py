"""Read a saved image tarball (``docker save`` or ``distroless save``) back as config + files.

The differential tests compare what two builders produced without trusting either one's
code: this module knows only the archive formats (docker-archive ``manifest.json`` and the
OCI image layout) and the layer rules (whiteouts, opaque directories, implicit parents), so
it reads docker's output and ours the same way.  Layers are streamed and file contents are
hashed as they are read; nothing holds a layer in memory.

Hard links are resolved to the node they point at (same type, mode, owner and digest), since
which of two linked names a tar stores first is an accident of the writer's walk order.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, cast

from backports import zstd

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


class ArchiveError(ValueError):
    """The tarball is not a saved image this reader understands."""


@dataclass(frozen=True)
class Node:
    """One path of a flattened filesystem, with the attributes a builder is judged on."""

    type: str
    mode: int
    uid: int
    gid: int
    digest: str | None = None  # sha256 of a regular file's content
    link: str | None = None  # a symlink's target; "major:minor" for devices
    implicit: bool = False  # a parent directory no layer wrote (created 0755 root on unpack)
    sample: bytes | None = field(default=None, compare=False)  # content, if at most 200 bytes

    def describe(self) -> str:
        text = f"{self.type} {self.mode:04o} {self.uid}:{self.gid}"
        if self.sample is not None:
            text += f" {self.sample!r}"
        elif self.digest is not None:
            text += f" {self.digest[:19]}"
        if self.link is not None:
            text += f" -> {self.link}"
        return text + (" (implicit)" if self.implicit else "")


IMPLICIT_DIR = Node("dir", 0o755, 0, 0, implicit=True)


@dataclass(frozen=True)
class SavedImage:
    """The image config (as JSON) and the filesystem its layers add up to."""

    config: Mapping[str, Any]
    files: Mapping[str, Node]
    layer_count: int


def clean_path(name: str) -> str:
    """A tar member name as a path relative to the root: no ``./``, no leading or trailing /."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def _open_layer(raw: IO[bytes]) -> IO[bytes]:
    """A layer blob may be plain, gzip, bzip2, xz (tarfile sniffs those) or zstd."""
    head = raw.read(4)
    raw.seek(0)
    if head == _ZSTD_MAGIC:
        return cast(IO[bytes], zstd.ZstdFile(raw))
    return raw


@dataclass(frozen=True)
class _Change:
    path: str
    node: Node | None = None  # None: a whiteout of ``path``
    opaque: bool = False  # ``path`` is a directory whose lower content is hidden
    hardlink: str | None = None


SAMPLE_SIZE = 200


def _hash(stream: IO[bytes] | None) -> tuple[str, bytes | None]:
    """The content digest, and the content itself when it is small enough to show."""
    digest = hashlib.sha256()
    head = b""
    if stream is not None:
        while chunk := stream.read(1 << 20):
            if len(head) <= SAMPLE_SIZE:
                head += chunk[: SAMPLE_SIZE + 1]
            digest.update(chunk)
    return "sha256:" + digest.hexdigest(), (head if len(head) <= SAMPLE_SIZE else None)


def layer_changes(stream: IO[bytes]) -> Iterator[_Change]:
    """The entries of one layer tar, in order, with file contents reduced to digests.

    ``stream`` must be seekable (a member of the saved archive is) so the compression can be
    sniffed."""
    with tarfile.open(fileobj=_open_layer(stream), mode="r|*") as tar:
        for member in tar:
            path = clean_path(member.name)
            base = path.rsplit("/", 1)[-1]
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            if base == OPAQUE:
                yield _Change(parent, opaque=True)
                continue
            if base.startswith(WHITEOUT):
                name = base[len(WHITEOUT) :]
                yield _Change(f"{parent}/{name}" if parent else name)
                continue
            if not path:
                continue  # the root itself: its metadata is not part of the comparison
            if member.islnk():
                yield _Change(path, hardlink=clean_path(member.linkname))
                continue
            kind = _TYPES.get(member.type)
            if kind is None:
                raise ArchiveError(f"unsupported tar member type {member.type!r} for {path}")
            digest = link = sample = None
            if kind == "file":
                digest, sample = _hash(tar.extractfile(member))
            elif kind == "symlink":
                link = member.linkname
            elif kind in ("char", "block"):
                link = f"{member.devmajor}:{member.devminor}"
            node = Node(kind, member.mode & 0o7777, member.uid, member.gid, digest, link)
            if sample is not None:
                node = replace(node, sample=sample)
            yield _Change(path, node)


def _drop_tree(files: dict[str, Node], path: str, *, keep_self: bool = False) -> None:
    prefix = path + "/" if path else ""
    for name in [n for n in files if n.startswith(prefix)]:
        del files[name]
    if not keep_self:
        files.pop(path, None)


def apply_layer(files: dict[str, Node], changes: Iterable[_Change]) -> None:
    """Apply one layer to ``files`` as an unpacker does.

    Whiteouts and opaque markers hide what lower layers had, never what the same layer adds,
    so they are applied first; then the layer's own entries replace what was there (a
    non-directory replacing a directory takes the directory's content with it).
    """
    entries = list(changes)
    for change in entries:
        if change.opaque:
            _drop_tree(files, change.path, keep_self=True)
        elif change.node is None and change.hardlink is None:
            _drop_tree(files, change.path)
    for change in entries:
        if change.opaque or (change.node is None and change.hardlink is None):
            continue
        node = change.node
        if change.hardlink is not None:
            node = files.get(change.hardlink)
            if node is None:
                raise ArchiveError(f"hard link {change.path} to missing {change.hardlink}")
        assert node is not None
        old = files.get(change.path)
        if old is not None and old.type == "dir" and node.type != "dir":
            _drop_tree(files, change.path)
        parts = change.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if files.get(parent, IMPLICIT_DIR).type != "dir":
                _drop_tree(files, parent)
            files.setdefault(parent, IMPLICIT_DIR)
        files[change.path] = node


def _json_member(tar: tarfile.TarFile, name: str) -> Any:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ArchiveError(f"{name} is missing from the archive") from None
    extracted = tar.extractfile(member)
    if extracted is None:
        raise ArchiveError(f"{name} is not a regular file")
    with extracted:
        return json.load(extracted)


def _blob_name(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _config_and_layers(tar: tarfile.TarFile, ref: str | None) -> tuple[Any, list[str]]:
    names = set(tar.getnames())
    if "manifest.json" in names:
        entries = _json_member(tar, "manifest.json")
        chosen = entries[0]
        if ref is not None:
            tagged = [e for e in entries if ref in (e.get("RepoTags") or [])]
            if not tagged:
                raise ArchiveError(f"{ref} is not in the archive's manifest.json")
            chosen = tagged[0]
        return _json_member(tar, chosen["Config"]), list(chosen["Layers"])
    if "index.json" not in names:
        raise ArchiveError("neither manifest.json nor index.json: not a saved image")
    index = _json_member(tar, "index.json")
    manifest = _json_member(tar, _blob_name(index["manifests"][0]["digest"]))
    if "manifests" in manifest:
        raise ArchiveError("an image index: save one platform to compare it")
    config = _json_member(tar, _blob_name(manifest["config"]["digest"]))
    return config, [_blob_name(layer["digest"]) for layer in manifest["layers"]]


def read_saved(archive: Path, ref: str | None = None) -> SavedImage:
    """The config and flattened filesystem of ``ref`` (or the only image) in ``archive``."""
    with tarfile.open(archive, mode="r:") as tar:
        config, layers = _config_and_layers(tar, ref)
        files: dict[str, Node] = {}
        for name in layers:
            blob = tar.extractfile(name)
            if blob is None:
                raise ArchiveError(f"layer {name} is not a regular file")
            with blob:
                apply_layer(files, layer_changes(blob))
    return SavedImage(config=config, files=files, layer_count=len(layers))
