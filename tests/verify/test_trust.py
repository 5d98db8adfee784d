"""The trust anchors TLS needs at run time: the CA bundle, and a JRE's trust store."""

from __future__ import annotations

import struct
from pathlib import Path

from distroless import pem
from distroless.layers.entry import Entry
from distroless.verify.check import CheckReport, check_image
from tests.verify.fakeimage import base_entries, make_image

JRE = "usr/lib/jvm/java-21-openjdk-amd64"
BUNDLE = "etc/ssl/certs/ca-certificates.crt"


def check(tmp_path: Path, *layers: list[Entry]) -> CheckReport:
    return check_image(make_image(tmp_path, "t/jre:1", [base_entries(), *layers]))


def kinds(report: CheckReport) -> list[tuple[str, str]]:
    return [(f.kind, f.path) for f in report.findings]


def jks(entries: int) -> bytes:
    """A JKS header claiming ``entries`` entries (what the check reads of it)."""
    return struct.pack(">III", 0xFEEDFEED, 2, entries) + b"\0" * 20


def debian_jre() -> list[Entry]:
    """Debian's layout: the JRE's cacerts links to the file ca-certificates-java makes."""
    return [
        Entry.file(f"{JRE}/lib/server/libjvm.so", b"\x7fELF"),
        Entry.file(f"{JRE}/bin/java", b"\x7fELF", mode=0o755),
        Entry.symlink(f"{JRE}/lib/security/cacerts", "/etc/ssl/certs/java/cacerts"),
    ]


def test_a_bundle_with_certificates_passes(tmp_path: Path) -> None:
    assert check(tmp_path).passed


def test_an_empty_or_broken_ca_bundle_is_a_finding(tmp_path: Path) -> None:
    for i, content in enumerate((b"", b"# no certificates here\n", b"-----BEGIN CERTIFICATE-----")):
        report = check(tmp_path / str(i), [Entry.file(BUNDLE, content)])
        assert kinds(report) == [("empty-ca-bundle", f"/{BUNDLE}")], content
    broken = pem.encode("CERTIFICATE", b"x").replace(b"eA==", b"!!!!")
    report = check(tmp_path / "broken", [Entry.file(BUNDLE, broken)])
    assert kinds(report) == [("empty-ca-bundle", f"/{BUNDLE}")]
    assert "base64" in report.findings[0].message


def test_no_bundle_at_all_stays_a_note(tmp_path: Path) -> None:
    report = check(tmp_path, [Entry.whiteout(BUNDLE)])
    assert report.passed and "no-ca-bundle" in report.kinds()


def test_a_debian_jre_without_the_generated_trust_store_is_a_finding(tmp_path: Path) -> None:
    report = check(tmp_path, debian_jre())
    assert kinds(report) == [("no-java-truststore", f"/{JRE}/lib/security/cacerts")]
    item = report.findings[0]
    assert item.missing == "/etc/ssl/certs/java/cacerts"
    assert "links to /etc/ssl/certs/java/cacerts, which does not exist" in item.message


def test_a_trust_store_with_certificates_passes(tmp_path: Path) -> None:
    store = [Entry.file("etc/ssl/certs/java/cacerts", jks(140))]
    assert check(tmp_path, debian_jre(), store).passed


def test_an_empty_trust_store_is_a_finding(tmp_path: Path) -> None:
    for i, content in enumerate((b"", jks(0))):
        store = [Entry.file("etc/ssl/certs/java/cacerts", content)]
        assert [k for k, _ in kinds(check(tmp_path / str(i), debian_jre(), store))] == [
            "no-java-truststore"
        ]


def test_a_jre_with_its_own_store_or_jssecacerts_passes(tmp_path: Path) -> None:
    own = [
        Entry.file("opt/java/lib/server/libjvm.so", b"\x7fELF"),
        Entry.file("opt/java/lib/security/cacerts", b"\x30\x82" + b"\0" * 100),
    ]
    assert check(tmp_path / "own", own).passed
    jsse = [Entry.file(f"{JRE}/lib/security/jssecacerts", jks(3))]
    assert check(tmp_path / "jsse", debian_jre(), jsse).passed


def test_a_java_launcher_without_a_jre_home_needs_the_system_store(tmp_path: Path) -> None:
    layer = [Entry.file("usr/local/bin/java", b"\x7fELF", mode=0o755)]
    assert kinds(check(tmp_path / "a", layer)) == [
        ("no-java-truststore", "/etc/ssl/certs/java/cacerts")
    ]
    store = [Entry.file("etc/ssl/certs/java/cacerts", jks(1))]
    assert check(tmp_path / "b", layer, store).passed


def test_the_policy_alone_does_not_look_at_trust_stores(tmp_path: Path) -> None:
    image = make_image(tmp_path, "t/jre:1", [base_entries(), debian_jre()])
    assert check_image(image, runnable=False).passed
