"""The simple-signing payload that cosign signs, and signing and verifying it.

A cosign signature does not sign the image; it signs this small JSON document naming the
image's manifest digest and the repository it was pushed to::

    {"critical":{"identity":{"docker-reference":"host/repo"},
                 "image":{"docker-manifest-digest":"sha256:…"},
                 "type":"cosign container image signature"},
     "optional":null}

encoded as Go's ``json.Marshal`` does (sorted keys, compact), so our payloads are byte for
byte what cosign writes for the same image.  ``optional`` is free-form (cosign puts
``-a key=value`` annotations there, skopeo a ``creator`` and a ``timestamp``); verifiers
ignore it.  Parsing is as strict as skopeo's: ``critical`` and its parts must have exactly
their fields, no key may repeat, so a payload cannot say two things at once.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distroless.errors import DistrolessError, IntegrityError
from distroless.oci.digest import Digest, is_digest
from distroless.oci.reference import Reference
from distroless.sign import gojson

if TYPE_CHECKING:
    # The key code needs ``cryptography``, slow to import; pulls and pushes that only carry
    # signatures along never sign or verify, so it is imported where it is used.
    from distroless.sign.keys import PrivateKey, PublicKey

SIGNATURE_TYPE = "cosign container image signature"
#: Payloads are a few hundred bytes; anything far larger is not a signature.
MAX_PAYLOAD_BYTES = 1 << 20


@dataclass(frozen=True)
class SimpleSigning:
    """The claim a signature makes: image ``manifest_digest`` lives at ``docker_reference``."""

    docker_reference: str
    manifest_digest: Digest
    optional: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "critical": {
                "identity": {"docker-reference": self.docker_reference},
                "image": {"docker-manifest-digest": self.manifest_digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": None if self.optional is None else dict(self.optional),
        }

    def to_bytes(self) -> bytes:
        """The canonical payload bytes, as cosign would write them."""
        return gojson.dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> SimpleSigning:
        """Parse an untrusted payload; IntegrityError unless it is exactly the expected shape."""
        if len(data) > MAX_PAYLOAD_BYTES:
            raise IntegrityError(f"signature payload of {len(data)} bytes is too large")
        try:
            doc = json.loads(data, object_pairs_hook=_no_duplicates)
        except (ValueError, UnicodeDecodeError) as exc:
            raise IntegrityError(f"signature payload is not valid JSON: {exc}") from None
        top = _exact(doc, ("critical", "optional"), "the payload")
        critical = _exact(top["critical"], ("identity", "image", "type"), "critical")
        if critical["type"] != SIGNATURE_TYPE:
            raise IntegrityError(
                f"signature payload has type {critical['type']!r}, not a cosign one"
            )
        image = _exact(critical["image"], ("docker-manifest-digest",), "critical.image")
        identity = _exact(critical["identity"], ("docker-reference",), "critical.identity")
        digest = image["docker-manifest-digest"]
        reference = identity["docker-reference"]
        if not isinstance(digest, str) or not is_digest(digest):
            raise IntegrityError(f"signature payload names an invalid digest {digest!r}")
        if not isinstance(reference, str):
            raise IntegrityError("signature payload has a docker-reference that is not a string")
        optional = top["optional"]
        if optional is not None and not isinstance(optional, dict):
            raise IntegrityError("signature payload has an 'optional' that is not an object")
        return cls(reference, Digest(digest), optional)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _exact(value: object, fields: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != set(fields):
        have = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise IntegrityError(
            f"signature payload: {where} must have exactly {', '.join(fields)}; it has {have}"
        )
    return value


def payload(
    docker_reference: str, manifest_digest: str, optional: Mapping[str, Any] | None = None
) -> bytes:
    """The payload bytes for signing image ``manifest_digest`` at ``docker_reference``."""
    if not is_digest(manifest_digest):
        raise ValueError(f"{manifest_digest!r} is not a sha256 digest")
    return SimpleSigning(docker_reference, Digest(manifest_digest), optional).to_bytes()


def sign(data: bytes, key: PrivateKey) -> str:
    """The base64 signature of payload ``data``: the value of cosign's signature annotation."""
    from distroless.sign.keys import sign_bytes

    return base64.b64encode(sign_bytes(key, data)).decode("ascii")


def check_signature(data: bytes, signature: str, key: PublicKey) -> None:
    """IntegrityError unless ``signature`` (base64 DER) is ``key``'s signature of ``data``."""
    from distroless.sign.keys import verify_bytes

    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("the signature is not valid base64") from None
    if not verify_bytes(key, data, raw):
        raise IntegrityError("the signature was not made by this key over this payload")


def verify(
    data: bytes,
    signature: str,
    key: PublicKey,
    *,
    manifest_digest: str,
    docker_reference: str | None = None,
) -> SimpleSigning:
    """Check a signature and what it claims; return the claim.

    The signature must be ``key``'s over ``data``; the payload must name ``manifest_digest``
    and, when ``docker_reference`` is given, the same repository (tags and digests aside,
    docker's normalisation applied: cosign signs ``host/repo``, skopeo ``host/repo:tag``).
    """
    check_signature(data, signature, key)
    claim = SimpleSigning.from_bytes(data)
    if claim.manifest_digest != manifest_digest:
        raise IntegrityError(
            f"the signature is for image {claim.manifest_digest}, not {manifest_digest}"
        )
    if docker_reference is not None and not same_repository(
        claim.docker_reference, docker_reference
    ):
        raise IntegrityError(
            f"the signature is for repository {claim.docker_reference!r}, not {docker_reference!r}"
        )
    return claim


def same_repository(signed: str, expected: str) -> bool:
    """True when both references name one repository (registry and path, normalised)."""
    try:
        return Reference.parse(signed).name == Reference.parse(expected).name
    except DistrolessError:
        return False
