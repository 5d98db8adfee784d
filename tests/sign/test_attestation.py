"""The provenance referrer: the shape the store's SBOM referrers have, signed or not."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec

from distroless.oci.digest import sha256_bytes
from distroless.sign import dsse
from distroless.sign.attestation import attestation_referrer
from distroless.sign.provenance import PREDICATE_TYPE

SUBJECT = {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + "ab" * 32,
    "size": 123,
}


def test_signed_and_unsigned() -> None:
    statement = b'{"_type":"https://in-toto.io/Statement/v1"}'
    plain = attestation_referrer(SUBJECT, statement, predicate_type=PREDICATE_TYPE, signed=False)
    doc = json.loads(plain.manifest)
    assert doc["artifactType"] == "application/vnd.in-toto+json"
    assert doc["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": sha256_bytes(b"{}"),
        "size": 2,
    }
    assert doc["layers"] == [
        {
            "mediaType": "application/vnd.in-toto+json",
            "digest": sha256_bytes(statement),
            "size": len(statement),
            "annotations": {"in-toto.io/predicate-type": PREDICATE_TYPE},
        }
    ]
    assert doc["subject"] == SUBJECT
    assert plain.blobs[sha256_bytes(statement)] == statement
    assert plain.manifest == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    key = ec.generate_private_key(ec.SECP256R1())
    envelope = dsse.sign_envelope(statement, key)
    signed = attestation_referrer(SUBJECT, envelope, predicate_type=PREDICATE_TYPE, signed=True)
    layer = json.loads(signed.manifest)["layers"][0]
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json"
    assert dsse.verify_envelope(signed.blobs[layer["digest"]], key.public_key()) == statement
    assert signed.descriptor()["artifactType"] == "application/vnd.in-toto+json"
