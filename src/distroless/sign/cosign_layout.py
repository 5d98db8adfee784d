"""Where cosign keeps signatures in a registry, as documents: no HTTP here.

An image ``sha256:<hex>`` is signed by an OCI image manifest tagged ``sha256-<hex>.sig`` in
the same repository.  Each layer of that manifest is one signature: the layer blob is the
simple-signing payload (media type ``application/vnd.dev.cosign.simplesigning.v1+json``) and
the layer's ``dev.cosignproject.cosign/signature`` annotation holds the base64 signature.
Its config is an image config listing the payloads as diff_ids, one empty history entry
each, as go-containerregistry writes it for cosign.  Manifest and config are serialised the
way cosign's Go code does (struct field order), so a signature written here and the same
signature written by cosign are the same bytes.

With OCI 1.1 referrers, cosign stores the same manifest by digest instead, with
``artifactType`` ``application/vnd.dev.cosign.artifact.sig.v1+json`` (also the config's
media type) and a ``subject`` naming the signed image; registries list it under
``/v2/<name>/referrers/<digest>``.

Everything returned is an :class:`Artifact`: the manifest bytes, its digest, and the blobs
(config and payloads) that must be stored before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from distroless.errors import IntegrityError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, is_digest, sha256_bytes
from distroless.sign import gojson
from distroless.sign.simplesigning import MAX_PAYLOAD_BYTES, SimpleSigning, verify

if TYPE_CHECKING:
    from distroless.sign.keys import PublicKey

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
#: go-containerregistry's zero time: what cosign's signature config says for "created".
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
#: cosign refuses signature manifests with more layers than this; so do we.
MAX_SIGNATURES = 1000
_MAX_MANIFEST_BYTES = 4 << 20


@dataclass(frozen=True)
class Signature:
    """One signature: the payload it signs, the base64 signature, any further annotations.

    ``annotations`` carries what cosign may add beside the signature (a certificate, a
    Rekor bundle); it never holds :data:`SIGNATURE_ANNOTATION` itself.
    """

    payload: bytes
    signature: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    def layer_annotations(self) -> dict[str, str]:
        out = {k: v for k, v in self.annotations.items() if k != SIGNATURE_ANNOTATION}
        out[SIGNATURE_ANNOTATION] = self.signature
        return dict(sorted(out.items()))

    @property
    def digest(self) -> Digest:
        return sha256_bytes(self.payload)


@dataclass(frozen=True)
class Artifact:
    """A manifest ready to store: its bytes and digest, and the blobs it needs first."""

    manifest: bytes
    blobs: Mapping[Digest, bytes]
    media_type: str = mt.OCI_MANIFEST
    artifact_type: str | None = None

    @property
    def digest(self) -> Digest:
        return sha256_bytes(self.manifest)

    def descriptor(self) -> dict[str, Any]:
        """The descriptor of the manifest, as a referrers index lists it."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.manifest),
        }
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out


def signature_tag(manifest_digest: str) -> str:
    """The tag cosign looks for: ``sha256:<hex>`` becomes ``sha256-<hex>.sig``."""
    if not is_digest(manifest_digest):
        raise ValueError(f"{manifest_digest!r} is not a sha256 digest")
    return manifest_digest.replace(":", "-", 1) + ".sig"


def _descriptor(
    media_type: str, data: bytes, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    # go-containerregistry's Descriptor field order: mediaType, size, digest, ..., annotations
    out: dict[str, Any] = {"mediaType": media_type, "size": len(data), "digest": sha256_bytes(data)}
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def _config(diff_ids: Sequence[str]) -> bytes:
    # go-containerregistry's ConfigFile with only what cosign's empty image sets.
    doc = {
        "architecture": "",
        "created": GO_ZERO_TIME,
        "history": [{"created": GO_ZERO_TIME} for _ in diff_ids],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "config": {},
    }
    return gojson.dumps(doc, sort_keys=False)


def _manifest(
    config: dict[str, Any],
    layers: Sequence[dict[str, Any]],
    subject: Mapping[str, Any] | None = None,
    artifact_type: str | None = None,
) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config,
        "layers": list(layers),
    }
    if subject is not None:
        doc["subject"] = dict(subject)
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    return gojson.dumps(doc, sort_keys=False)


def _unique(signatures: Sequence[Signature]) -> list[Signature]:
    seen: set[tuple[bytes, tuple[tuple[str, str], ...]]] = set()
    out = []
    for sig in signatures:
        key = (sig.payload, tuple(sig.layer_annotations().items()))
        if key not in seen:
            seen.add(key)
            out.append(sig)
    if len(out) > MAX_SIGNATURES:
        raise IntegrityError(f"{len(out)} signatures on one image; at most {MAX_SIGNATURES}")
    return out


def signature_manifest(signatures: Sequence[Signature]) -> Artifact:
    """The manifest for the ``sha256-<hex>.sig`` tag holding ``signatures`` (duplicates once)."""
    sigs = _unique(signatures)
    if not sigs:
        raise ValueError("a signature manifest needs at least one signature")
    config = _config([s.digest for s in sigs])
    layers = [
        _descriptor(SIMPLE_SIGNING_MEDIA_TYPE, s.payload, s.layer_annotations()) for s in sigs
    ]
    blobs = {sha256_bytes(config): config, **{s.digest: s.payload for s in sigs}}
    return Artifact(_manifest(_descriptor(mt.OCI_CONFIG, config), layers), blobs)


def append_signatures(manifest: bytes, config: bytes, signatures: Sequence[Signature]) -> Artifact:
    """``manifest`` (an existing ``.sig`` manifest, with its ``config``) plus ``signatures``.

    Existing layers, annotations and other fields are kept as they are, so signatures other
    tools made survive; a signature already present (same payload and annotations) is not
    added twice, and when nothing is new the result is the input unchanged.  The blobs
    returned are the new config and the new payloads; the existing ones are in place.
    """
    doc = _parse_object(manifest, "signature manifest")
    cfg = _parse_object(config, "signature manifest config")
    if doc.get("mediaType", mt.OCI_MANIFEST) != mt.OCI_MANIFEST:
        raise IntegrityError(
            f"the signature tag holds a {doc.get('mediaType')}, not an OCI manifest"
        )
    layers = doc.get("layers")
    config_desc = doc.get("config")
    if not isinstance(layers, list) or not isinstance(config_desc, dict):
        raise IntegrityError("the signature manifest has no layers or no config")
    if config_desc.get("digest") != sha256_bytes(config):
        raise IntegrityError("the config given is not the signature manifest's config")
    present = {
        (layer.get("digest"), tuple(sorted((layer.get("annotations") or {}).items())))
        for layer in layers
        if isinstance(layer, dict)
    }
    new = [
        s
        for s in _unique(signatures)
        if (s.digest, tuple(s.layer_annotations().items())) not in present
    ]
    if not new:
        return Artifact(manifest, {})
    if len(layers) + len(new) > MAX_SIGNATURES:
        raise IntegrityError(f"more than {MAX_SIGNATURES} signatures on one image")
    rootfs = cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    if not isinstance(rootfs, dict):
        raise IntegrityError("the signature manifest config has a malformed rootfs")
    diff_ids = rootfs.setdefault("diff_ids", [])
    history = cfg.get("history")
    if not isinstance(diff_ids, list):
        raise IntegrityError("the signature manifest config has malformed diff_ids")
    keep_history = isinstance(history, list) and len(history) == len(diff_ids)
    for sig in new:
        diff_ids.append(sig.digest)
        if keep_history:
            assert isinstance(history, list)
            history.append({"created": GO_ZERO_TIME})
        layers.append(_descriptor(SIMPLE_SIGNING_MEDIA_TYPE, sig.payload, sig.layer_annotations()))
    new_config = gojson.dumps(cfg, sort_keys=False)
    doc["config"] = {**config_desc, "size": len(new_config), "digest": sha256_bytes(new_config)}
    blobs = {sha256_bytes(new_config): new_config, **{s.digest: s.payload for s in new}}
    return Artifact(gojson.dumps(doc, sort_keys=False), blobs)


def signature_referrer(subject: Mapping[str, Any], signatures: Sequence[Signature]) -> Artifact:
    """The OCI 1.1 referrer form: the ``.sig`` manifest with ``artifactType`` and ``subject``.

    ``subject`` is the signed image's descriptor (``mediaType``, ``digest``, ``size``).
    """
    for key in ("mediaType", "digest", "size"):
        if key not in subject:
            raise ValueError(f"the subject descriptor needs {key!r}")
    plain = signature_manifest(signatures)
    doc = json.loads(plain.manifest)
    config = doc["config"]
    config["mediaType"] = SIGNATURE_ARTIFACT_TYPE
    subject_desc = {
        "mediaType": subject["mediaType"],
        "size": subject["size"],
        "digest": subject["digest"],
    }
    manifest = _manifest(config, doc["layers"], subject_desc, SIGNATURE_ARTIFACT_TYPE)
    return Artifact(manifest, plain.blobs, artifact_type=SIGNATURE_ARTIFACT_TYPE)


def read_signatures(manifest: bytes, blob: Callable[[Digest], bytes]) -> list[Signature]:
    """The signatures in an untrusted ``.sig`` or referrer manifest.

    ``blob`` fetches a blob by digest; each payload is checked against its descriptor's
    digest and size.  Layers of other media types, or without a signature annotation, are
    not signatures and are skipped.
    """
    doc = _parse_object(manifest, "signature manifest")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise IntegrityError("the signature manifest has no layers list")
    if len(layers) > MAX_SIGNATURES:
        raise IntegrityError(
            f"the signature manifest has {len(layers)} layers; at most {MAX_SIGNATURES}"
        )
    out = []
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("mediaType") != SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        annotations = layer.get("annotations")
        if not isinstance(annotations, dict) or not isinstance(
            annotations.get(SIGNATURE_ANNOTATION), str
        ):
            continue
        digest, size = layer.get("digest"), layer.get("size")
        if not isinstance(digest, str) or not is_digest(digest) or type(size) is not int:
            raise IntegrityError("a signature layer has an invalid digest or size")
        if size > MAX_PAYLOAD_BYTES:
            raise IntegrityError(f"a signature payload of {size} bytes is too large")
        data = blob(Digest(digest))
        if len(data) != size or sha256_bytes(data) != digest:
            raise IntegrityError(f"signature payload {digest} does not match its digest")
        extra = {k: v for k, v in annotations.items() if k != SIGNATURE_ANNOTATION}
        if not all(isinstance(v, str) for v in extra.values()):
            raise IntegrityError("a signature layer has a non-string annotation")
        out.append(Signature(data, annotations[SIGNATURE_ANNOTATION], extra))
    return out


def verify_any(
    signatures: Sequence[Signature],
    key: PublicKey,
    *,
    manifest_digest: str,
    docker_reference: str | None = None,
) -> SimpleSigning:
    """The claim of the first signature that ``key`` made for this image; IntegrityError if none."""
    reasons = []
    for sig in signatures:
        try:
            return verify(
                sig.payload,
                sig.signature,
                key,
                manifest_digest=manifest_digest,
                docker_reference=docker_reference,
            )
        except IntegrityError as exc:
            reasons.append(exc.message)
    if not reasons:
        raise IntegrityError(f"image {manifest_digest} has no signatures")
    detail = "; ".join(sorted(set(reasons)))
    raise IntegrityError(
        f"none of the {len(signatures)} signatures of {manifest_digest} verifies with this key "
        f"({detail})"
    )


def _parse_object(data: bytes, what: str) -> dict[str, Any]:
    if len(data) > _MAX_MANIFEST_BYTES:
        raise IntegrityError(f"the {what} is {len(data)} bytes, too large")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"the {what} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise IntegrityError(f"the {what} is not a JSON object")
    return doc
