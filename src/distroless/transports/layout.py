"""OCI image layout directories as a source and a sink (``oci:DIR[:TAG]``).

A layout written here is the same shape as the store (``oci-layout``, ``index.json``,
``blobs/sha256``); an existing layout is extended, and an entry with the same tag is
replaced.  Reading never writes into the source directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from distroless.errors import ArchiveError, IntegrityError, NotFoundError
from distroless.oci.models import Descriptor, Index, load_json
from distroless.store import Store
from distroless.store.atomic import atomic_write_bytes
from distroless.store.store import IMAGE_NAME, LAYOUT, REF_NAME
from distroless.transports.walk import walk_descriptors


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def read_layout_index(layout: Path) -> Index:
    path = layout / "index.json"
    if not (layout / "oci-layout").is_file() or not path.is_file():
        raise NotFoundError(f"{layout} is not an OCI image layout (no oci-layout or index.json)")
    return Index.from_dict(load_json(path.read_bytes(), str(path)))


def find_in_layout(layout: Path, tag: str | None) -> Descriptor:
    """The entry named ``tag`` (``ref.name`` as written, or only its tag part), or the only one."""
    entries = read_layout_index(layout).manifests
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
    """Copy one image of ``layout`` into ``store``, verifying every blob by digest."""
    root = find_in_layout(layout, tag)

    def read(digest: str) -> bytes:
        try:
            return _blob(layout, digest).read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"{layout}: blob {digest} is missing") from None

    with store.transaction():
        for desc in walk_descriptors(root, read):
            if store.has_blob(desc.digest):
                continue
            try:
                with _blob(layout, desc.digest).open("rb") as fh:
                    store.put_file(fh, expected=desc.digest)
            except FileNotFoundError:
                raise ArchiveError(f"{layout}: blob {desc.digest} is missing") from None
            except IntegrityError:
                raise IntegrityError(
                    f"{layout}: blob {desc.digest} does not match its digest"
                ) from None
    return Descriptor(root.media_type, root.digest, root.size, platform=root.platform)


def export_layout(store: Store, desc: Descriptor, layout: Path, name: str | None) -> None:
    """Write the image ``desc`` into ``layout`` under ``name`` (its ``ref.name``)."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    if not (layout / "oci-layout").exists():
        atomic_write_bytes(layout / "oci-layout", LAYOUT)
    for child in walk_descriptors(desc, store.read_blob):
        target = _blob(layout, child.digest)
        if not target.exists():
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(store.blob_path(child.digest), partial)
            partial.replace(target)
    entries = list(read_layout_index(layout).manifests) if (layout / "index.json").exists() else []
    annotations = {REF_NAME: name} if name else {}
    if name and ":" in name:
        annotations[IMAGE_NAME] = name
    entry = Descriptor(desc.media_type, desc.digest, desc.size, annotations, desc.platform)
    kept = [d for d in entries if not name or d.annotations.get(REF_NAME) != name]
    kept.append(entry)
    data = json.dumps(Index(tuple(kept)).to_dict(), indent=2, sort_keys=True).encode()
    atomic_write_bytes(layout / "index.json", data)
