"""OCI image layout directories as a source and a sink (``oci:DIR[:TAG]``).

A layout written here is the same shape as the store (``oci-layout``, ``index.json``,
``blobs/sha256``); an existing layout is extended, and an entry with the same tag is
replaced.  Reading never writes into the source directory.

The directory itself is the user's, but what is inside may come from anyone (a layout
handed over by another party, or a shared output directory), so nothing in it is trusted:
files are opened without following links and only if they are regular files (a FIFO would
block the read, ``/dev/zero`` behind a link would never end), documents are bounded by
size and checked against their descriptors, and blobs are written under fresh random names
and renamed into place, never through a name found there.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import BinaryIO

from distroless.errors import ArchiveError, IntegrityError, NotFoundError
from distroless.oci.digest import CHUNK, sha256_file
from distroless.oci.models import Descriptor, Index, load_json
from distroless.store import Store
from distroless.store.atomic import atomic_blob, atomic_write_bytes
from distroless.store.store import IMAGE_NAME, LAYOUT, REF_NAME, SUBJECT
from distroless.transports.attachments import (
    exported,
    import_attachments,
    is_attachment,
    subjects_of,
)
from distroless.transports.walk import walk_descriptors

#: index.json of a layout lists every image in it, so it gets more room than one manifest
_MAX_INDEX = 16 << 20


def _blob_dir(layout: Path) -> Path:
    """``blobs/sha256`` of ``layout``, refusing a link at either level (a planted redirect)."""
    path = layout
    for part in ("blobs", "sha256"):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(mode):
            raise ArchiveError(f"{layout}: {path.relative_to(layout)} is not a directory")
    return layout / "blobs" / "sha256"


def _open(path: Path, what: str) -> BinaryIO:
    """Open a regular file of the layout: never through a link, never blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ArchiveError(f"{what} is missing") from None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise ArchiveError(f"{what} is not a regular file") from None
        raise ArchiveError(f"{what} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArchiveError(f"{what} is not a regular file")
    return os.fdopen(fd, "rb")


def read_layout_index(layout: Path) -> Index:
    path = layout / "index.json"
    if not (layout / "oci-layout").is_file() or not os.path.lexists(path):
        raise NotFoundError(f"{layout} is not an OCI image layout (no oci-layout or index.json)")
    with _open(path, str(path)) as fh:
        data = fh.read(_MAX_INDEX + 1)
    if len(data) > _MAX_INDEX:
        raise ArchiveError(f"{path} is larger than {_MAX_INDEX} bytes")
    return Index.from_dict(load_json(data, str(path)))


def find_in_layout(layout: Path, tag: str | None) -> Descriptor:
    """The entry named ``tag`` (``ref.name`` as written, or only its tag part), or the only one.

    Attachments (signatures, SBOMs) are entries too, but never images of their own.
    """
    entries = [d for d in read_layout_index(layout).manifests if not is_attachment(d)]
    if tag is None:
        if len(entries) != 1:
            raise NotFoundError(f"{layout} holds {len(entries)} images; name one as oci:DIR:TAG")
        return entries[0]
    for desc in entries:
        name = desc.annotations.get(REF_NAME, "")
        if tag in (name, name.rpartition(":")[2]):
            return desc
    raise NotFoundError(f"{layout} has no image named {tag!r}")


def import_layout(store: Store, layout: Path, tag: str | None) -> Descriptor:
    """Copy one image of ``layout`` into ``store``, verifying every blob by digest and size."""
    root = find_in_layout(layout, tag)
    blobs = _blob_dir(layout)

    def open_blob(desc: Descriptor) -> BinaryIO:
        return _open(blobs / desc.digest[7:], f"{layout}: blob {desc.digest}")

    def read(desc: Descriptor) -> bytes:
        with open_blob(desc) as fh:
            return fh.read(desc.size + 1)

    with store.transaction():
        for desc in walk_descriptors(root, read, str(layout)):
            try:
                if store.has_descriptor(desc):
                    continue
                with open_blob(desc) as fh:
                    store.put_descriptor(desc, fh)
            except IntegrityError as exc:
                raise IntegrityError(f"{layout}: {exc}") from None
        import_attachments(
            store,
            read_layout_index(layout).manifests,
            subjects_of(root, read),
            read,
            open_blob,
            str(layout),
        )
    return Descriptor(root.media_type, root.digest, root.size, platform=root.platform)


def _has_blob(blobs: Path, desc: Descriptor) -> bool:
    """Whether the layout already holds ``desc``'s blob, checked by size and digest.

    What the layout has at that name is not ours: a link, a short file or other bytes are
    replaced.  Hashing a blob costs less than copying it, so an existing one is kept only
    when it is verified.
    """
    path = blobs / desc.digest[7:]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != desc.size:
        return False
    try:
        with _open(path, str(path)) as fh:
            digest, _ = sha256_file(fh)
    except ArchiveError:
        return False
    return digest == desc.digest


def export_layout(store: Store, desc: Descriptor, layout: Path, name: str | None) -> None:
    """Write the image ``desc`` into ``layout`` under ``name`` (its ``ref.name``)."""
    blobs = _blob_dir(layout)
    blobs.mkdir(parents=True, exist_ok=True)
    blobs = _blob_dir(layout)  # checked again: created by us now, or found as it was
    if not os.path.lexists(layout / "oci-layout"):
        atomic_write_bytes(layout / "oci-layout", LAYOUT)
    attached = exported(store, desc)
    needed = list(walk_descriptors(desc, store.read_document))
    needed += [blob for _, blobs_of in attached for blob in blobs_of]
    for child in needed:
        if _has_blob(blobs, child):
            continue
        # a fresh random name in the blob directory, then a rename onto the blob's name
        with (
            store.open_blob(child.digest) as source,
            atomic_blob(blobs, blobs, child.digest, child.size, replace=True) as sink,
        ):
            while chunk := source.read(CHUNK):
                sink.write(chunk)
    index_path = layout / "index.json"
    entries = list(read_layout_index(layout).manifests) if os.path.lexists(index_path) else []
    annotations = {REF_NAME: name} if name else {}
    if name and ":" in name:
        annotations[IMAGE_NAME] = name
    entry = Descriptor(desc.media_type, desc.digest, desc.size, annotations, desc.platform)
    new = [entry, *(e for e, _ in attached)]
    replaced = {(e.digest, e.annotations.get(SUBJECT)) for e, _ in attached}
    kept = [
        d
        for d in entries
        if (not name or d.annotations.get(REF_NAME) != name or is_attachment(d))
        and (d.digest, d.annotations.get(SUBJECT)) not in replaced
    ]
    kept.extend(new)
    data = json.dumps(Index(tuple(kept)).to_dict(), indent=2, sort_keys=True).encode()
    atomic_write_bytes(index_path, data)


def open_layout_blob(layout: Path, digest: str) -> BinaryIO:
    """A blob of ``layout`` by digest, opened as every read of a layout is: no link followed,
    only a regular file (its content is the caller's to verify)."""
    return _open(_blob_dir(layout) / digest[7:], f"{layout}: blob {digest}")
