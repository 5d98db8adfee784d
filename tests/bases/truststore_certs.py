"""Certificates with awkward subject names, made deterministically for the trust store tests.

Ed25519 signatures are deterministic, and the keys come from fixed seeds, so the same call
gives the same DER every time: a bundle of these has a known trust store digest.
"""

from __future__ import annotations

import hashlib
import warnings
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

A = _ASN1Type


def _key(seed: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


def certificate(
    name: x509.Name, seed: str, not_before: datetime = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
) -> bytes:
    """A self-signed CA certificate for ``name`` as PEM."""
    key = _key(seed)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") | 1)
        .not_valid_before(not_before)
        .not_valid_after(datetime(2099, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def attr(
    oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type | None = None
) -> x509.NameAttribute[str]:
    # An empty common name is legal DER; cryptography warns about it even unvalidated.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if kind is None:
            return x509.NameAttribute(oid, value, _validate=False)
        return x509.NameAttribute(oid, value, _type=kind, _validate=False)


def name(*attrs: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name(list(attrs))


def awkward_names() -> list[x509.Name]:
    """Subjects that exercise every rule of Java's canonical form."""
    cn, o, ou, c = (
        NameOID.COMMON_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATIONAL_UNIT_NAME,
        NameOID.COUNTRY_NAME,
    )
    return [
        name(attr(c, "DE"), attr(o, "Plain Org"), attr(cn, "Plain Root CA")),
        name(attr(cn, "  Leading   and  trailing   spaces  ")),
        name(attr(cn, '#hash first, then + < > ; " \\ escapes')),
        name(attr(cn, "UTF8 Ünïcödé ß ﬁ İstanbul ÅNGSTRÖM")),
        name(attr(cn, "BMP string", A.BMPString)),
        name(attr(cn, "T61 string", A.T61String)),
        name(attr(cn, "IA5 string", A.IA5String)),
        name(attr(cn, "Tab\tand\nnewline & at@ under_score*")),
        name(
            attr(NameOID.EMAIL_ADDRESS, "ca@example.org"),
            attr(NameOID.SERIAL_NUMBER, "12345"),
            attr(NameOID.DOMAIN_COMPONENT, "Example"),
            attr(NameOID.USER_ID, "UID-7"),
            attr(NameOID.STREET_ADDRESS, "Main Street 1"),
            attr(NameOID.STATE_OR_PROVINCE_NAME, "Bavaria"),
            attr(NameOID.LOCALITY_NAME, "Munich"),
            attr(NameOID.ORGANIZATION_IDENTIFIER, "VATDE-123"),
            attr(cn, "Many types"),
        ),
        x509.Name(
            [
                x509.RelativeDistinguishedName(
                    [
                        attr(ou, "Zeta unit"),
                        attr(cn, "Multi valued"),
                        attr(NameOID.SERIAL_NUMBER, "9"),
                        attr(NameOID.EMAIL_ADDRESS, "m@example.org"),
                    ]
                ),
                x509.RelativeDistinguishedName([attr(o, "Outer")]),
            ]
        ),
        name(attr(cn, "")),
        name(attr(cn, "MiXeD CaSe ROOT")),
    ]


def awkward_bundle() -> bytes:
    dates = [
        datetime(1960, 6, 1, 12, 0, 0, tzinfo=UTC),  # before the epoch: a negative date
        datetime(2055, 3, 4, 5, 6, 7, tzinfo=UTC),  # GeneralizedTime
    ]
    out = []
    for i, subject in enumerate(awkward_names()):
        when = dates[i] if i < len(dates) else datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
        out.append(certificate(subject, f"seed-{i}", when))
    return b"".join(out)
