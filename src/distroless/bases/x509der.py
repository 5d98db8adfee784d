"""The few fields of an X.509 certificate a Java trust store needs, read straight from DER.

A trust store entry is named after its certificate's subject in the form Java's
``X500Principal.getName(CANONICAL)`` gives (RFC 2253, with the canonicalisation Java adds:
RDNs last to first, known attribute types as lowercase keywords, other types and
non-string values as ``#`` and the hex of their DER, spaces collapsed, escapes, the whole
string case-folded and NFKD-normalised).  Writing that name here, rather than asking a
JVM, keeps image builds free of Java while giving the aliases Google's distroless images
have.  Only structure is read: a certificate is parsed far enough to find its subject and
``notBefore``, and a malformed one is refused, since one unreadable entry makes Java reject
the whole store.
"""

from __future__ import annotations

import calendar
import unicodedata
from dataclasses import dataclass

from distroless.errors import InputError

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
EXPLICIT_0 = 0xA0

#: Attribute types with an RFC 2253 keyword in Java; every other type is written as its OID.
KEYWORDS = {
    "2.5.4.3": "cn",
    "2.5.4.6": "c",
    "2.5.4.7": "l",
    "2.5.4.8": "st",
    "2.5.4.9": "street",
    "2.5.4.10": "o",
    "2.5.4.11": "ou",
    "0.9.2342.19200300.100.1.1": "uid",
    "0.9.2342.19200300.100.1.25": "dc",
}
_ESCAPED = set(',+<>;"\\')
_PRINTABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class DerError(InputError):
    """A certificate is not the DER it claims to be."""


@dataclass(frozen=True)
class Tlv:
    tag: int
    value: bytes
    encoded: bytes  # tag, length and value, as they appeared


def read_tlv(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """The element at ``pos`` and the position after it."""
    if pos + 2 > len(data):
        raise DerError("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("DER high tag numbers are not used in certificates")
    first = data[pos + 1]
    head = pos + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or head + count > len(data):
            raise DerError("invalid DER length")
        length = int.from_bytes(data[head : head + count], "big")
        if length < 0x80 or data[head] == 0:
            raise DerError("DER length is not minimal")
        head += count
    end = head + length
    if end > len(data):
        raise DerError("truncated DER element")
    return Tlv(tag, data[head:end], data[pos:end]), end


def children(tlv: Tlv) -> list[Tlv]:
    out = []
    pos = 0
    while pos < len(tlv.value):
        child, pos = read_tlv(tlv.value, pos)
        out.append(child)
    return out


def _expect(tlv: Tlv, tag: int, what: str) -> Tlv:
    if tlv.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")
    return tlv


def oid_string(value: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's content octets."""
    if not value or value[-1] & 0x80:
        raise DerError("invalid OBJECT IDENTIFIER")
    arcs: list[int] = []
    current = 0
    for byte in value:
        current = (current << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(current)
            current = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


@dataclass(frozen=True)
class Certificate:
    der: bytes
    subject: bytes  # DER of the subject Name
    not_before_ms: int  # milliseconds since the epoch, as java.util.Date holds it


def parse_certificate(der: bytes) -> Certificate:
    """Subject and notBefore of certificate ``der``; DerError when it is not one."""
    cert, end = read_tlv(der)
    if end != len(der):
        raise DerError("trailing bytes after the certificate")
    parts = children(_expect(cert, SEQUENCE, "certificate"))
    if len(parts) != 3:
        raise DerError("a certificate has three parts")
    tbs = children(_expect(parts[0], SEQUENCE, "tbsCertificate"))
    if tbs and tbs[0].tag == EXPLICIT_0:
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise DerError("tbsCertificate is too short")
    _expect(tbs[0], INTEGER, "serialNumber")
    _expect(tbs[1], SEQUENCE, "signature")
    _expect(tbs[2], SEQUENCE, "issuer")
    validity = children(_expect(tbs[3], SEQUENCE, "validity"))
    subject = _expect(tbs[4], SEQUENCE, "subject")
    if len(validity) != 2:
        raise DerError("validity has two times")
    canonical_name(subject.encoded)  # the subject must be a well-formed Name
    return Certificate(der, subject.encoded, time_ms(validity[0]))


def time_ms(tlv: Tlv) -> int:
    """A UTCTime or GeneralizedTime as milliseconds since the epoch."""
    text = tlv.value.decode("ascii", "replace")
    if tlv.tag == UTC_TIME:
        if len(text) != 13 or not text.endswith("Z") or not text[:12].isdigit():
            raise DerError(f"invalid UTCTime {text!r}")
        year = int(text[:2])
        year += 2000 if year < 50 else 1900
        rest, fraction = text[2:12], ""
    elif tlv.tag == GENERALIZED_TIME:
        if not text.endswith("Z") or len(text) < 15 or not text[:14].isdigit():
            raise DerError(f"invalid GeneralizedTime {text!r}")
        year = int(text[:4])
        rest, fraction = text[4:14], text[14:-1]
        if fraction and (fraction[0] != "." or not fraction[1:].isdigit()):
            raise DerError(f"invalid GeneralizedTime {text!r}")
    else:
        raise DerError(f"validity time has tag 0x{tlv.tag:02x}")
    month, day, hour, minute, second = (int(rest[i : i + 2]) for i in range(0, 10, 2))
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        raise DerError(f"invalid time {text!r}") from None
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        raise DerError(f"invalid time {text!r}")
    millis = int((fraction[1:] + "000")[:3]) if fraction else 0
    return seconds * 1000 + millis


def _ava_canonical(oid: str, value: Tlv) -> str:
    keyword = KEYWORDS.get(oid, oid)
    if keyword[0].isdigit() or value.tag not in (UTF8_STRING, PRINTABLE_STRING):
        out = keyword + "=#" + value.encoded.hex()
    else:
        text = value.value.decode("utf-8", "replace")
        chars: list[str] = []
        previous_space = False
        for i, char in enumerate(text):
            if char in _PRINTABLE or char in _ESCAPED or (i == 0 and char == "#"):
                if char in _ESCAPED or (i == 0 and char == "#"):
                    chars.append("\\")
                if char == " ":
                    if previous_space:
                        continue
                    previous_space = True
                else:
                    previous_space = False
                chars.append(char)
            else:
                previous_space = False
                chars.append(char)
        out = keyword + "=" + _java_trim("".join(chars))
    return unicodedata.normalize("NFKD", out.upper().lower())


def _java_trim(text: str) -> str:
    """``String.trim()``: drop leading and trailing characters up to U+0020."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def _ava_order(oid: str, text: str) -> tuple[int, str, tuple[int, ...]]:
    """Java's order inside a multi-valued RDN: keyword types first, by their canonical text;
    then the others, by their OID arcs as numbers."""
    if oid in KEYWORDS:
        return (0, text, ())
    return (1, "", tuple(int(arc) for arc in oid.split(".")))


def canonical_name(name_der: bytes) -> str:
    """``X500Principal.getName(CANONICAL)`` of the DER Name ``name_der``."""
    name, end = read_tlv(name_der)
    if end != len(name_der):
        raise DerError("trailing bytes after a Name")
    rdns = []
    for rdn in children(_expect(name, SEQUENCE, "Name")):
        avas = []
        for ava in children(_expect(rdn, SET, "RelativeDistinguishedName")):
            parts = children(_expect(ava, SEQUENCE, "AttributeTypeAndValue"))
            if len(parts) != 2:
                raise DerError("an attribute has a type and a value")
            oid = oid_string(_expect(parts[0], OID, "attribute type").value)
            avas.append((_ava_order(oid, text := _ava_canonical(oid, parts[1])), text))
        if not avas:
            raise DerError("an empty RelativeDistinguishedName")
        avas.sort(key=lambda a: a[0])
        rdns.append("+".join(text for _, text in avas))
    return ",".join(reversed(rdns))
