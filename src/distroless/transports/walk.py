"""Enumerating the blobs an image (or index) needs, so every sink copies the same set."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor, Index, Manifest


def walk_descriptors(root: Descriptor, read: Callable[[str], bytes]) -> Iterator[Descriptor]:
    """Every descriptor under ``root`` (itself included), children before parents."""
    seen: set[str] = set()

    def visit(desc: Descriptor) -> Iterator[Descriptor]:
        if desc.digest in seen:
            return
        seen.add(desc.digest)
        if mt.is_index(desc.media_type):
            for child in Index.from_bytes(read(desc.digest)).manifests:
                yield from visit(child)
        elif mt.is_manifest(desc.media_type):
            manifest = Manifest.from_bytes(read(desc.digest))
            yield manifest.config
            yield from manifest.layers
        yield desc

    yield from visit(root)
