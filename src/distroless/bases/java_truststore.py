"""The Java trust store (``/etc/ssl/certs/java/cacerts``) written from the PEM CA bundle.

Format: JKS, as Google's distroless java images ship it (rules_distroless' keystore tool),
and readable by every JDK we build on: OpenJDK 9 and later default to PKCS12 but, with
``keystore.type.compat=true`` (the default in 17, 21 and 25), open a JKS file through that
type too, so the default ``TrustManagerFactory`` finds every CA with no flag.  PKCS12 was
the other candidate; it needs random salts for its MAC (to be fixed by hand here) and
Oracle's trusted-key-usage attribute (OID 2.16.840.1.113894.746875.1.1) on every
certificate bag before Java treats an entry as a trust anchor.  JKS has neither: it is a
plain list of trusted-certificate entries followed by a keyed SHA-1 digest, so the bytes are
a pure function of the bundle.

Layout (big-endian): magic ``FEEDFEED``, version 2, the entry count; per entry the tag 2
(trusted certificate), the alias (Java's modified UTF-8 with a 2-byte length), the creation
date in milliseconds (here the certificate's ``notBefore``, as Google's tool does), the
certificate type ``X.509`` and the DER with a 4-byte length; then SHA-1 over the password
as UTF-16BE, the bytes ``Mighty Aphrodite`` and everything before.  The password is
``changeit``, as Debian's ``ca-certificates-java`` and the JDK use.

Aliases are the certificates' canonical subject names (:mod:`distroless.bases.x509der`),
Google's choice, so for the same bundle the file is the one Google ships.  Where two CAs
share a subject (Debian's bundle has such a pair), Google's store holds both under one
alias and Java, loading it, keeps only the last; here a later one gets a suffix with its
fingerprint so the JVM sees every CA.  A certificate present twice is stored once.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from distroless.bases.x509der import DerError, canonical_name, parse_certificate
from distroless.errors import InputError
from distroless.pem import iter_blocks

PASSWORD = "changeit"  # noqa: S105 - the well-known password of every JDK trust store
PATH = "etc/ssl/certs/java/cacerts"
MAGIC = 0xFEEDFEED
VERSION = 2
TRUSTED_CERT = 2
CERT_TYPE = "X.509"
_WHITENER = b"Mighty Aphrodite"


@dataclass(frozen=True)
class TrustedEntry:
    alias: str
    created_ms: int
    der: bytes


def modified_utf8(text: str) -> bytes:
    """``DataOutputStream.writeUTF``: a 2-byte length, then Java's modified UTF-8."""
    out = bytearray()
    units = text.encode("utf-16-be", "surrogatepass")
    for i in range(0, len(units), 2):
        unit = (units[i] << 8) | units[i + 1]
        if 0 < unit < 0x80:
            out.append(unit)
        elif unit < 0x800:  # U+0000 too: two bytes, so the string never holds a NUL
            out += bytes((0xC0 | unit >> 6, 0x80 | unit & 0x3F))
        else:  # surrogates are encoded one by one, three bytes each
            out += bytes((0xE0 | unit >> 12, 0x80 | (unit >> 6) & 0x3F, 0x80 | unit & 0x3F))
    if len(out) > 0xFFFF:
        raise InputError(f"alias {text[:40]!r}... is too long for a Java key store")
    return struct.pack(">H", len(out)) + bytes(out)


def trusted_entries(bundle: bytes, *, source: str = "the CA bundle") -> list[TrustedEntry]:
    """The entries for every certificate of PEM ``bundle``, in bundle order."""
    entries: list[TrustedEntry] = []
    seen_der: set[bytes] = set()
    aliases: set[str] = set()
    for number, block in enumerate(iter_blocks(bundle, source=source), start=1):
        if block.label != "CERTIFICATE":
            raise InputError(f"{source}: PEM block {number} is a {block.label}, not a CERTIFICATE")
        if block.data in seen_der:
            continue
        try:
            cert = parse_certificate(block.data)
            alias = canonical_name(cert.subject)
        except DerError as exc:
            raise InputError(f"{source}: certificate {number} is malformed: {exc}") from None
        if alias in aliases:
            fingerprint = hashlib.sha256(cert.der).hexdigest()
            alias = f"{alias} [sha256:{fingerprint[:16]}]"
            while alias in aliases:  # only if a subject itself looked like that
                alias += "+"
        aliases.add(alias)
        seen_der.add(block.data)
        entries.append(TrustedEntry(alias, cert.not_before_ms, cert.der))
    if not entries:
        raise InputError(f"{source} holds no certificates")
    return entries


def keystore_bytes(entries: list[TrustedEntry], *, password: str = PASSWORD) -> bytes:
    """The JKS file holding ``entries``."""
    body = bytearray(struct.pack(">III", MAGIC, VERSION, len(entries)))
    for entry in entries:
        body += struct.pack(">I", TRUSTED_CERT)
        body += modified_utf8(entry.alias)
        body += struct.pack(">q", entry.created_ms)
        body += modified_utf8(CERT_TYPE)
        body += struct.pack(">I", len(entry.der)) + entry.der
    digest = hashlib.sha1(password.encode("utf-16-be") + _WHITENER + bytes(body))
    return bytes(body) + digest.digest()


def java_truststore(
    bundle: bytes, *, password: str = PASSWORD, source: str = "the CA bundle"
) -> bytes:
    """The trust store for PEM ``bundle``: the same bytes for the same bundle, always."""
    return keystore_bytes(trusted_entries(bundle, source=source), password=password)
