"""Software bills of materials: SPDX 2.3 JSON and CycloneDX 1.5/1.6 JSON.

The SBOM is derived from what the image itself declares (``status.d`` entries, copyright
files, ``os-release``), so it describes exactly the bytes that ship, and it is a pure
function of the image: the document namespace and serial number come from the image
digest and the creation time from ``SOURCE_DATE_EPOCH``, and every list is sorted.  The
same image therefore always gives the same SBOM bytes, which lets it be attached to the
image and signed alongside it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from packageurl import PackageURL

from distroless import __version__
from distroless.errors import IntegrityError, NotFoundError, UsageError
from distroless.verify.fsview import FileSystemView
from distroless.verify.licenses import combined_expression, license_refs
from distroless.verify.packages import InstalledPackage, OsRelease, installed_packages, os_release
from distroless.verify.pypi import PythonDistribution, python_distributions

SbomFormat = Literal["spdx-json", "cyclonedx-json"]
FORMATS: tuple[SbomFormat, ...] = ("spdx-json", "cyclonedx-json")
CYCLONEDX_VERSIONS = ("1.5", "1.6")
TOOL = f"distroless-{__version__}"
_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class AddedFile:
    """A file a build put into the image outside any package (``COPY``), by path."""

    path: str
    sha256: str


@dataclass(frozen=True)
class _FileFacts:
    path: str
    sha256: str
    sha1: str


@dataclass(frozen=True)
class SbomInput:
    """Everything an SBOM says, gathered once from the image."""

    name: str
    digest: str
    architecture: str
    tag: str | None
    os: OsRelease | None
    packages: tuple[InstalledPackage, ...]
    files: tuple[_FileFacts, ...]
    python: tuple[PythonDistribution, ...] = ()


def timestamp(source_date_epoch: int) -> str:
    """``SOURCE_DATE_EPOCH`` as the UTC ``YYYY-MM-DDTHH:MM:SSZ`` both formats require."""
    moment = datetime.datetime.fromtimestamp(source_date_epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_facts(fs: FileSystemView, added: AddedFile) -> _FileFacts:
    node = fs.lookup(added.path)
    if node is None or not node.is_file:
        raise NotFoundError(f"added file {added.path} is not a file in image {fs.image.name}")
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1()
    with fs.open(added.path) as stream:
        while chunk := stream.read(1 << 20):
            sha256.update(chunk)
            sha1.update(chunk)
    expected = added.sha256.removeprefix("sha256:").lower()
    if sha256.hexdigest() != expected:
        raise IntegrityError(
            f"added file {added.path} in image {fs.image.name} has sha256 "
            f"{sha256.hexdigest()}, expected {expected}"
        )
    return _FileFacts("/" + added.path.lstrip("/"), sha256.hexdigest(), sha1.hexdigest())


def gather(fs: FileSystemView, added_files: Sequence[AddedFile] = ()) -> SbomInput:
    """Read the package metadata and the added files' checksums from the image."""
    files = sorted({_file_facts(fs, a) for a in added_files}, key=lambda f: f.path)
    return SbomInput(
        name=fs.image.name,
        digest=fs.image.digest,
        architecture=fs.image.config.architecture,
        tag=fs.image.tag,
        os=os_release(fs),
        packages=tuple(installed_packages(fs)),
        files=tuple(files),
        python=tuple(python_distributions(fs)),
    )


def package_purl(package: InstalledPackage, os: OsRelease | None) -> str:
    """``pkg:deb/debian/<name>@<version>?arch=<arch>&distro=debian-<VERSION_ID>``."""
    qualifiers = {"arch": package.architecture} if package.architecture else {}
    if os is not None and os.id and os.version_id:
        qualifiers["distro"] = f"{os.id}-{os.version_id}"
    namespace = os.id if os is not None and os.id else "debian"
    return str(PackageURL("deb", namespace, package.name, package.version, qualifiers).to_string())


def image_purl(data: SbomInput) -> str:
    """``pkg:oci/<name>@<digest>?arch=..&tag=..`` (no registry: the image may move)."""
    last = data.name.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0] or "image"
    qualifiers = {"arch": data.architecture}
    if data.tag:
        qualifiers["tag"] = data.tag
    return str(PackageURL("oci", None, last, data.digest, qualifiers).to_string())


def _spdx_id(prefix: str, *parts: str) -> str:
    readable = _ID_CHARS.sub("-", "-".join(parts)).strip("-")
    unique = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8]
    return f"SPDXRef-{prefix}-{readable}-{unique}"


def _supplier(maintainer: str) -> str:
    """SPDX wants ``Person: name (email)``; Debian's ``Maintainer`` is ``name <email>``."""
    text = " ".join(maintainer.split())
    if not text:
        return "Organization: Debian"
    match = re.match(r"^(?P<name>[^<]*?)\s*<(?P<email>[^>]*)>", text)
    if match:
        return f"Person: {match['name']} ({match['email']})"
    return f"Person: {text}"


def _package_id(package: InstalledPackage) -> str:
    return _spdx_id("Package-deb", package.name, package.architecture)


def _unsatisfied_note(package: InstalledPackage) -> str:
    relations = ", ".join(package.unsatisfied)
    return f"Deliberately unsatisfied (package-management packages are left out): {relations}"


def spdx_document(data: SbomInput, *, source_date_epoch: int = 0) -> dict[str, Any]:
    """The SPDX 2.3 document as a JSON-ready dict."""
    digest_hex = data.digest.split(":", 1)[1]
    image_id = "SPDXRef-Image"
    packages: list[dict[str, Any]] = [
        {
            "SPDXID": image_id,
            "name": data.name or data.digest,
            "versionInfo": data.digest,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "primaryPackagePurpose": "CONTAINER",
            "checksums": [{"algorithm": "SHA256", "checksumValue": digest_hex}],
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": image_purl(data),
                }
            ],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }
    ]
    refs: set[str] = set()
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": image_id,
        }
    ]
    for package in data.packages:
        expression = combined_expression(package.licenses)
        if expression:
            refs |= license_refs(expression)
        entry: dict[str, Any] = {
            "SPDXID": _package_id(package),
            "name": package.name,
            "versionInfo": package.version,
            "supplier": _supplier(package.maintainer),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "sourceInfo": f"built from the source package {package.source_name} "
            f"{package.source_version}",
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": expression or "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": package_purl(package, data.os),
                }
            ],
        }
        if package.checksum:
            entry["checksums"] = [{"algorithm": "SHA256", "checksumValue": package.checksum}]
        if package.unsatisfied:
            entry["comment"] = _unsatisfied_note(package)
        packages.append(entry)
        relationships.append(
            {
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": entry["SPDXID"],
            }
        )
    for dist in data.python:
        entry = {
            "SPDXID": _spdx_id("Package-pypi", dist.purl_name, dist.version, dist.path),
            "name": dist.name,
            "versionInfo": dist.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "sourceInfo": f"installed at {dist.path}",
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": dist.purl,
                }
            ],
        }
        packages.append(entry)
        relationships.append(
            {
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": entry["SPDXID"],
            }
        )
    files = []
    for facts in data.files:
        file_id = _spdx_id("File", facts.path)
        files.append(
            {
                "SPDXID": file_id,
                "fileName": "." + facts.path,
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": facts.sha1},
                    {"algorithm": "SHA256", "checksumValue": facts.sha256},
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            }
        )
        relationships.append(
            {
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": file_id,
            }
        )
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"SBOM of {data.name or data.digest}",
        "documentNamespace": f"urn:distroless:spdx:sha256:{digest_hex}",
        "creationInfo": {"created": timestamp(source_date_epoch), "creators": [f"Tool: {TOOL}"]},
        "packages": sorted(packages, key=lambda p: (p["SPDXID"] != image_id, p["SPDXID"])),
        "relationships": sorted(
            relationships,
            key=lambda r: (r["relationshipType"] != "DESCRIBES", r["relatedSpdxElement"]),
        ),
    }
    if files:
        doc["files"] = sorted(files, key=lambda f: f["fileName"])
    if refs:
        doc["hasExtractedLicensingInfos"] = [
            {
                "licenseId": ref,
                "extractedText": "See the Debian copyright files naming "
                + ref.removeprefix("LicenseRef-"),
            }
            for ref in sorted(refs)
        ]
    return doc


def cyclonedx_document(
    data: SbomInput, *, source_date_epoch: int = 0, spec_version: str = "1.6"
) -> str:
    """The CycloneDX JSON text, built with cyclonedx-python-lib."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
    from cyclonedx.output.json import Json, JsonV1Dot5, JsonV1Dot6

    if spec_version not in CYCLONEDX_VERSIONS:
        raise UsageError(
            f"CycloneDX version {spec_version} is not supported: use "
            + " or ".join(CYCLONEDX_VERSIONS)
        )
    moment = datetime.datetime.fromtimestamp(source_date_epoch, datetime.UTC)
    root = Component(
        type=ComponentType.CONTAINER,
        name=data.name or data.digest,
        version=data.digest,
        bom_ref=image_purl(data),
        purl=PackageURL.from_string(image_purl(data)),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=data.digest.split(":", 1)[1])],
    )
    bom = Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"urn:distroless:cyclonedx:{data.digest}"),
        metadata=BomMetaData(timestamp=moment, component=root),
    )
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="distroless", version=__version__)
    )
    components = []
    for package in data.packages:
        expression = combined_expression(package.licenses)
        licenses: list[License] = []
        if expression and (" " in expression or expression.startswith("LicenseRef-")):
            licenses.append(LicenseExpression(expression))
        elif expression:
            licenses.append(DisjunctiveLicense(id=expression))
        purl = package_purl(package, data.os)
        component = Component(
            type=ComponentType.LIBRARY,
            name=package.name,
            version=package.version,
            bom_ref=purl,
            purl=PackageURL.from_string(purl),
            licenses=licenses,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=package.checksum)]
            if package.checksum
            else [],
            properties=[
                Property(name="distroless:unsatisfied", value=r) for r in package.unsatisfied
            ],
        )
        components.append(component)
    for dist in data.python:
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=dist.name,
                version=dist.version,
                bom_ref=f"{dist.purl}#{dist.path}",
                purl=PackageURL.from_string(dist.purl),
            )
        )
    for facts in data.files:
        components.append(
            Component(
                type=ComponentType.FILE,
                name=facts.path,
                bom_ref="file:" + facts.path,
                hashes=[
                    HashType(alg=HashAlgorithm.SHA_1, content=facts.sha1),
                    HashType(alg=HashAlgorithm.SHA_256, content=facts.sha256),
                ],
            )
        )
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    writer: Json = JsonV1Dot6(bom) if spec_version == "1.6" else JsonV1Dot5(bom)
    # Re-serialise canonically: key order and spacing then depend on nothing but content.
    parsed = json.loads(writer.output_as_string(indent=None))
    return json.dumps(parsed, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_sbom(
    fs: FileSystemView,
    fmt: SbomFormat = "spdx-json",
    *,
    added_files: Sequence[AddedFile] = (),
    source_date_epoch: int = 0,
    cyclonedx_version: str = "1.6",
) -> bytes:
    """The SBOM of the image of ``fs`` in ``fmt``, as the bytes to write."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown SBOM format {fmt!r}: use " + " or ".join(FORMATS))
    data = gather(fs, added_files)
    if fmt == "spdx-json":
        doc = spdx_document(data, source_date_epoch=source_date_epoch)
        return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    return cyclonedx_document(
        data, source_date_epoch=source_date_epoch, spec_version=cyclonedx_version
    ).encode()
