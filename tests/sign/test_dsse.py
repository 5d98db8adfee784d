"""DSSE: the PAE from the spec, sign and verify, and what a tampered envelope gets."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from distroless.errors import IntegrityError
from distroless.sign import dsse, keys


def test_pae_matches_the_spec_example() -> None:
    assert (
        dsse.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "
    assert dsse.pae("t", "ü".encode()) == b"DSSEv1 1 t 2 \xc3\xbc"


def test_sign_verify_and_layout() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    statement = b'{"_type":"https://in-toto.io/Statement/v1"}'
    envelope = dsse.sign_envelope(statement, key, keyid="k1")
    doc = json.loads(envelope)
    assert set(doc) == {"payload", "payloadType", "signatures"}
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(doc["payload"]) == statement
    assert doc["signatures"][0]["keyid"] == "k1"
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    # the signature covers the PAE, not the payload alone
    assert keys.verify_bytes(key.public_key(), dsse.pae(doc["payloadType"], statement), sig)
    assert not keys.verify_bytes(key.public_key(), statement, sig)
    assert dsse.verify_envelope(envelope, key.public_key()) == statement
    assert dsse.sign_envelope(statement, key, keyid="k1") == envelope  # deterministic


def test_a_second_signature_and_either_key_verifies() -> None:
    a, b = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    envelope = dsse.add_signature(dsse.sign_envelope(b"x", a), b, keyid="b")
    assert len(json.loads(envelope)["signatures"]) == 2
    for key in (a, b):
        assert dsse.verify_envelope(envelope, key.public_key()) == b"x"


def test_tampering_is_caught() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    doc = json.loads(dsse.sign_envelope(b"payload", key))
    swapped = dict(doc, payload=base64.b64encode(b"evil").decode())
    with pytest.raises(IntegrityError, match="verifies with this key"):
        dsse.verify_envelope(json.dumps(swapped).encode(), key.public_key())
    # changing the payload type changes the PAE, so a signature cannot be reused for it
    retyped = dict(doc, payloadType="text/plain")
    with pytest.raises(IntegrityError, match="verifies with this key"):
        dsse.verify_envelope(
            json.dumps(retyped).encode(), key.public_key(), payload_type="text/plain"
        )
    with pytest.raises(IntegrityError, match="carries 'text/plain'"):
        dsse.verify_envelope(json.dumps(retyped).encode(), key.public_key())
    with pytest.raises(IntegrityError, match="not signed"):
        dsse.verify_envelope(json.dumps(dict(doc, signatures=[])).encode(), key.public_key())
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(IntegrityError, match="verifies with this key"):
        dsse.verify_envelope(json.dumps(doc).encode(), other.public_key())
    with pytest.raises(IntegrityError, match="not valid JSON"):
        dsse.verify_envelope(b"{", key.public_key())


def test_url_safe_base64_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    payload = bytes([0xFB, 0xFF]) * 10
    doc = json.loads(dsse.sign_envelope(payload, key))
    doc["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert dsse.verify_envelope(json.dumps(doc).encode(), key.public_key()) == payload
