"""Referrers kept in the store: artifacts (SBOMs) that name an image manifest as their subject.

An attachment is a root of ``index.json`` carrying the :data:`~distroless.store.store.SUBJECT`
annotation, so the store keeps it exactly as long as its image (see ``Store.prune``).  This
module only lists them, in the shape of the OCI referrers API: one descriptor per artifact
manifest with its ``artifactType`` and annotations.  Push reads it through the small
:class:`ReferrerSource` protocol so that it needs no store internals.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from distroless.oci.models import Descriptor, Manifest
from distroless.store.store import SUBJECT


@runtime_checkable
class ReferrerSource(Protocol):
    """What listing referrers needs: the root entries and the blobs they name."""

    def entries(self) -> list[Descriptor]: ...

    def has_blob(self, digest: str) -> bool: ...

    def read_blob(self, digest: str) -> bytes: ...


def referrers(store: ReferrerSource, digest: str) -> list[Descriptor]:
    """The artifacts attached to manifest ``digest``, sorted by digest (a stable order)."""
    found: dict[str, Descriptor] = {}
    for entry in store.entries():
        if entry.annotations.get(SUBJECT) != digest or entry.digest in found:
            continue
        if not store.has_blob(entry.digest):
            continue  # a root whose blob was lost; fsck reports it
        manifest = Manifest.from_bytes(store.read_blob(entry.digest))
        found[entry.digest] = Descriptor(
            entry.media_type,
            entry.digest,
            entry.size,
            annotations=dict(manifest.annotations),
            # the distribution spec: artifactType, else the config's media type
            artifact_type=manifest.artifact_type or manifest.config.media_type,
        )
    return [found[d] for d in sorted(found)]
