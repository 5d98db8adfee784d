"""DSSE envelopes: how in-toto attestations (provenance, SBOM statements) are signed.

A DSSE signature covers the pre-authentication encoding (PAE) of the payload, never the
JSON of the envelope, so re-serialising an envelope cannot change what was signed::

    "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with lengths as ASCII decimal byte counts.  The envelope is
``{"payload": b64, "payloadType": ..., "signatures": [{"keyid": ..., "sig": b64}]}``;
signatures are ECDSA P-256 over SHA-256 with the same keys as image signatures.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from distroless.errors import IntegrityError
from distroless.oci.canonical import dumps

if TYPE_CHECKING:  # the key code and ``cryptography`` load only to sign or verify
    from distroless.sign.keys import PrivateKey, PublicKey

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
_MAX_ENVELOPE_BYTES = 64 << 20


def pae(payload_type: str, payload: bytes) -> bytes:
    """The bytes a DSSE signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class EnvelopeSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...] = ()

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, compact); ``keyid`` is always written, as cosign does."""
        return dumps(
            {
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [
                    {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                    for s in self.signatures
                ],
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse an untrusted envelope; IntegrityError when it is malformed."""
        if len(data) > _MAX_ENVELOPE_BYTES:
            raise IntegrityError(f"DSSE envelope of {len(data)} bytes is too large")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError("the DSSE envelope is not valid JSON") from None
        if not isinstance(doc, dict):
            raise IntegrityError("the DSSE envelope is not a JSON object")
        payload_type = doc.get("payloadType")
        sigs = doc.get("signatures")
        if not isinstance(payload_type, str) or not isinstance(sigs, list):
            raise IntegrityError("the DSSE envelope lacks payloadType or signatures")
        signatures = []
        for entry in sigs:
            if not isinstance(entry, dict):
                raise IntegrityError("a DSSE signature entry is not an object")
            keyid = entry.get("keyid", "")
            if not isinstance(keyid, str):
                raise IntegrityError("a DSSE signature has a keyid that is not a string")
            signatures.append(EnvelopeSignature(keyid, _b64(entry.get("sig"), "sig")))
        return cls(payload_type, _b64(doc.get("payload"), "payload"), tuple(signatures))


def _b64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise IntegrityError(f"the DSSE envelope's {name} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # DSSE allows URL-safe base64 as well; accept it when standard decoding fails.
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raise IntegrityError(f"the DSSE envelope's {name} is not base64") from None


def sign_envelope(
    payload: bytes,
    key: PrivateKey,
    *,
    keyid: str = "",
    payload_type: str = IN_TOTO_PAYLOAD_TYPE,
) -> bytes:
    """The envelope bytes for ``payload`` signed by ``key`` (``keyid`` names it, optional)."""
    from distroless.sign.keys import sign_bytes

    sig = EnvelopeSignature(keyid, sign_bytes(key, pae(payload_type, payload)))
    return Envelope(payload_type, payload, (sig,)).to_bytes()


def add_signature(envelope: bytes, key: PrivateKey, *, keyid: str = "") -> bytes:
    """``envelope`` with one more signature, by ``key``, over the same payload."""
    from distroless.sign.keys import sign_bytes

    env = Envelope.from_bytes(envelope)
    sig = EnvelopeSignature(keyid, sign_bytes(key, pae(env.payload_type, env.payload)))
    return Envelope(env.payload_type, env.payload, (*env.signatures, sig)).to_bytes()


def verify_envelope(
    data: bytes, key: PublicKey, *, payload_type: str = IN_TOTO_PAYLOAD_TYPE
) -> bytes:
    """The payload of envelope ``data`` once one of its signatures verifies with ``key``."""
    from distroless.sign.keys import verify_bytes

    envelope = Envelope.from_bytes(data)
    if envelope.payload_type != payload_type:
        raise IntegrityError(
            f"the DSSE envelope carries {envelope.payload_type!r}, not {payload_type!r}"
        )
    if not envelope.signatures:
        raise IntegrityError("the DSSE envelope is not signed")
    message = pae(envelope.payload_type, envelope.payload)
    if any(verify_bytes(key, message, s.sig) for s in envelope.signatures):
        return envelope.payload
    raise IntegrityError(
        f"none of the {len(envelope.signatures)} signatures of the DSSE envelope verifies "
        "with this key"
    )
