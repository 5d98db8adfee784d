"""Signing keys in cosign's format: ECDSA on P-256, PEM files that cosign and skopeo read.

The public key is a ``PUBLIC KEY`` block (SubjectPublicKeyInfo DER).  The private key is
PKCS#8 DER sealed with a passphrase (:mod:`distroless.sign.encrypted`) in an
``ENCRYPTED SIGSTORE PRIVATE KEY`` block, as cosign writes it today; the older
``ENCRYPTED COSIGN PRIVATE KEY`` label (what cosign 1.x and skopeo write) and plain
``PRIVATE KEY`` / ``EC PRIVATE KEY`` blocks are read too.  P-256 is the one curve every
sigstore verifier must support, so it is the only one accepted: a key on another curve is
refused by name instead of producing signatures some verifier cannot check.

Signatures are ASN.1 DER ECDSA over SHA-256.  They are deterministic (RFC 6979) where the
crypto library supports it, so signing the same image with the same key gives the same
signature blob and the same signature manifest digest.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from distroless import pem
from distroless.errors import InputError
from distroless.sign import encrypted

PUBLIC_KEY_LABEL = "PUBLIC KEY"
SIGSTORE_PRIVATE_KEY_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PRIVATE_KEY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
PKCS8_PRIVATE_KEY_LABEL = "PRIVATE KEY"
EC_PRIVATE_KEY_LABEL = "EC PRIVATE KEY"
ENCRYPTED_LABELS = frozenset({SIGSTORE_PRIVATE_KEY_LABEL, COSIGN_PRIVATE_KEY_LABEL})

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


def _passphrase_bytes(passphrase: bytes | str) -> bytes:
    return passphrase.encode() if isinstance(passphrase, str) else passphrase


def generate_keypair(
    passphrase: bytes | str,
    *,
    label: str = SIGSTORE_PRIVATE_KEY_LABEL,
    strength: encrypted.Strength = "standard",
) -> tuple[bytes, bytes]:
    """A fresh P-256 key pair: (encrypted private key PEM, public key PEM).

    An empty passphrase is allowed, as in cosign (the key is still sealed, with an empty
    passphrase).  ``label`` may be :data:`COSIGN_PRIVATE_KEY_LABEL` for older readers.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    return encrypt_private_key(key, passphrase, label=label, strength=strength), public_key_pem(
        key.public_key()
    )


def encrypt_private_key(
    key: PrivateKey,
    passphrase: bytes | str,
    *,
    label: str = SIGSTORE_PRIVATE_KEY_LABEL,
    strength: encrypted.Strength = "standard",
) -> bytes:
    """``key`` as cosign's encrypted private key PEM."""
    if label not in ENCRYPTED_LABELS:
        raise ValueError(f"{label!r} is not a label for an encrypted sigstore key")
    _check_curve(key.curve, "the private key")
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sealed = encrypted.encrypt(der, _passphrase_bytes(passphrase), strength=strength)
    return pem.encode(label, sealed)


def public_key_pem(key: PublicKey) -> bytes:
    """``key`` as a ``PUBLIC KEY`` PEM block (SubjectPublicKeyInfo), as cosign writes it."""
    return pem.encode(PUBLIC_KEY_LABEL, public_key_der(key))


def public_key_der(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: PublicKey) -> str:
    """A stable name for ``key``: ``sha256:`` and the hex digest of its SubjectPublicKeyInfo."""
    return "sha256:" + hashlib.sha256(public_key_der(key)).hexdigest()


def load_private_key(
    data: bytes, passphrase: bytes | str | None = None, *, source: str = "the private key"
) -> PrivateKey:
    """The P-256 private key in the PEM ``data``; ``passphrase`` unseals an encrypted one."""
    block = pem.decode_first(data, source=source)
    if block.label in ENCRYPTED_LABELS:
        if passphrase is None:
            raise InputError(f"{source} is encrypted: give its passphrase")
        der = encrypted.decrypt(block.data, _passphrase_bytes(passphrase), source=source)
    elif block.label in (PKCS8_PRIVATE_KEY_LABEL, EC_PRIVATE_KEY_LABEL):
        der = block.data
    else:
        raise InputError(f"{source}: a PEM block {block.label!r} is not a private key")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InputError(f"{source} does not hold a readable private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(f"{source} is not an ECDSA key; only ECDSA P-256 keys are supported")
    _check_curve(key.curve, source)
    return key


def load_public_key(data: bytes, *, source: str = "the public key") -> PublicKey:
    """The P-256 public key in the ``PUBLIC KEY`` PEM ``data``."""
    block = pem.decode_first(data, source=source)
    if block.label != PUBLIC_KEY_LABEL:
        raise InputError(f"{source}: a PEM block {block.label!r} is not a PUBLIC KEY")
    try:
        key = serialization.load_der_public_key(block.data)
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{source} does not hold a readable public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InputError(f"{source} is not an ECDSA key; only ECDSA P-256 keys are supported")
    _check_curve(key.curve, source)
    return key


def _check_curve(curve: ec.EllipticCurve, source: str) -> None:
    if not isinstance(curve, ec.SECP256R1):
        raise InputError(f"{source} is on curve {curve.name}; only P-256 is supported")


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """DER ECDSA-SHA256 signature of ``data``; deterministic where the library can."""
    try:
        return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    except UnsupportedAlgorithm:  # an OpenSSL older than 3.2: a random nonce is as valid
        return key.sign(data, ec.ECDSA(hashes.SHA256()))


def verify_bytes(key: PublicKey, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` (DER) is ``key``'s ECDSA-SHA256 signature of ``data``."""
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
