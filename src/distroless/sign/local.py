"""Signing and verifying images of the local store, in the layouts cosign and skopeo read.

Signing image ``sha256:<hex>`` stores two documents beside it: the signature manifest of
cosign's tag scheme (what a registry holds as the tag ``sha256-<hex>.sig``), to which each
new signature is appended, and the same signatures as an OCI 1.1 referrer naming the image
as ``subject``.  ``push`` sends both; ``pull`` brings back whichever the registry has.
Verifying reads the signatures of both forms, so an image signed by another tool and pulled
verifies as well as one signed here.

The identity a signature claims (``critical.identity.docker-reference``) is the name the
image is signed under: a verifier compares it with the repository it pulled from, so sign
the name you push (``host/repo:tag``), or pass the identity explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from distroless.errors import DistrolessError, UsageError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import is_digest
from distroless.oci.models import Descriptor, Manifest
from distroless.oci.reference import Reference
from distroless.sign.cosign_layout import (
    SIGNATURE_ARTIFACT_TYPE,
    Signature,
    append_signatures,
    read_signatures,
    signature_manifest,
    signature_referrer,
    verify_any,
)
from distroless.sign.keys import PrivateKey, PublicKey, key_id
from distroless.sign.simplesigning import SimpleSigning, payload, sign
from distroless.store import Store
from distroless.store.referrers import (
    attach_referrer,
    attach_signature_manifest,
    put_document,
    referrers,
    signature_tag_manifest,
)


@dataclass(frozen=True)
class Signed:
    """What :func:`sign_image` stored: the image, the identity, both signature documents."""

    image: Descriptor
    identity: str
    signature_manifest: Descriptor
    referrer: Descriptor
    signatures: int


def default_identity(name: str) -> str:
    """The identity to sign ``name`` under: its full reference (``host/repo:tag``)."""
    if is_digest(name) or name.startswith("sha256:"):
        raise UsageError(f"{name} names no repository to sign for; give --identity host/repo[:tag]")
    ref = Reference.parse(name)
    return str(Reference(ref.registry, ref.repository, ref.tag))


def stored_signatures(store: Store, digest: str) -> list[Signature]:
    """Every signature of image ``digest`` the store holds, in either form, each once."""
    found: list[Signature] = []
    sources: list[Descriptor] = []
    tagged = signature_tag_manifest(store, digest)
    if tagged is not None:
        sources.append(tagged)
    sources += [d for d in referrers(store, digest) if d.artifact_type == SIGNATURE_ARTIFACT_TYPE]
    for desc in sources:
        for sig in read_signatures(store.read_document(desc), store.read_blob):
            if sig not in found:
                found.append(sig)
    return found


def sign_image(
    store: Store,
    name: str,
    key: PrivateKey,
    *,
    identity: str | None = None,
    annotations: Mapping[str, Any] | None = None,
    recursive: bool = False,
) -> Signed:
    """Sign the stored image ``name`` with ``key``; signing twice adds nothing new.

    With ``recursive``, each platform manifest of an index is signed too (as ``cosign sign
    --recursive`` does), so that one platform copied out of the index stays signed.
    """
    with store.session():
        image = store.resolve(name)
        claim = identity or default_identity(name)
        Reference.parse(claim)  # the identity must be a reference verifiers can compare
        if recursive and mt.is_index(image.media_type):
            for child in store.read_index(image).manifests:
                _sign_one(store, child, claim, key, annotations)
        return _sign_one(store, image, claim, key, annotations)


def _sign_one(
    store: Store,
    image: Descriptor,
    claim: str,
    key: PrivateKey,
    annotations: Mapping[str, Any] | None,
) -> Signed:
    data = payload(claim, image.digest, dict(annotations) if annotations else None)
    new = Signature(data, sign(data, key))
    tagged = signature_tag_manifest(store, image.digest)
    if tagged is None:
        artifact = signature_manifest([new])
    else:
        manifest_bytes = store.read_document(tagged)
        config = Manifest.from_bytes(manifest_bytes).config
        artifact = append_signatures(manifest_bytes, store.read_document(config), [new])
    sig_desc = put_document(store, artifact.manifest, artifact.blobs)
    attach_signature_manifest(store, image.digest, sig_desc)
    everything = stored_signatures(store, image.digest)
    subject = {"mediaType": image.media_type, "digest": image.digest, "size": image.size}
    ref_art = signature_referrer(subject, everything)
    ref_desc = put_document(
        store, ref_art.manifest, ref_art.blobs, artifact_type=SIGNATURE_ARTIFACT_TYPE
    )
    attach_referrer(store, ref_desc, ref_art.manifest)
    return Signed(image, claim, sig_desc, ref_desc, len(everything))


@dataclass(frozen=True)
class Verified:
    image: Descriptor
    claim: SimpleSigning
    key_id: str


def verify_image(
    store: Store, name: str, key: PublicKey, *, identity: str | None = None
) -> Verified:
    """The claim of a signature by ``key`` on the stored image ``name``; IntegrityError if none.

    The signature must name the image's digest and, unless ``name`` is a digest, the same
    repository as ``identity`` (default: ``name``).
    """
    image = store.resolve(name)
    expected = identity
    if expected is None and not name.startswith("sha256:"):
        try:
            expected = default_identity(name)
        except DistrolessError:
            expected = None
    claim = verify_any(
        stored_signatures(store, image.digest),
        key,
        manifest_digest=image.digest,
        docker_reference=expected,
    )
    return Verified(image, claim, key_id(key))


__all__ = [
    "Signed",
    "Verified",
    "default_identity",
    "sign_image",
    "stored_signatures",
    "verify_image",
]
