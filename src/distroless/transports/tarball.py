"""Image tarballs: ``save`` writes them and ``load`` reads them.

Three shapes are written: ``docker`` (the default) is the combined layout recent Docker
writes, an OCI image layout plus a ``manifest.json`` for the classic loader, so both old
and new ``docker load`` accept it; ``oci`` is the OCI layout alone.  ``load`` reads all of
them and the legacy ``docker save`` layout (``<id>/layer.tar``), verifying every blob by
digest and every layer against the config's ``diff_ids``.  Data streams member by member;
a layer is never held in memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, cast

from distroless.errors import ArchiveError, InputError, IntegrityError
from distroless.layers.compress import (
    DECOMPRESS_ERRORS,
    detect_compression,
    open_decompressed,
)
from distroless.layers.reader import DEFAULT_LIMITS, Limits, bounded_tarinfo, layer_limits
from distroless.oci import mediatypes as mt
from distroless.oci.digest import CHUNK, Digest, is_digest, sha256_file
from distroless.oci.limits import MAX_CONFIG_BYTES, check_document_size
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest, Platform
from distroless.oci.reference import Reference
from distroless.rootpath import MAX_SYMLINK_HOPS, SymlinkLoopError, resolve_in_root
from distroless.store import Store
from distroless.store.store import IMAGE_NAME, LAYOUT, REF_NAME
from distroless.transports.attachments import (
    exported,
    import_attachments,
    is_attachment,
    subjects_of,
)
from distroless.transports.walk import read_verified, walk_descriptors

Format = Literal["docker", "oci"]
#: index.json and manifest.json list every image of the archive, so they get more room
#: than one image's manifest
_MAX_JSON = 16 << 20
_READ_ERRORS: tuple[type[BaseException], ...] = (tarfile.TarError, OSError, *DECOMPRESS_ERRORS)


def _tarinfo(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.mtime = 0
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = _tarinfo(name, 0, 0o755)
    info.type = tarfile.DIRTYPE
    tar.addfile(info)


@dataclass(frozen=True)
class _Saved:
    name: str
    descriptor: Descriptor


def save(
    store: Store,
    names: Iterable[str],
    out: BinaryIO,
    fmt: Format = "docker",
    platform: Platform | None = None,
) -> list[str]:
    """Write the named images to ``out``; returns the names as stored in the archive."""
    named = [(name, store.resolve(name)) for name in names]
    return save_images(store, named, out, fmt, platform)


def save_images(
    store: Store,
    named: Iterable[tuple[str, Descriptor]],
    out: BinaryIO,
    fmt: Format = "docker",
    platform: Platform | None = None,
    *,
    attachments: bool = True,
) -> list[str]:
    """Write stored images to ``out``, each under a name (a reference or its digest) that
    need not be a tag of the store (``build --output name=``); without ``attachments``
    the archive holds the images alone, no SBOMs or signatures."""
    images: list[_Saved] = []
    for name, desc in named:
        shown = name if is_digest(name) else Reference.parse(name).familiar()
        images.append(_Saved(shown, desc))
    if not images:
        raise InputError("save needs at least one image")
    blobs: dict[Digest, Descriptor] = {}
    attached: list[Descriptor] = []
    for image in images:
        for desc in walk_descriptors(image.descriptor, store.read_document):
            blobs.setdefault(desc.digest, desc)
        for entry, needed in exported(store, image.descriptor) if attachments else ():
            if entry not in attached:
                attached.append(entry)
            for desc in needed:
                blobs.setdefault(desc.digest, desc)
    index_entries = []
    for image in images:
        annotations = {}
        if not is_digest(image.name):
            annotations = {REF_NAME: image.name, IMAGE_NAME: str(Reference.parse(image.name))}
        d = image.descriptor
        index_entries.append(Descriptor(d.media_type, d.digest, d.size, annotations, d.platform))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for digest in sorted(blobs):
            with store.open_blob(digest) as fh:
                size = os.fstat(fh.fileno()).st_size
                if size != blobs[digest].size:
                    raise IntegrityError(
                        f"blob {digest} has {size} bytes, its descriptor says "
                        f"{blobs[digest].size}; run `distroless fsck`"
                    )
                tar.addfile(_tarinfo(f"blobs/sha256/{digest[7:]}", size), fh)
        _add_bytes(tar, "index.json", Index((*index_entries, *attached)).to_bytes())
        if fmt == "docker":
            _add_bytes(tar, "manifest.json", _docker_manifest(store, images, platform))
        _add_bytes(tar, "oci-layout", LAYOUT)
    return [image.name for image in images]


def _docker_manifest(store: Store, images: list[_Saved], platform: Platform | None) -> bytes:
    """The classic loader's ``manifest.json``: one single-platform entry per image."""
    entries = []
    for image in images:
        loaded = store.load_image(image.descriptor.digest, platform or Platform.host())
        entries.append(
            {
                "Config": f"blobs/sha256/{loaded.manifest.config.digest[7:]}",
                "RepoTags": [] if is_digest(image.name) else [image.name],
                "Layers": [f"blobs/sha256/{layer.digest[7:]}" for layer in loaded.layers],
            }
        )
    return json.dumps(entries, separators=(",", ":")).encode()


# -- load -----------------------------------------------------------------------------------


class _Archive:
    """Random access to the members of an image tarball (spooled to disk if streamed)."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            self.tar = tarfile.open(  # noqa: SIM115 (closed by close())
                path, mode="r:*", tarinfo=bounded_tarinfo(limits)
            )
        except _READ_ERRORS as exc:
            raise ArchiveError(f"{path}: not a readable tar archive ({exc})") from None
        except ArchiveError as exc:
            raise ArchiveError(f"{path}: {exc}") from None
        try:
            self._index_members()
        except BaseException:
            self.tar.close()
            raise

    def _index_members(self) -> None:
        total = 0
        try:
            for count, m in enumerate(self.tar, 1):
                if count > self.limits.max_entries:
                    raise ArchiveError(f"{self.path}: more than {self.limits.max_entries} members")
                total += max(m.size, 0)
                if total > self.limits.max_total_bytes:
                    raise ArchiveError(
                        f"{self.path}: members exceed the limit of "
                        f"{self.limits.max_total_bytes} bytes at {m.name!r}"
                    )
                self.members[posixpath.normpath(m.name.lstrip("/")).removeprefix("./")] = m
        except _READ_ERRORS as exc:
            raise ArchiveError(f"{self.path}: not a readable tar archive ({exc})") from None
        except ArchiveError as exc:
            if str(exc).startswith(str(self.path)):
                raise
            raise ArchiveError(f"{self.path}: {exc}") from None

    def _readlink(self, rel: str) -> str | None:
        member = self.members.get(rel)
        return member.linkname if member is not None and member.issym() else None

    def _resolve(self, name: str) -> str:
        try:
            return resolve_in_root(name, self._readlink)
        except SymlinkLoopError:
            raise ArchiveError(
                f"{self.path}: member {name!r}: too many links (a link loop)"
            ) from None

    def member(self, name: str) -> tarfile.TarInfo:
        """The regular file member ``name`` leads to, following links only within the archive.

        Symlinks are resolved by the one resolver inside a root, as if the archive were
        unpacked: relative to their directory, absolute ones from the archive's root, never
        above it.  A hard link names another member from the root; a chain of them is
        bounded by the same hop limit.
        """
        key = self._resolve(name)
        for _hop in range(MAX_SYMLINK_HOPS + 1):
            member = self.members.get(key)
            if member is None:
                raise ArchiveError(f"{self.path}: missing member {name!r}")
            if not member.islnk():
                if not member.isfile():
                    raise ArchiveError(f"{self.path}: member {name!r} is not a regular file")
                return member
            target = self._resolve(member.linkname)
            if target == key:
                raise ArchiveError(f"{self.path}: member {name!r} links to itself")
            key = target
        raise ArchiveError(f"{self.path}: member {name!r}: too many links (a link loop)")

    def open(self, name: str) -> BinaryIO:
        """A reader of member ``name`` (see :meth:`member` for how links are followed)."""
        handle = self.tar.extractfile(self.member(name))
        if handle is None:
            raise ArchiveError(f"{self.path}: cannot read member {name!r}")
        return handle  # type: ignore[return-value]

    def read_json(self, name: str) -> object:
        if self.member(name).size > _MAX_JSON:
            raise ArchiveError(f"{self.path}: {name} is implausibly large")
        with self.open(name) as fh:
            data = fh.read(_MAX_JSON + 1)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ArchiveError(f"{self.path}: {name} is not valid JSON ({exc})") from None
        except RecursionError:
            raise ArchiveError(f"{self.path}: {name} nests too deeply") from None

    def read_blob(self, desc: Descriptor) -> bytes:
        """At most ``desc.size + 1`` bytes of the blob ``desc`` names (for verified reads)."""
        name = f"blobs/sha256/{desc.digest[7:]}"
        with self.open(name) as fh:
            return fh.read(desc.size + 1)

    def close(self) -> None:
        self.tar.close()

    def has(self, name: str) -> bool:
        """Whether the archive has an entry of that name (a link there counts)."""
        return posixpath.normpath(name) in self.members


def load(store: Store, source: Path | BinaryIO, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Import every image of a tarball; returns the names tagged (or digests if untagged).

    Nothing is tagged unless everything verified, and blobs written before a failure are
    removed again, so a bad archive leaves the store as it was.  ``limits`` bounds the
    archive's members and headers and how far a compressed layer may expand while its
    diff_id is checked, so a decompression bomb is refused instead of hashed for hours.
    """
    # The session covers the spool in tmp/ too (prune empties tmp/); the transaction encloses
    # the session so that a failed load's blobs are undone once its own lock is released.
    with store.transaction(), store.session():
        return _load(store, source, limits)


def _load(store: Store, source: Path | BinaryIO, limits: Limits) -> list[str]:
    with tempfile.TemporaryDirectory(dir=store.tmp) as spool:
        if isinstance(source, Path):
            if not source.is_file():
                raise InputError(f"{source}: no such file")
            path = source
        else:
            path = Path(spool) / "input.tar"
            with path.open("wb") as fh:
                shutil.copyfileobj(source, fh, CHUNK)
        archive = _Archive(path, limits)
        try:
            with contextlib.closing(archive):
                # A combined archive whose OCI index names its images loads from the index, which
                # keeps multi-platform images whole; manifest.json describes one platform only.
                if archive.has("index.json") and (
                    not archive.has("manifest.json") or _index_names_images(archive)
                ):
                    tags = _load_oci(store, archive)
                elif archive.has("manifest.json"):
                    tags = _load_docker(store, archive)
                else:
                    raise ArchiveError(
                        f"{path}: neither a docker archive (manifest.json) "
                        "nor an OCI layout (index.json)"
                    )
                # one update of index.json for all of them: thousands of tags stay fast
                store.tag_many((name, desc) for name, desc in tags if name)
        except _READ_ERRORS as exc:
            # Store writes raise StoreError themselves; what is left is the archive's fault.
            raise ArchiveError(f"{path}: the archive is corrupt or truncated ({exc})") from exc
        return [name or desc.digest for name, desc in tags]


def _index_names_images(archive: _Archive) -> bool:
    raw = archive.read_json("index.json")
    if not isinstance(raw, dict):
        return False
    entries = [d for d in Index.from_dict(raw).manifests if not is_attachment(d)]

    def names_an_image(d: Descriptor) -> bool:
        try:
            return _tag_name(archive, _entry_name(d), "index.json") is not None
        except ArchiveError:
            return False

    return bool(entries) and all(names_an_image(d) for d in entries)


def _import_blob(store: Store, archive: _Archive, desc: Descriptor) -> None:
    """Store the blob ``desc`` names, checking its size even when the store has it already."""
    try:
        if store.has_descriptor(desc):
            return
        with archive.open(f"blobs/sha256/{desc.digest[7:]}") as fh:
            store.put_descriptor(desc, fh)
    except IntegrityError as exc:
        raise IntegrityError(f"{archive.path}: {exc}") from None


def _entry_name(entry: Descriptor) -> str | None:
    return entry.annotations.get(IMAGE_NAME) or entry.annotations.get(REF_NAME)


def _load_oci(store: Store, archive: _Archive) -> list[tuple[str | None, Descriptor]]:
    raw = archive.read_json("index.json")
    if not isinstance(raw, dict):
        raise ArchiveError(f"{archive.path}: index.json is not an object")
    index = Index.from_dict(raw)
    out: list[tuple[str | None, Descriptor]] = []
    imported: dict[Digest, int] = {}
    subjects: list[str] = []
    for entry in index.manifests:
        if is_attachment(entry):
            continue  # brought in below, with the image it belongs to
        name = _tag_name(archive, _entry_name(entry), "index.json")
        # many tags of one image are many entries naming one manifest: import it once
        if imported.get(entry.digest) != entry.size:
            for desc in _blobs_of(archive, entry):
                _import_blob(store, archive, desc)
            imported[entry.digest] = entry.size
            subjects += subjects_of(entry, archive.read_blob)
        out.append((name, Descriptor(entry.media_type, entry.digest, entry.size)))
    import_attachments(
        store,
        index.manifests,
        subjects,
        archive.read_blob,
        lambda desc: archive.open(f"blobs/sha256/{desc.digest[7:]}"),
        str(archive.path),
    )
    return out


def _blobs_of(archive: _Archive, root: Descriptor) -> list[Descriptor]:
    return list(walk_descriptors(root, archive.read_blob, str(archive.path)))


def _tag_name(archive: _Archive, name: str | None, where: str) -> str | None:
    """The tag ``name`` is stored under; ``None`` for no name or a digest-only reference.

    A name that is not a valid reference is refused, naming it: dropping it would load the
    image untagged without a word, and ``docker load`` refuses it as well.
    """
    if not name:
        return None
    try:
        ref = Reference.parse(name)
    except InputError as exc:
        raise ArchiveError(f"{archive.path}: {where} has an invalid tag: {exc}") from None
    return ref.familiar() if ref.digest is None else None


def _load_docker(store: Store, archive: _Archive) -> list[tuple[str | None, Descriptor]]:
    entries = archive.read_json("manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ArchiveError(f"{archive.path}: manifest.json must be a non-empty list")
    known = _oci_manifests_by_config(archive)
    out: list[tuple[str | None, Descriptor]] = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ArchiveError(f"{archive.path}: manifest.json entry {number} has no Config")
        layers = entry.get("Layers") or []
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ArchiveError(f"{archive.path}: manifest.json entry {number} has bad Layers")
        tags = entry.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ArchiveError(f"{archive.path}: manifest.json entry {number} has bad RepoTags")
        where = f"manifest.json entry {number}"
        names = [_tag_name(archive, t, where) for t in tags] or [None]
        config_name = entry["Config"]
        check_document_size(
            archive.member(config_name).size, mt.OCI_CONFIG, f"{archive.path}: {config_name}"
        )
        with archive.open(config_name) as fh:
            config_bytes = fh.read(MAX_CONFIG_BYTES + 1)
        check_document_size(len(config_bytes), mt.OCI_CONFIG, f"{archive.path}: {config_name}")
        config_digest = store.put_bytes(config_bytes)
        if config_digest in known:
            desc = known[config_digest]
            for blob in _blobs_of(archive, desc):
                _import_blob(store, archive, blob)
        else:
            desc = _synthesise(store, archive, config_bytes, config_digest, layers)
        out.extend((name, desc) for name in names)
    return out


def _oci_manifests_by_config(archive: _Archive) -> dict[str, Descriptor]:
    """Manifests of a combined archive by config digest, so they load byte for byte."""
    if not archive.has("index.json"):
        return {}
    raw = archive.read_json("index.json")
    if not isinstance(raw, dict):
        return {}
    found: dict[str, Descriptor] = {}
    walked: set[str] = set()
    for root in Index.from_dict(raw).manifests:
        if root.digest in walked:
            continue
        walked.add(root.digest)
        for desc in _blobs_of(archive, root):
            if mt.is_manifest(desc.media_type):
                data = read_verified(desc, archive.read_blob, str(archive.path))
                manifest = Manifest.from_bytes(data)
                found[manifest.config.digest] = Descriptor(desc.media_type, desc.digest, desc.size)
    return found


class _Bounded(io.RawIOBase):
    """A decompressed layer that may expand neither past the archive's ``max_total_bytes``
    nor past what one layer may hold (:func:`layer_limits`, 32 GiB unless configured)."""

    def __init__(self, stream: BinaryIO, archive: _Archive, name: str) -> None:
        self._stream = stream
        limit = min(archive.limits.max_total_bytes, layer_limits().max_total_bytes)
        self._limit = self._left = limit
        self._what = f"{archive.path}: layer {name}"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise ArchiveError(f"{self._what} expands beyond the limit of {self._limit} bytes")
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def _synthesise(
    store: Store, archive: _Archive, config_bytes: bytes, config_digest: Digest, layers: list[str]
) -> Descriptor:
    """Build an OCI manifest for a classic docker-archive entry, checking every diff_id."""
    config = ImageConfig.from_bytes(config_bytes)
    if len(layers) != len(config.diff_ids):
        raise IntegrityError(
            f"{archive.path}: {len(layers)} layers but the config lists "
            f"{len(config.diff_ids)} diff_ids"
        )
    descriptors = []
    for name, diff_id in zip(layers, config.diff_ids, strict=True):
        with archive.open(name) as fh:
            digest, size = store.put_file(fh)
        with archive.open(name) as fh:
            compression = detect_compression(fh.read(8))
        if compression == "none":
            actual = digest
        else:
            with archive.open(name) as fh:
                actual, _ = sha256_file(
                    cast(BinaryIO, _Bounded(open_decompressed(fh), archive, name))
                )
        if actual != diff_id:
            raise IntegrityError(
                f"{archive.path}: layer {name} has diff_id {actual}, the config says {diff_id}"
            )
        descriptors.append(Descriptor(mt.layer_type_for("oci", compression), digest, size))
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)), tuple(descriptors)
    )
    return store.put_manifest(manifest)
