"""SBOMs and provenance attached to images in the store, as OCI 1.1 artifacts that name the
image as subject.

A build renders the SBOM of what it built and stores it as an artifact manifest: the empty
config ``{}``, one layer holding the SBOM document, ``artifactType`` saying which format,
and ``subject`` pointing at the image manifest.  That is the shape the OCI referrers API
serves, so ``push`` can hand it to a registry unchanged.  In the store it is a root
(``sbom:<subject digest>:<format>``) carrying the subject annotation: it lives exactly as long
as its image, and ``prune`` drops it once the image is gone.

Everything written is a pure function of the image, the format, the added files and
``SOURCE_DATE_EPOCH``: the document names the image by digest (never by a tag that may
move), so the same image always gets the same referrer digest.

Files a build added outside packages (the spec's ``files:``, a Dockerfile's ``COPY``/``ADD``)
are passed to :func:`attach_sbom` as ``added_files``: either :class:`AddedFile` values with the
sha256 the build computed (checked against the image), or plain paths, hashed here from the
finished image.  A path that is a directory stands for every regular file under it; a path
that a later step removed is left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

from distroless import __version__
from distroless.errors import InputError, IntegrityError, NotFoundError
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest
from distroless.sign.attestation import ARTIFACT_TYPE as ARTIFACT_TYPE_IN_TOTO
from distroless.sign.attestation import attestation_referrer
from distroless.sign.dsse import ENVELOPE_MEDIA_TYPE, Envelope, sign_envelope, verify_envelope
from distroless.sign.provenance import STATEMENT_TYPE
from distroless.store import Store
from distroless.store.referrers import attach_referrer, put_document, read_part, referrers
from distroless.store.store import SUBJECT
from distroless.timestamps import rfc3339
from distroless.verify.image import ImageHandle
from distroless.verify.layer_scans import LayerScans
from distroless.verify.sbom import AddedFile, SbomFormat, render_sbom
from distroless.verify.scan import scan_image

if TYPE_CHECKING:  # the key code and ``cryptography`` load only to sign
    from distroless.sign.keys import PrivateKey, PublicKey

__all__ = [
    "ARTIFACT_TYPES",
    "SBOM_ROOT",
    "AddedFile",
    "attach_provenance",
    "attach_sbom",
    "attached_sbom",
    "attestations",
    "referrers",
    "sbom_artifact",
]

SBOM_ROOT = "sbom"
INPUTS = "io.distroless.sbom.inputs"
ARTIFACT_TYPES: dict[SbomFormat, str] = {
    "spdx-json": "application/spdx+json",
    "cyclonedx-json": "application/vnd.cyclonedx+json",
}
EMPTY_JSON = b"{}"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
_FILE_NAMES: dict[SbomFormat, str] = {
    "spdx-json": "sbom.spdx.json",
    "cyclonedx-json": "sbom.cyclonedx.json",
}


def _handle(store: Store, desc: Descriptor) -> ImageHandle:
    manifest = store.read_manifest(desc)
    config = ImageConfig.from_bytes(store.read_document(manifest.config))
    layers = manifest.layers

    def open_layer(index: int) -> BinaryIO:
        return store.open_blob(layers[index].digest)

    # Named by digest only: a tag would make the same image's SBOM differ between names.
    return ImageHandle(f"image@{desc.digest}", desc.digest, config, layers, open_layer)


def sbom_artifact(
    store: Store, subject: Descriptor, sbom: bytes, fmt: SbomFormat, source_date_epoch: int = 0
) -> Manifest:
    """The OCI 1.1 artifact manifest carrying ``sbom`` for ``subject``; its blobs are stored."""
    empty = store.put_bytes(EMPTY_JSON)
    layer = store.put_bytes(sbom)
    return Manifest(
        config=Descriptor(mt.OCI_EMPTY, empty, len(EMPTY_JSON)),
        layers=(
            Descriptor(
                ARTIFACT_TYPES[fmt],
                layer,
                len(sbom),
                annotations={TITLE: _FILE_NAMES[fmt]},
            ),
        ),
        annotations={CREATED: rfc3339(source_date_epoch)},
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
        artifact_type=ARTIFACT_TYPES[fmt],
    )


def _manifests(store: Store, desc: Descriptor) -> list[Descriptor]:
    if mt.is_index(desc.media_type):
        return [d for d in Index.from_bytes(store.read_document(desc)).manifests]
    if mt.is_manifest(desc.media_type):
        return [desc]
    raise NotFoundError(f"{desc.digest} is not an image (media type {desc.media_type})")


def _inputs_key(fmt: str, items: list[AddedFile | str], source_date_epoch: int) -> str:
    """What, besides the image itself, decides the SBOM's bytes (the tool version included)."""
    added = sorted([i.path, i.sha256] if isinstance(i, AddedFile) else [i, ""] for i in items)
    doc = {"tool": __version__, "fmt": fmt, "epoch": source_date_epoch, "added": added}
    return "sha256:" + hashlib.sha256(dumps(doc)).hexdigest()


def attach_sbom(
    store: Store,
    image_desc: Descriptor,
    *,
    fmt: SbomFormat = "spdx-json",
    added_files: Iterable[AddedFile | str] = (),
    source_date_epoch: int = 0,
) -> tuple[Descriptor, ...]:
    """Render and attach the SBOM of each manifest of ``image_desc``; returns the artifacts.

    A manifest gets one artifact; an index gets one per platform manifest, in its order
    (``added_files`` then apply to every platform).  Attaching again replaces the older
    SBOM of the same format.  Call it inside ``store.session()``, like the build itself.
    """
    items = list(added_files)
    inputs = _inputs_key(fmt, items, source_date_epoch)
    attached = []
    for desc in _manifests(store, image_desc):
        known = store.find_root(SBOM_ROOT, f"{desc.digest}:{fmt}")
        if known is not None and known.annotations.get(INPUTS) == inputs:
            # the SBOM is a pure function of these inputs: a rebuild reads no layer again
            attached.append(Descriptor(known.media_type, known.digest, known.size))
            continue
        # one pass over the layers gathers everything (see distroless.verify.scan)
        view = scan_image(_handle(store, desc), LayerScans.of_store(store.root))
        data = render_sbom(view, fmt, added_files=items, source_date_epoch=source_date_epoch)
        artifact = sbom_artifact(store, desc, data, fmt, source_date_epoch)
        stored = store.put_manifest(artifact)
        store.add_root(
            SBOM_ROOT,
            f"{desc.digest}:{fmt}",
            stored.with_annotations(**{SUBJECT: desc.digest, INPUTS: inputs}),
        )
        attached.append(stored)
    return tuple(attached)


def attached_sbom(store: Store, digest: str, fmt: SbomFormat = "spdx-json") -> bytes | None:
    """The bytes of the SBOM in ``fmt`` attached to manifest ``digest``, if there is one."""
    root = store.find_root(SBOM_ROOT, f"{digest}:{fmt}")
    if root is None:
        return None
    manifest = store.read_manifest(root)
    for layer in manifest.layers:
        if layer.media_type == ARTIFACT_TYPES[fmt] and store.has_blob(layer.digest):
            return read_part(store, layer)
    return None


def attach_provenance(
    store: Store,
    descriptor: Descriptor,
    statement: bytes,
    key: PrivateKey | None = None,
    *,
    source_date_epoch: int = 0,
) -> Descriptor:
    """Attach an in-toto statement (SLSA provenance) to image ``descriptor``; its referrer.

    ``statement`` is the canonical JSON of an in-toto Statement v1 (what
    :func:`distroless.sign.provenance.provenance_statement` returns); one of its subjects
    must be ``descriptor``'s digest, so a statement cannot be attached to an image it does
    not describe.  With ``key`` it is signed as a DSSE envelope (keyid: the key's
    :func:`~distroless.sign.keys.key_id`).  The referrer (artifactType
    ``application/vnd.in-toto+json``) is kept as long as the image and goes up with
    ``push``; the same statement and key always give the same referrer.  Call it inside
    ``store.session()``, like the build itself.
    """
    predicate_type = _statement_predicate(statement, descriptor.digest)
    if key is None:
        document, signed = statement, False
    else:
        from distroless.sign.keys import key_id

        document = sign_envelope(statement, key, keyid=key_id(key.public_key()))
        signed = True
    artifact = attestation_referrer(
        {"mediaType": descriptor.media_type, "digest": descriptor.digest, "size": descriptor.size},
        document,
        predicate_type=predicate_type,
        signed=signed,
        source_date_epoch=source_date_epoch,
    )
    stored = put_document(
        store, artifact.manifest, artifact.blobs, artifact_type=artifact.artifact_type
    )
    return attach_referrer(store, stored, artifact.manifest)


def _statement_predicate(statement: bytes, digest: str) -> str:
    try:
        doc = json.loads(statement)
    except (ValueError, UnicodeDecodeError):
        raise InputError("the provenance statement is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise InputError(f"the provenance statement is not an in-toto statement ({STATEMENT_TYPE})")
    predicate_type = doc.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InputError("the provenance statement has no predicateType")
    hexes = {
        s.get("digest", {}).get("sha256")
        for s in doc.get("subject") or []
        if isinstance(s, dict) and isinstance(s.get("digest"), dict)
    }
    if digest.removeprefix("sha256:") not in hexes:
        raise InputError(f"the provenance statement does not name image {digest} as a subject")
    return predicate_type


def attestations(store: Store, digest: str, key: PublicKey | None = None) -> list[bytes]:
    """The in-toto statements attached to ``digest``; with ``key``, only those it signed."""
    out = []
    for desc in referrers(store, digest):
        if desc.artifact_type != ARTIFACT_TYPE_IN_TOTO:
            continue
        manifest = store.read_manifest(desc)
        for layer in manifest.layers:
            data = read_part(store, layer)
            if layer.media_type == ENVELOPE_MEDIA_TYPE:
                if key is None:
                    out.append(Envelope.from_bytes(data).payload)
                    continue
                try:
                    out.append(verify_envelope(data, key))
                except IntegrityError:
                    continue
            elif key is None:
                out.append(data)
    return out
