"""sigstore's sealed blob: round trip, tampering, and the parameters an attacker may not pick."""

from __future__ import annotations

import base64
import json

import pytest

from distroless.errors import InputError
from distroless.sign import encrypted


def _doc(data: bytes) -> dict[str, object]:
    out = json.loads(data)
    assert isinstance(out, dict)
    return out


def test_round_trip_with_fixed_salt_and_nonce_is_deterministic() -> None:
    salt, nonce = bytes(range(32)), bytes(range(24))
    one = encrypted.encrypt(b"secret", b"pw", strength="legacy", salt=salt, nonce=nonce)
    two = encrypted.encrypt(b"secret", b"pw", strength="legacy", salt=salt, nonce=nonce)
    assert one == two
    doc = _doc(one)
    # secretbox output is the 16-byte Poly1305 tag followed by the ciphertext (Go's Seal)
    assert len(base64.b64decode(str(doc["ciphertext"]))) == len(b"secret") + 16
    assert encrypted.decrypt(one, b"pw") == b"secret"


def test_fresh_randomness_each_time() -> None:
    one = _doc(encrypted.encrypt(b"x", b"pw", strength="legacy"))
    two = _doc(encrypted.encrypt(b"x", b"pw", strength="legacy"))
    assert one["kdf"] != two["kdf"] and one["cipher"] != two["cipher"]


def test_tampered_ciphertext_is_refused() -> None:
    doc = _doc(encrypted.encrypt(b"secret", b"pw", strength="legacy"))
    raw = bytearray(base64.b64decode(str(doc["ciphertext"])))
    raw[-1] ^= 1
    doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(InputError, match="wrong passphrase, or the file was damaged"):
        encrypted.decrypt(json.dumps(doc).encode(), b"pw")


@pytest.mark.parametrize(
    "params",
    [
        {"N": 1 << 24, "r": 8, "p": 1},  # 16 GiB of memory: never run what a file asks for
        {"N": 32768, "r": 8, "p": 2},
        {"N": 32768.0, "r": 8, "p": 1},
        {"N": "32768", "r": 8, "p": 1},
    ],
)
def test_unknown_scrypt_parameters_are_refused_before_any_work(params: dict[str, object]) -> None:
    doc = _doc(encrypted.encrypt(b"secret", b"pw", strength="legacy"))
    kdf = doc["kdf"]
    assert isinstance(kdf, dict)
    kdf["params"] = params
    with pytest.raises(InputError, match="unsupported scrypt parameters"):
        encrypted.decrypt(json.dumps(doc).encode(), b"pw")


def test_every_known_strength_decrypts() -> None:
    for strength in encrypted.SCRYPT_PARAMS:
        data = encrypted.encrypt(b"k", b"pw", strength=strength)
        assert encrypted.decrypt(data, b"pw") == b"k"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("kdf"), "no 'kdf' object"),
        (lambda d: d["kdf"].update(name="pbkdf2"), "unknown key derivation"),
        (lambda d: d["cipher"].update(name="aes"), "unknown cipher"),
        (lambda d: d["cipher"].update(nonce="AAAA"), "nonce has 3 bytes"),
        (lambda d: d.update(ciphertext="!!"), "not valid base64"),
    ],
)
def test_malformed_documents(mutate: object, message: str) -> None:
    doc = json.loads(encrypted.encrypt(b"k", b"pw", strength="legacy"))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        encrypted.decrypt(json.dumps(doc).encode(), b"pw")
    with pytest.raises(InputError, match="not JSON"):
        encrypted.decrypt(b"\xff", b"pw")
