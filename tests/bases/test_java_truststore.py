"""The Java trust store: its bytes, and what keytool and a real JVM make of them.

The JVM tests compile tests/bases/java/TrustProbe.java with the host's javac and run it
against the store we wrote: every CA of the bundle must come back as a trusted issuer of
the default TrustManagerFactory (no trust store type given, as in an image), with the
alias and creation date we chose, and the names we derive must be Java's canonical names.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

from distroless.bases import java_truststore as jt
from distroless.bases.x509der import (
    DerError,
    canonical_name,
    oid_string,
    parse_certificate,
    read_tlv,
)
from distroless.errors import InputError
from distroless.pem import encode, iter_blocks
from tests.bases.truststore_certs import attr, awkward_bundle, certificate, name
from tests.helpers import require_tool, run

HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PROBE = Path(__file__).parent / "java" / "TrustProbe.java"
#: sha256 of the store made from awkward_bundle(): a change here changes every java image.
AWKWARD_STORE_SHA256 = "e29ccfd728afc62e7d48e3b655336ef6816db32efd6f05b0d74dfdf3734dc14c"


# --- the format -------------------------------------------------------------------------------


def test_modified_utf8() -> None:
    assert jt.modified_utf8("") == b"\x00\x00"
    assert jt.modified_utf8("abc") == b"\x00\x03abc"
    assert jt.modified_utf8("\x00") == b"\x00\x02\xc0\x80"
    assert jt.modified_utf8("é€") == b"\x00\x05\xc3\xa9\xe2\x82\xac"
    # a character beyond the BMP is two surrogates of three bytes each, not four bytes
    assert jt.modified_utf8("\U0001f600") == b"\x00\x06\xed\xa0\xbd\xed\xb8\x80"
    with pytest.raises(InputError, match="too long"):
        jt.modified_utf8("x" * 70000)


def _parse_jks(data: bytes, password: str = jt.PASSWORD) -> list[tuple[str, int, bytes]]:
    """An independent reader of the layout, to pin it down byte by byte."""
    magic, version, count = struct.unpack_from(">III", data)
    assert (magic, version) == (0xFEEDFEED, 2)
    pos, out = 12, []
    for _ in range(count):
        (tag,) = struct.unpack_from(">I", data, pos)
        assert tag == 2
        (alen,) = struct.unpack_from(">H", data, pos + 4)
        alias = data[pos + 6 : pos + 6 + alen].decode("utf-8")
        pos += 6 + alen
        (created,) = struct.unpack_from(">q", data, pos)
        (tlen,) = struct.unpack_from(">H", data, pos + 8)
        assert data[pos + 10 : pos + 10 + tlen] == b"X.509"
        pos += 10 + tlen
        (dlen,) = struct.unpack_from(">I", data, pos)
        out.append((alias, created, data[pos + 4 : pos + 4 + dlen]))
        pos += 4 + dlen
    assert len(data) == pos + 20
    mac = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + data[:pos]).digest()
    assert data[pos:] == mac
    return out


def test_layout_and_entries() -> None:
    bundle = certificate(name(attr(NameOID.COMMON_NAME, "Root A")), "a")
    store = jt.java_truststore(bundle)
    [(alias, created, der)] = _parse_jks(store)
    assert alias == "cn=root a"
    assert created == int(datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp() * 1000)
    assert der == next(iter_blocks(bundle, source="t")).data


def test_same_bytes_every_time_and_a_known_digest() -> None:
    bundle = awkward_bundle()
    one = jt.java_truststore(bundle)
    assert one == jt.java_truststore(awkward_bundle())
    assert hashlib.sha256(one).hexdigest() == AWKWARD_STORE_SHA256


def test_a_repeated_certificate_is_stored_once_a_shared_subject_twice() -> None:
    subject = name(attr(NameOID.COMMON_NAME, "Twin"))
    first, second = certificate(subject, "one"), certificate(subject, "two")
    entries = jt.trusted_entries(first + first + second)
    assert entries[0].alias == "cn=twin"
    assert len(entries) == 2
    fingerprint = hashlib.sha256(entries[1].der).hexdigest()[:16]
    assert entries[1].alias == f"cn=twin [sha256:{fingerprint}]"


def test_bad_bundles_are_one_line_errors() -> None:
    with pytest.raises(InputError, match="holds no certificates"):
        jt.java_truststore(b"# nothing here\n")
    with pytest.raises(InputError, match="block 1 is a PRIVATE KEY"):
        jt.java_truststore(encode("PRIVATE KEY", b"\x30\x00"))
    with pytest.raises(InputError, match="certificate 1 is malformed"):
        jt.java_truststore(encode("CERTIFICATE", b"\x30\x03\x02\x01\x00"))
    with pytest.raises(InputError, match="not valid base64"):
        jt.java_truststore(b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n")


def test_der_reader_refuses_what_is_not_der() -> None:
    with pytest.raises(DerError, match="truncated"):
        read_tlv(b"\x30\x05\x00")
    with pytest.raises(DerError, match="not minimal"):
        read_tlv(b"\x30\x81\x05" + bytes(5))
    with pytest.raises(DerError, match="trailing bytes"):
        parse_certificate(b"\x30\x00\x00")
    assert oid_string(bytes.fromhex("2a864886f70d010901")) == "1.2.840.113549.1.9.1"
    assert oid_string(bytes.fromhex("550403")) == "2.5.4.3"
    assert oid_string(bytes.fromhex("0992268993f22c640119")) == "0.9.2342.19200300.100.1.25"


def test_canonical_names_without_a_jvm() -> None:
    def canon(*attrs: object) -> str:
        pem = certificate(name(*attrs), "x")  # type: ignore[arg-type]
        return canonical_name(parse_certificate(next(iter_blocks(pem, source="t")).data).subject)

    assert (
        canon(attr(NameOID.COUNTRY_NAME, "US"), attr(NameOID.COMMON_NAME, "A  B ")) == "cn=a b,c=us"
    )
    assert canon(attr(NameOID.COMMON_NAME, "a,b")) == "cn=a\\,b"
    assert canon(attr(NameOID.EMAIL_ADDRESS, "x@y")) == "1.2.840.113549.1.9.1=#1603784079"


# --- the real thing ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``java -cp DIR TrustProbe``, compiled here with the host's javac."""
    javac = require_tool("javac")
    java = require_tool("java")
    out = tmp_path_factory.mktemp("probe")
    run([javac, "-d", out, PROBE])
    return [str(java), "-cp", str(out), "TrustProbe"]


def _java(
    probe: list[str], *args: str | Path, store: Path | None = None, password: str | None = None
) -> str:
    props = []
    if store is not None:
        props.append(f"-Djavax.net.ssl.trustStore={store}")
    if password is not None:
        props.append(f"-Djavax.net.ssl.trustStorePassword={password}")
    argv = [probe[0], *props, *probe[1:], *map(str, args)]
    return subprocess.run(argv, capture_output=True, check=True).stdout.decode("utf-8")


def _host_bundle() -> bytes:
    if not HOST_BUNDLE.exists():
        pytest.fail(f"{HOST_BUNDLE} is missing: install ca-certificates")
    return HOST_BUNDLE.read_bytes()


def test_our_aliases_are_javas_canonical_names(probe: list[str], tmp_path: Path) -> None:
    for index, bundle in enumerate((_host_bundle(), awkward_bundle())):
        path = tmp_path / f"bundle-{index}.pem"
        path.write_bytes(bundle)
        java_names = _java(probe, "names", path).split("\0")[:-1]
        ours = [
            canonical_name(parse_certificate(b.data).subject)
            for b in iter_blocks(bundle, source="t")
        ]
        assert ours == java_names


@pytest.mark.parametrize("which", ["host", "awkward"])
def test_the_jvm_trusts_every_ca_of_the_bundle(
    probe: list[str], tmp_path: Path, which: str
) -> None:
    bundle = _host_bundle() if which == "host" else awkward_bundle()
    store = tmp_path / "cacerts"
    store.write_bytes(jt.java_truststore(bundle))
    distinct = {b.data for b in iter_blocks(bundle, source="t")}
    entries = jt.trusted_entries(bundle)
    assert len(entries) == len(distinct)

    # the default TrustManagerFactory, default store type, with and without the password
    for password in (jt.PASSWORD, None):
        issuers = _java(probe, "issuers", store=store, password=password)
        assert int(issuers) == len(distinct)

    # every entry is a trusted certificate under our alias, dated by its notBefore
    records = [r.split("\1") for r in _java(probe, "entries", store, jt.PASSWORD).split("\0")[:-1]]
    seen = {
        alias: (int(created), int(not_before), trusted)
        for alias, created, not_before, trusted in records
    }
    assert set(seen) == {e.alias for e in entries}
    for entry in entries:
        created, not_before, trusted = seen[entry.alias]
        assert created == not_before == entry.created_ms
        assert trusted == "true"


def test_keytool_lists_every_ca_and_checks_the_password(tmp_path: Path) -> None:
    keytool = require_tool("keytool")
    bundle = _host_bundle()
    store = tmp_path / "cacerts"
    store.write_bytes(jt.java_truststore(bundle))
    listing = run([keytool, "-list", "-keystore", store, "-storepass", "changeit"]).stdout
    entries = jt.trusted_entries(bundle)
    assert f"Your keystore contains {len(entries)} entries" in listing
    assert listing.count("trustedCertEntry") == len(entries)
    for entry in entries:
        assert f"\n{entry.alias}, " in listing
    # the keyed digest is checked: another password is refused
    wrong = run([keytool, "-list", "-keystore", store, "-storepass", "notit"], check=False)
    assert wrong.returncode != 0
    assert "password was incorrect" in wrong.stdout + wrong.stderr


def test_two_runs_give_the_same_file(tmp_path: Path) -> None:
    """Two separate processes, as two builds on two days would be."""
    script = (
        "import sys; from distroless.bases.java_truststore import java_truststore;"
        "sys.stdout.buffer.write(java_truststore(open(sys.argv[1], 'rb').read()))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", script, str(HOST_BUNDLE)], capture_output=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1


def test_validity_times() -> None:
    from distroless.bases.x509der import GENERALIZED_TIME, UTC_TIME, Tlv, time_ms

    def tlv(tag: int, text: str) -> Tlv:
        return Tlv(tag, text.encode(), b"")

    assert time_ms(tlv(UTC_TIME, "491231235959Z")) == 2524607999000  # 2049
    assert time_ms(tlv(UTC_TIME, "500101000000Z")) == -631152000000  # 1950
    assert time_ms(tlv(GENERALIZED_TIME, "20550304050607Z")) == 2687749567000
    assert time_ms(tlv(GENERALIZED_TIME, "20550304050607.5Z")) == 2687749567500
    for bad in ("5001010000Z", "500101000000", "501301000000Z"):
        with pytest.raises(DerError):
            time_ms(tlv(UTC_TIME, bad))
