"""sigstore's passphrase-sealed blob: scrypt turns the passphrase into a key, NaCl's secretbox
seals the data with it.

cosign keeps its private key as the PEM of this JSON document (go-securesystemslib's
``encrypted`` package), so the layout is what cosign and skopeo parse::

    {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<b64>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<b64>"},"ciphertext":"<b64>"}

in that field order (Go marshals struct fields in declaration order), standard base64 with
padding.  Only the three scrypt parameter sets that implementation knows are accepted on
reading: the parameters come from the file, and an attacker who can edit it could otherwise
ask for gigabytes of memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from typing import Literal

import nacl.exceptions
import nacl.secret

from distroless.errors import InputError

Strength = Literal["legacy", "standard", "owasp"]

#: (N, r, p) of each strength; "standard" is what cosign writes today, "legacy" what older
#: releases wrote and still read.
SCRYPT_PARAMS: dict[Strength, tuple[int, int, int]] = {
    "legacy": (32768, 8, 1),
    "standard": (65536, 8, 1),
    "owasp": (131072, 8, 1),
}
SALT_SIZE = 32
KEY_SIZE = nacl.secret.SecretBox.KEY_SIZE
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE
KDF_NAME = "scrypt"
CIPHER_NAME = "nacl/secretbox"
# Enough for the largest accepted parameter set (128 * r * N bytes = 128 MiB for "owasp").
_MAX_MEMORY = 256 * 1024 * 1024


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=KEY_SIZE)


def encrypt(
    plaintext: bytes,
    passphrase: bytes,
    *,
    strength: Strength = "standard",
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """The JSON document sealing ``plaintext``; fresh random salt and nonce unless given."""
    n, r, p = SCRYPT_PARAMS[strength]
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"a secretbox nonce has {NONCE_SIZE} bytes, not {len(nonce)}")
    key = _scrypt(passphrase, salt, n, r, p)
    sealed = nacl.secret.SecretBox(key).encrypt(plaintext, nonce).ciphertext
    document = {
        "kdf": {"name": KDF_NAME, "params": {"N": n, "r": r, "p": p}, "salt": _b64(salt)},
        "cipher": {"name": CIPHER_NAME, "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decrypt(document: bytes, passphrase: bytes, *, source: str = "the encrypted key") -> bytes:
    """The plaintext sealed in ``document``; InputError for a wrong passphrase or a bad file."""
    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError):
        raise InputError(f"{source} is not an encrypted sigstore key (not JSON)") from None
    kdf = _object(doc, "kdf", source)
    cipher = _object(doc, "cipher", source)
    if kdf.get("name") != KDF_NAME:
        raise InputError(f"{source}: unknown key derivation {kdf.get('name')!r}")
    if cipher.get("name") != CIPHER_NAME:
        raise InputError(f"{source}: unknown cipher {cipher.get('name')!r}")
    params = _object(kdf, "params", source)
    n, r, p = params.get("N"), params.get("r"), params.get("p")
    if not (type(n) is int and type(r) is int and type(p) is int) or (
        (n, r, p) not in SCRYPT_PARAMS.values()
    ):
        raise InputError(f"{source}: unsupported scrypt parameters N={n!r} r={r!r} p={p!r}")
    salt = _bytes(kdf, "salt", source)
    nonce = _bytes(cipher, "nonce", source)
    sealed = _bytes(doc, "ciphertext", source)
    if len(nonce) != NONCE_SIZE:
        raise InputError(f"{source}: the nonce has {len(nonce)} bytes, not {NONCE_SIZE}")
    key = _scrypt(passphrase, salt, n, r, p)
    try:
        return nacl.secret.SecretBox(key).decrypt(sealed, nonce)
    except nacl.exceptions.CryptoError:
        raise InputError(
            f"cannot decrypt {source}: wrong passphrase, or the file was damaged"
        ) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _object(doc: object, key: str, source: str) -> dict[str, object]:
    value = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(value, dict):
        raise InputError(f"{source} is not an encrypted sigstore key (no {key!r} object)")
    return value


def _bytes(doc: dict[str, object], key: str, source: str) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str):
        raise InputError(f"{source} is not an encrypted sigstore key (no {key!r} field)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{source}: {key!r} is not valid base64") from None
