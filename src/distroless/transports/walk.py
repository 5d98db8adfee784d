"""Enumerating the blobs an image (or index) needs, so every sink copies the same set.

The walk is also where a source's documents are checked before anything trusts them:
each manifest and index is bounded by size before it is read and must have exactly the
size and digest its descriptor says, and a config may not announce more than a config may
hold.  An archive or layout that lies in a descriptor is refused here, whether or not the
store already has the blob it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from distroless.errors import IntegrityError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.limits import check_document_size
from distroless.oci.models import Descriptor, Index, Manifest

#: Reads the document a descriptor names: at most ``desc.size + 1`` bytes are enough (and
#: all a reader should take), so that a longer blob is noticed without reading all of it.
ReadDocument = Callable[[Descriptor], bytes]


def read_verified(desc: Descriptor, read: ReadDocument, what: str = "") -> bytes:
    """The bytes of document ``desc``, checked against its size bound, size and digest."""
    where = f"{what}: " if what else ""
    check_document_size(desc.size, desc.media_type, f"{where}{desc.media_type} {desc.digest}")
    data = read(desc)
    if len(data) != desc.size:
        shown = f"{len(data)}" if len(data) <= desc.size else "more"
        raise IntegrityError(
            f"{where}blob {desc.digest} has {shown} bytes, its descriptor says {desc.size}"
        )
    actual = sha256_bytes(data)
    if actual != desc.digest:
        raise IntegrityError(f"{where}blob {desc.digest} does not match its digest ({actual})")
    return data


def walk_descriptors(root: Descriptor, read: ReadDocument, what: str = "") -> Iterator[Descriptor]:
    """Every descriptor under ``root`` (itself included), children before parents.

    Iterative, so an index of indexes nested a thousand deep is walked like a flat one.
    """
    where = f"{what}: " if what else ""
    seen: dict[str, int] = {}
    # (descriptor, its children once read); a parent is yielded after all of its children
    stack: list[tuple[Descriptor, list[Descriptor] | None]] = [(root, None)]
    while stack:
        desc, children = stack.pop()
        if children is None:
            if desc.digest in seen:
                if seen[desc.digest] != desc.size:
                    raise IntegrityError(
                        f"{where}two descriptors of blob {desc.digest} disagree on its size "
                        f"({seen[desc.digest]} and {desc.size})"
                    )
                continue
            seen[desc.digest] = desc.size
            children = _children(desc, read, what, where)
            stack.append((desc, []))
            stack.extend((child, None) for child in reversed(children))
        else:
            yield desc


def _children(desc: Descriptor, read: ReadDocument, what: str, where: str) -> list[Descriptor]:
    if mt.is_index(desc.media_type):
        return list(Index.from_bytes(read_verified(desc, read, what)).manifests)
    if mt.is_manifest(desc.media_type):
        manifest = Manifest.from_bytes(read_verified(desc, read, what))
        config = manifest.config
        check_document_size(
            config.size, mt.OCI_CONFIG, f"{where}the config {config.digest} of {desc.digest}"
        )
        return [config, *manifest.layers]
    return []
