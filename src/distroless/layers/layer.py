"""The one layer type: a blob an image lists, paired with the digest of its uncompressed tar.

Every builder (spec, bases, Dockerfile) and the build caches hand layers around as
:class:`Layer`; the store records one as its descriptor annotated with the diff_id
(:data:`DIFF_ID`), so a layer found again by key needs no decompression to be listed in a
new image config.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from distroless.layers.build import LayerInfo, media_type
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, parse_digest
from distroless.oci.models import Descriptor

#: The annotation a recorded layer carries its diff_id in (never written into a manifest).
DIFF_ID = "io.distroless.diff_id"

#: Annotations that say how a blob was stored or fetched, not what it is.  BuildKit drops
#: the same ones (and, in Docker-typed manifests, every annotation) when it exports a layer.
_INTERNAL = frozenset({DIFF_ID, "containerd.io/uncompressed", "buildkit/createdat"})
_INTERNAL_PREFIXES = ("containerd.io/distribution.source.", "io.distroless.")


@dataclass(frozen=True)
class Layer:
    """A layer of an image.

    Invariants: ``descriptor`` names the blob as stored (its digest, size and a layer media
    type); ``diff_id`` is the sha256 of the tar the blob decompresses to (equal to the
    blob's digest when it is not compressed).  A config's ``rootfs.diff_ids`` lists the
    ``diff_id`` of each of the manifest's layers, in the same order.
    """

    descriptor: Descriptor
    diff_id: Digest

    @classmethod
    def written(cls, info: LayerInfo) -> Layer:
        """The layer a :func:`~distroless.layers.build.write_layer` pass produced (OCI types)."""
        return cls(Descriptor(media_type(info), info.digest, info.size), info.diff_id)

    def record(self) -> Descriptor:
        """The descriptor a store root keeps for this layer: the diff_id rides along."""
        return self.descriptor.with_annotations(**{DIFF_ID: self.diff_id})

    @classmethod
    def from_record(cls, recorded: Descriptor) -> Layer | None:
        """The layer :meth:`record` described, or None when the record lacks its diff_id."""
        diff_id = recorded.annotations.get(DIFF_ID)
        if diff_id is None:
            return None
        plain = Descriptor(recorded.media_type, recorded.digest, recorded.size)
        return cls(plain, parse_digest(diff_id))


def manifest_descriptor(desc: Descriptor) -> Descriptor:
    """``desc`` as a layer of a new OCI manifest.

    The media type becomes the OCI one for the same compression (the bytes do not change;
    an OCI manifest must not list Docker types).  A platform is dropped: in the image spec
    only a manifest listed by an index has one, never a layer.  The annotations a base's
    manifest gave the layer stay, as BuildKit keeps them in OCI manifests, except those
    that only record how a blob was stored (ours, containerd's and BuildKit's own).
    """
    media = desc.media_type
    if mt.family_of(media) != "oci":
        media = mt.layer_type_for("oci", mt.compression_of(media))
    kept = {
        key: value
        for key, value in desc.annotations.items()
        if key not in _INTERNAL and not key.startswith(_INTERNAL_PREFIXES)
    }
    return replace(desc, media_type=media, annotations=kept, platform=None)
