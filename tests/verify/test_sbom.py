"""SBOMs: schema-valid SPDX 2.3 and CycloneDX, exactly the status.d packages, same bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from distroless.errors import IntegrityError, NotFoundError
from distroless.layers.entry import Entry
from distroless.verify.fsview import FileSystemView
from distroless.verify.licenses import combined_expression, spdx_expression
from distroless.verify.sbom import AddedFile, render_sbom
from tests.verify.fakeimage import OS_RELEASE, base_entries, make_image, package_entries

SPDX_SCHEMA = Path(__file__).parent / "schemas" / "spdx-schema.json"
APP = b"#!/app binary"


def layers(os_release: bytes = OS_RELEASE) -> list[list[Entry]]:
    base = [e for e in base_entries() if e.path != "usr/lib/os-release"]
    return [
        [*base, Entry.file("usr/lib/os-release", os_release)],
        package_entries("base-files", "13.8", {"usr/lib/a": b"a"}, licenses=["GPL-2+"]),
        package_entries(
            "libc6",
            "2.41-12",
            {"usr/lib/x86_64-linux-gnu/libc.so.6": b"ELF"},
            source="glibc",
            licenses=["LGPL-2.1+", "GPL-2+ or Artistic", "Some-Custom-License"],
        ),
        package_entries(
            "libstdc++6",
            "1:14.2.0-19",
            {"usr/lib/libstdc++.so.6": b"ELF"},
            source="gcc-14 (14.2.0-19)",
            extra_fields={"SHA256": "AB" * 32},
        ),
        package_entries(
            "libpython3.13-minimal", "3.13.5-2", {"usr/lib/python3.13/os.py": b"import abc"}
        ),
        [Entry.file("app/server", APP, mode=0o755)],
    ]


def fs_of(root: Path, name: str = "example/app:latest", **kw: Any) -> FileSystemView:
    return FileSystemView.from_image(make_image(root, name, layers(**kw)))


ADDED = [AddedFile("/app/server", hashlib.sha256(APP).hexdigest())]


def spdx(fs: FileSystemView, epoch: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        render_sbom(fs, "spdx-json", added_files=ADDED, source_date_epoch=epoch)
    )
    return data


def test_spdx_is_valid_against_the_spdx_23_schema(tmp_path: Path) -> None:
    doc = spdx(fs_of(tmp_path), epoch=1700000000)
    jsonschema.validate(doc, json.loads(SPDX_SCHEMA.read_text()))
    assert doc["creationInfo"]["created"] == "2023-11-14T22:13:20Z"
    assert doc["spdxVersion"] == "SPDX-2.3"


def test_spdx_schema_rejects_a_broken_document(tmp_path: Path) -> None:
    doc = spdx(fs_of(tmp_path))
    del doc["documentNamespace"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(SPDX_SCHEMA.read_text()))


def test_spdx_packages_are_exactly_the_status_d_entries(tmp_path: Path) -> None:
    fs = fs_of(tmp_path)
    doc = spdx(fs)
    names = {p["name"] for p in doc["packages"] if p["SPDXID"] != "SPDXRef-Image"}
    assert names == set(fs.listdir("/var/lib/dpkg/status.d")) - {
        n for n in fs.listdir("/var/lib/dpkg/status.d") if n.endswith(".md5sums")
    }
    assert names == {"base-files", "libc6", "libstdc++6", "libpython3.13-minimal"}
    by_name = {p["name"]: p for p in doc["packages"]}
    libc = by_name["libc6"]
    purls = [r["referenceLocator"] for r in libc["externalRefs"]]
    assert purls == ["pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13"]
    assert libc["sourceInfo"] == "built from the source package glibc 2.41-12"
    assert libc["licenseDeclared"] == (
        "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND LGPL-2.1-or-later "
        "AND LicenseRef-Some-Custom-License"
    )
    assert {x["licenseId"] for x in doc["hasExtractedLicensingInfos"]} == {
        "LicenseRef-Some-Custom-License"
    }
    stdcxx = by_name["libstdc++6"]
    assert stdcxx["checksums"] == [{"algorithm": "SHA256", "checksumValue": "ab" * 32}]
    assert stdcxx["sourceInfo"].endswith("gcc-14 14.2.0-19")
    md5sums = fs.read_bytes("/var/lib/dpkg/status.d/libc6.md5sums")
    assert libc["checksums"][0]["checksumValue"] == hashlib.sha256(md5sums).hexdigest()
    image = by_name["example/app:latest"]
    assert image["versionInfo"] == fs.image.digest
    assert doc["documentNamespace"].endswith(fs.image.digest.split(":")[1])
    assert doc["files"][0]["fileName"] == "./app/server"
    contained = {r["relatedSpdxElement"] for r in doc["relationships"]}
    assert {p["SPDXID"] for p in doc["packages"]} | {doc["files"][0]["SPDXID"]} == contained


def test_distro_qualifier_follows_os_release(tmp_path: Path) -> None:
    bookworm = OS_RELEASE.replace(b'VERSION_ID="13"', b'VERSION_ID="12"')
    doc = spdx(fs_of(tmp_path, os_release=bookworm))
    locators = [r["referenceLocator"] for p in doc["packages"] for r in p["externalRefs"]]
    assert "pkg:deb/debian/base-files@13.8?arch=amd64&distro=debian-12" in locators


@pytest.mark.parametrize("version", ["1.5", "1.6"])
def test_cyclonedx_is_valid_against_the_bundled_schema(tmp_path: Path, version: str) -> None:
    fs = fs_of(tmp_path)
    text = render_sbom(fs, "cyclonedx-json", added_files=ADDED, cyclonedx_version=version)
    schema = SchemaVersion.V1_6 if version == "1.6" else SchemaVersion.V1_5
    error = JsonStrictValidator(schema).validate_str(text.decode())
    assert error is None, error
    doc = json.loads(text)
    assert doc["specVersion"] == version
    names = {c["name"] for c in doc["components"] if c["type"] == "library"}
    assert names == {"base-files", "libc6", "libstdc++6", "libpython3.13-minimal"}
    assert doc["metadata"]["component"]["version"] == fs.image.digest
    assert doc["serialNumber"].startswith("urn:uuid:")


def test_cyclonedx_validator_rejects_a_broken_document(tmp_path: Path) -> None:
    doc = json.loads(render_sbom(fs_of(tmp_path), "cyclonedx-json"))
    doc["components"][0]["type"] = "not-a-type"
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is not None


@pytest.mark.parametrize("fmt", ["spdx-json", "cyclonedx-json"])
def test_same_image_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    first = fs_of(tmp_path / "one")
    second = fs_of(tmp_path / "two")  # built again, separately
    assert first.image.digest == second.image.digest
    a = render_sbom(first, fmt, added_files=ADDED, source_date_epoch=42)  # type: ignore[arg-type]
    b = render_sbom(second, fmt, added_files=ADDED, source_date_epoch=42)  # type: ignore[arg-type]
    c = render_sbom(first, fmt, added_files=ADDED, source_date_epoch=42)  # type: ignore[arg-type]
    assert a == b == c


def test_different_images_get_different_identities(tmp_path: Path) -> None:
    one = json.loads(render_sbom(fs_of(tmp_path / "a", "example/app:latest"), "cyclonedx-json"))
    other_layers = layers()
    other_layers[-1] = [Entry.file("app/server", b"other")]
    fs = FileSystemView.from_image(make_image(tmp_path / "b", "example/app:latest", other_layers))
    two = json.loads(render_sbom(fs, "cyclonedx-json"))
    assert one["serialNumber"] != two["serialNumber"]


def test_added_file_must_exist_and_match(tmp_path: Path) -> None:
    fs = fs_of(tmp_path)
    with pytest.raises(IntegrityError, match="/app/server"):
        render_sbom(fs, added_files=[AddedFile("/app/server", "00" * 32)])
    with pytest.raises(NotFoundError, match="/app/missing"):
        render_sbom(fs, added_files=[AddedFile("/app/missing", "00" * 32)])


@pytest.mark.parametrize(
    ("dep5", "spdx_expr"),
    [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("Expat", "MIT"),
        ("GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0-Perl"),
        ("public-domain", "LicenseRef-public-domain"),
        ("GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
        ("GPL-2 with Odd exception", "LicenseRef-GPL-2-with-Odd-exception"),
    ],
)
def test_dep5_names_become_spdx_expressions(dep5: str, spdx_expr: str) -> None:
    assert spdx_expression(dep5) == spdx_expr


def test_combined_expression_is_order_independent() -> None:
    assert combined_expression(["Zlib", "GPL-2"]) == combined_expression(["GPL-2", "Zlib"])
    assert combined_expression([]) is None
    assert combined_expression(["GPL-3+", "GPL-3+ and ISC", "Expat or GPL-2"]) == (
        "(MIT OR GPL-2.0-only) AND GPL-3.0-or-later AND ISC"
    )


def test_malformed_status_entry_names_the_file(tmp_path: Path) -> None:
    from distroless.errors import InputError

    broken = [*layers(), [Entry.file("var/lib/dpkg/status.d/broken", b"no colon here\n")]]
    fs = FileSystemView.from_image(make_image(tmp_path, "t/broken:latest", broken))
    with pytest.raises(InputError, match="/var/lib/dpkg/status.d/broken"):
        render_sbom(fs)


def test_copyright_licenses_come_from_files_paragraphs() -> None:
    from distroless.verify.packages import copyright_licenses

    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: thing\n\n"
        "Files: *\nCopyright: 2020 A\nLicense: Apache-2.0\n\n"
        "Files: perl/*\nCopyright: 2020 B\nLicense: Artistic or GPL-1+\n\n"
        "License: Artistic\n The text.\n\nLicense: GPL-1+\n The text.\n"
    )
    assert copyright_licenses(text) == ("Apache-2.0", "Artistic or GPL-1+")
    assert copyright_licenses("This package was debianized by someone.\n") == ()
    only_texts = "Format: x\n\nLicense: MIT\n text\n"
    assert copyright_licenses(only_texts) == ("MIT",)
