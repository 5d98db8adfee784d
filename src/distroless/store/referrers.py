"""What the store keeps beside an image: referrers (SBOMs, signatures, attestations) and
cosign's signature manifest.

An attachment is a root of ``index.json`` carrying the :data:`~distroless.store.store.SUBJECT`
annotation, so the store keeps it exactly as long as its image (see ``Store.prune``).  Two
kinds exist:

* **referrers**: manifests whose ``subject`` names the image (OCI 1.1).  Registries serve
  them under ``/v2/<name>/referrers/<digest>``; :func:`referrers` lists them in that shape.
* **the signature manifest** of cosign's tag scheme, which a registry holds under the tag
  ``sha256-<hex>.sig`` and which names its image only through that tag (it has no
  ``subject``).  The store keeps it as the root ``cosign-sig:<digest>``.

Roots are named by kind so that each attachment can be found without reading the others:
``sbom:<subject>:<format>`` (one per format), ``signature:<subject>`` (the referrer form of
the signatures), ``attestation:<subject>:<digest>`` and ``referrer:<subject>:<digest>`` for
anything else.  Push and the copies read all of this through small protocols, so that they
need no store internals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import BinaryIO, Protocol, runtime_checkable

from distroless.errors import DistrolessError, IntegrityError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, sha256_bytes
from distroless.oci.models import Descriptor, Manifest
from distroless.store.store import ROOT_KIND, SUBJECT

SIGNATURE_TAG_ROOT = "cosign-sig"
SIGNATURE_ROOT = "signature"
ATTESTATION_ROOT = "attestation"
SBOM_ROOT = "sbom"
REFERRER_ROOT = "referrer"
#: the artifact types of SBOMs, by the format name the SBOM commands use
SBOM_TYPES = {
    "application/spdx+json": "spdx-json",
    "application/vnd.cyclonedx+json": "cyclonedx-json",
}
#: an artifact's layer (an SBOM, a statement) read whole into memory: as large as ``pull``
#: takes one, far more than the SBOM of any real image
MAX_ATTACHMENT_PART = 256 << 20
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
IN_TOTO_ARTIFACT_TYPE = "application/vnd.in-toto+json"


@runtime_checkable
class ReferrerSource(Protocol):
    """What listing referrers needs: the root entries and the blobs they name."""

    def entries(self) -> list[Descriptor]: ...

    def has_blob(self, digest: str) -> bool: ...

    def read_blob(self, digest: str) -> bytes: ...

    def read_document(self, desc: Descriptor) -> bytes:
        """A manifest or config, refused unread when over its bound (:mod:`oci.limits`)."""
        ...

    def open_blob(self, digest: str) -> BinaryIO: ...


@runtime_checkable
class AttachmentStore(ReferrerSource, Protocol):
    """What attaching needs besides: writing blobs and roots (the store has all of it)."""

    def put_bytes(self, data: bytes, expected: Digest | None = None) -> Digest: ...

    def add_root(self, kind: str, key: str, desc: Descriptor) -> None: ...

    def find_root(self, kind: str, key: str) -> Descriptor | None: ...


def read_part(store: ReferrerSource, desc: Descriptor) -> bytes:
    """The bytes of an artifact's layer ``desc``, refused when over the bound or not the
    size its descriptor says (a layer of an archive or a registry is untrusted)."""
    if desc.size > MAX_ATTACHMENT_PART:
        raise IntegrityError(
            f"attached {desc.media_type} {desc.digest} is {desc.size} bytes, more than "
            f"the {MAX_ATTACHMENT_PART} bytes an attachment may have"
        )
    with store.open_blob(desc.digest) as fh:
        data = fh.read(desc.size + 1)
    if len(data) != desc.size:
        raise IntegrityError(f"blob {desc.digest} is not the {desc.size} bytes its descriptor says")
    return data


def _artifact_type(manifest: Manifest) -> str:
    # the distribution spec: artifactType, else the config's media type
    return manifest.artifact_type or manifest.config.media_type


def referrers(store: ReferrerSource, digest: str) -> list[Descriptor]:
    """The artifacts attached to manifest ``digest``, sorted by digest (a stable order).

    Only manifests whose ``subject`` is ``digest`` count: the signature manifest of the
    tag scheme is attached too, but it is not a referrer (:func:`signature_tag_manifest`).
    """
    found: dict[str, Descriptor] = {}
    for entry in store.entries():
        if entry.annotations.get(SUBJECT) != digest or entry.digest in found:
            continue
        if not store.has_blob(entry.digest):
            continue  # a root whose blob was lost; fsck reports it
        manifest = Manifest.from_bytes(store.read_document(entry))
        if manifest.subject is None or manifest.subject.digest != digest:
            continue
        found[entry.digest] = Descriptor(
            entry.media_type,
            entry.digest,
            entry.size,
            annotations=dict(manifest.annotations),
            artifact_type=_artifact_type(manifest),
        )
    return [found[d] for d in sorted(found)]


def signature_tag_manifest(store: ReferrerSource, digest: str) -> Descriptor | None:
    """The stored ``sha256-<hex>.sig`` manifest of image ``digest``, if it has one."""
    marker = f"{SIGNATURE_TAG_ROOT}:{digest}"
    for entry in store.entries():
        if entry.annotations.get(ROOT_KIND) == marker and store.has_blob(entry.digest):
            return entry
    return None


def put_document(
    store: AttachmentStore,
    manifest: bytes,
    blobs: Mapping[Digest, bytes],
    *,
    media_type: str = mt.OCI_MANIFEST,
    artifact_type: str | None = None,
) -> Descriptor:
    """Store ``blobs`` (digest -> bytes, each verified), then the manifest; its descriptor."""
    for digest, data in blobs.items():
        store.put_bytes(data, Digest(digest))
    return Descriptor(
        media_type, store.put_bytes(manifest), len(manifest), artifact_type=artifact_type
    )


def root_for(subject: str, desc: Descriptor, manifest: Manifest) -> tuple[str, str]:
    """The root (kind, key) a referrer of ``subject`` is kept under."""
    kind = _artifact_type(manifest)
    if kind in SBOM_TYPES:
        return SBOM_ROOT, f"{subject}:{SBOM_TYPES[kind]}"
    if kind == SIGNATURE_ARTIFACT_TYPE:
        return SIGNATURE_ROOT, subject
    if kind == IN_TOTO_ARTIFACT_TYPE:
        return ATTESTATION_ROOT, f"{subject}:{desc.digest}"
    return REFERRER_ROOT, f"{subject}:{desc.digest}"


def attach_referrer(store: AttachmentStore, desc: Descriptor, data: bytes) -> Descriptor:
    """Keep the stored referrer manifest ``desc`` (bytes ``data``) beside its subject."""
    if sha256_bytes(data) != desc.digest:
        raise IntegrityError(f"referrer {desc.digest} does not match its digest")
    manifest = Manifest.from_bytes(data)
    if manifest.subject is None:
        raise IntegrityError(f"artifact {desc.digest} names no subject")
    subject = manifest.subject.digest
    kind, key = root_for(subject, desc, manifest)
    entry = Descriptor(
        desc.media_type,
        desc.digest,
        desc.size,
        annotations={SUBJECT: subject},
        artifact_type=_artifact_type(manifest),
    )
    store.add_root(kind, key, entry)
    return entry


def attach_signature_manifest(store: AttachmentStore, subject: str, desc: Descriptor) -> None:
    """Keep the stored ``.sig`` manifest ``desc`` as the signature manifest of ``subject``."""
    store.add_root(
        SIGNATURE_TAG_ROOT,
        subject,
        Descriptor(desc.media_type, desc.digest, desc.size, annotations={SUBJECT: subject}),
    )


def attachments(store: ReferrerSource, digests: Iterable[str]) -> list[Descriptor]:
    """Every root attached to one of ``digests`` (referrers and signature manifests)."""
    wanted = set(digests)
    out: dict[str, Descriptor] = {}
    for entry in store.entries():
        if entry.annotations.get(SUBJECT) in wanted and store.has_blob(entry.digest):
            out[entry.annotations.get(ROOT_KIND, entry.digest)] = entry
    return sorted(out.values(), key=lambda d: d.annotations.get(ROOT_KIND, d.digest))


def manifest_blobs(store: ReferrerSource, desc: Descriptor) -> list[Descriptor]:
    """The config and layers an attached manifest needs (its subject is the image)."""
    try:
        manifest = Manifest.from_bytes(store.read_document(desc))
    except DistrolessError as exc:
        raise IntegrityError(f"attachment {desc.digest} cannot be read: {exc}") from None
    return [manifest.config, *manifest.layers]


__all__ = [
    "ATTESTATION_ROOT",
    "REFERRER_ROOT",
    "SBOM_ROOT",
    "SBOM_TYPES",
    "SIGNATURE_ROOT",
    "SIGNATURE_TAG_ROOT",
    "AttachmentStore",
    "ReferrerSource",
    "attach_referrer",
    "attach_signature_manifest",
    "attachments",
    "manifest_blobs",
    "put_document",
    "referrers",
    "root_for",
    "signature_tag_manifest",
]
