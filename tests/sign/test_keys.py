"""cosign key files: the PEM layout, the sealed JSON inside, and every label cosign reads."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from distroless import pem
from distroless.errors import InputError
from distroless.sign import encrypted, keys


def test_generated_pair_is_cosigns_format() -> None:
    private, public = keys.generate_keypair("pw")
    assert private.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert private.endswith(b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert public.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    body = private.splitlines()[1:-1]
    assert all(len(line) == 64 for line in body[:-1]) and 0 < len(body[-1]) <= 64
    sealed = pem.decode_first(private, source="key").data
    doc = json.loads(sealed)
    # Go's struct order, compact, standard base64
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert list(doc["kdf"]) == ["name", "params", "salt"]
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert list(doc["kdf"]["params"]) == ["N", "r", "p"]
    assert doc["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    assert b" " not in sealed
    # the sealed plaintext is PKCS#8 DER of a P-256 key matching the public key
    der = encrypted.decrypt(sealed, b"pw")
    key = serialization.load_der_private_key(der, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert keys.public_key_pem(key.public_key()) == public


def test_public_pem_is_what_openssl_writes() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    expected = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert keys.public_key_pem(key.public_key()) == expected


@pytest.mark.parametrize("label", [keys.SIGSTORE_PRIVATE_KEY_LABEL, keys.COSIGN_PRIVATE_KEY_LABEL])
def test_encrypted_labels_load(label: str) -> None:
    private, public = keys.generate_keypair(b"s3cret", label=label, strength="legacy")
    assert private.startswith(f"-----BEGIN {label}-----".encode())
    key = keys.load_private_key(private, "s3cret")
    assert keys.key_id(key.public_key()) == keys.key_id(keys.load_public_key(public))


def test_empty_passphrase_is_a_passphrase() -> None:
    private, _ = keys.generate_keypair("", strength="legacy")
    keys.load_private_key(private, "")
    with pytest.raises(InputError, match="wrong passphrase"):
        keys.load_private_key(private, "x")
    with pytest.raises(InputError, match="give its passphrase"):
        keys.load_private_key(private, None)


def test_plain_pkcs8_and_sec1_keys_load() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        data = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        loaded = keys.load_private_key(data)
        assert loaded.private_numbers() == key.private_numbers()


def test_other_curves_and_algorithms_are_refused_by_name() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    data = p384.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InputError, match="secp384r1; only P-256"):
        keys.load_private_key(data)
    pub = p384.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InputError, match="only P-256"):
        keys.load_public_key(pub)


def test_wrong_label_and_garbage_are_one_line_errors() -> None:
    _, public = keys.generate_keypair("pw", strength="legacy")
    with pytest.raises(InputError, match="is not a private key"):
        keys.load_private_key(public)
    with pytest.raises(InputError, match="not PEM"):
        keys.load_public_key(b"hello", source="key.pub")
    broken = pem.encode("PUBLIC KEY", b"\x30\x03\x02\x01\x00")
    with pytest.raises(InputError, match="key.pub does not hold a readable public key"):
        keys.load_public_key(broken, source="key.pub")


def test_sign_and_verify_bytes() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sig = keys.sign_bytes(key, b"payload")
    assert keys.verify_bytes(key.public_key(), b"payload", sig)
    assert not keys.verify_bytes(key.public_key(), b"payload!", sig)
    other = ec.generate_private_key(ec.SECP256R1())
    assert not keys.verify_bytes(other.public_key(), b"payload", sig)
    assert not keys.verify_bytes(key.public_key(), b"payload", b"\x30\x00")
    # deterministic (RFC 6979): the same image signed twice gives the same signature blob
    assert keys.sign_bytes(key, b"payload") == sig
