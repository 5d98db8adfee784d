"""Software bills of materials: SPDX 2.3 JSON and CycloneDX 1.5/1.6 JSON.

The SBOM is derived from what the image itself declares (``status.d`` entries, copyright
files, ``os-release``, and the language packages of :mod:`distroless.verify.langpkgs`:
Go build info, ``*.dist-info``, ``package.json``, jars' ``pom.properties``), so it describes
exactly the bytes that ship, and it is a pure function of the image: the document namespace
and serial number come from the image digest and the creation time from
``SOURCE_DATE_EPOCH``, and every list is sorted.  The same image therefore always gives the
same SBOM bytes, which lets it be attached to the image and signed alongside it.

Everything is gathered in one pass over the layers (:func:`~distroless.verify.scan.scan_image`):
the SBOM of an image costs one decompression of each layer, whatever it lists.
"""

from __future__ import annotations

import bisect
import datetime
import functools
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
from distroless.timestamps import rfc3339
from distroless.verify.fsview import FileSystemView
from distroless.verify.langpkgs import LanguagePackage, language_packages
from distroless.verify.licenses import combined_expression, license_refs
from distroless.verify.packages import InstalledPackage, OsRelease, installed_packages, os_release
from distroless.verify.scan import ScannedView, scan_image

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
    language: tuple[LanguagePackage, ...] = ()


def _scanned(fs: FileSystemView) -> ScannedView:
    return fs if isinstance(fs, ScannedView) else scan_image(fs.image)


def _file_facts(fs: ScannedView, added: AddedFile) -> _FileFacts:
    node = fs.lookup(added.path)
    hashes = fs.file_hashes(added.path) if node is not None and node.is_file else None
    if hashes is None:
        raise NotFoundError(f"added file {added.path} is not a file in image {fs.image.name}")
    expected = added.sha256.removeprefix("sha256:").lower()
    if hashes.sha256 != expected:
        raise IntegrityError(
            f"added file {added.path} in image {fs.image.name} has sha256 "
            f"{hashes.sha256}, expected {expected}"
        )
    return _FileFacts("/" + added.path.lstrip("/"), hashes.sha256, hashes.sha1)


def _files_under(fs: ScannedView, paths: Sequence[str], path: str) -> list[_FileFacts]:
    """The regular files ``path`` names: itself, or every one below it for a directory.

    ``paths`` is every path of the view, sorted.  A path a later step removed names nothing.
    """
    node = fs.lookup(path)
    if node is None:
        return []
    if node.is_file:
        hashes = fs.file_hashes(path)
        return [] if hashes is None else [_FileFacts(node.path, hashes.sha256, hashes.sha1)]
    if not node.is_dir:
        return []
    prefix = node.path.rstrip("/") + "/"
    out = []
    for candidate in paths[bisect.bisect_left(paths, prefix) :]:
        if not candidate.startswith(prefix):
            break
        child = fs.get(candidate)
        hashes = fs.file_hashes(candidate) if child is not None and child.is_file else None
        if hashes is not None and child is not None and not child.is_symlink:
            out.append(_FileFacts(candidate, hashes.sha256, hashes.sha1))
    return out


def gather(fs: FileSystemView, added_files: Sequence[AddedFile | str] = ()) -> SbomInput:
    """Read the package metadata and the added files' checksums from the image.

    ``added_files`` are :class:`AddedFile` values (checked against the image) or paths (a
    directory stands for the regular files below it; a path no longer there is left out).
    A plain view is scanned first; a :class:`~distroless.verify.scan.ScannedView` is used
    as it is, so its layers are not read again.
    """
    view = _scanned(fs)
    facts = {_file_facts(view, a) for a in added_files if isinstance(a, AddedFile)}
    named = [a for a in added_files if isinstance(a, str)]
    if named:
        paths = [n.path for n in view.nodes()]
        for path in named:
            facts.update(_files_under(view, paths, path))
    return SbomInput(
        name=view.image.name,
        digest=view.image.digest,
        architecture=view.image.config.architecture,
        tag=view.image.tag,
        os=os_release(view),
        packages=tuple(installed_packages(view)),
        files=tuple(sorted(facts, key=lambda f: f.path)),
        language=tuple(language_packages(view)),
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


def valid_license(expression: str | None) -> str | None:
    """``expression`` if it is a valid SPDX expression of known ids, else None.

    Language packages declare licences in free text as often as in SPDX; only what SPDX
    readers can parse goes into the documents.
    """
    if not expression:
        return None
    from license_expression import ExpressionError

    try:
        info = _licensing().validate(expression, strict=True)
    except ExpressionError:
        return None
    if info.errors or info.invalid_symbols:
        return None
    return str(info.normalized_expression)


@functools.cache
def _licensing() -> Any:
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


_PURPOSES = {"golang": "LIBRARY", "pypi": "LIBRARY", "npm": "LIBRARY", "maven": "LIBRARY"}


def _spdx_language_package(lang: LanguagePackage) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "SPDXID": _spdx_id(f"Package-{lang.ecosystem}", lang.purl, lang.location),
        "name": lang.name,
        "versionInfo": lang.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": bool(lang.files),
        "primaryPackagePurpose": _PURPOSES[lang.ecosystem],
        "sourceInfo": f"declared by {lang.location}",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": valid_license(lang.license) or "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": lang.purl,
            }
        ],
    }
    if lang.files:
        joined = "".join(sorted(f.sha1 for f in lang.files))
        entry["packageVerificationCode"] = {
            "packageVerificationCodeValue": hashlib.sha1(joined.encode()).hexdigest()
        }
    if lang.properties:
        entry["comment"] = "; ".join(f"{k}={v}" for k, v in sorted(lang.properties.items()))
    return entry


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
            # true when files are listed: SPDX lets only an analysed package contain files
            "filesAnalyzed": bool(data.files),
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
    files: dict[str, dict[str, Any]] = {}

    def file_element(path: str, sha256: str, sha1: str) -> str:
        file_id = _spdx_id("File", path)
        files[path] = {
            "SPDXID": file_id,
            "fileName": "." + path,
            "checksums": [
                {"algorithm": "SHA1", "checksumValue": sha1},
                {"algorithm": "SHA256", "checksumValue": sha256},
            ],
            "licenseConcluded": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        }
        return file_id

    for lang in data.language:
        entry = _spdx_language_package(lang)
        packages.append(entry)
        relationships.append(
            {
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": entry["SPDXID"],
            }
        )
        for owned in lang.files:
            relationships.append(
                {
                    "spdxElementId": entry["SPDXID"],
                    "relationshipType": "CONTAINS",
                    "relatedSpdxElement": file_element(owned.path, owned.sha256, owned.sha1),
                }
            )
    for facts in data.files:
        relationships.append(
            {
                "spdxElementId": image_id,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": file_element(facts.path, facts.sha256, facts.sha1),
            }
        )
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"SBOM of {data.name or data.digest}",
        "documentNamespace": f"urn:distroless:spdx:sha256:{digest_hex}",
        "creationInfo": {"created": rfc3339(source_date_epoch), "creators": [f"Tool: {TOOL}"]},
        "packages": sorted(packages, key=lambda p: (p["SPDXID"] != image_id, p["SPDXID"])),
        "relationships": sorted(
            relationships,
            key=lambda r: (
                r["relationshipType"] != "DESCRIBES",
                r["spdxElementId"] != image_id,
                r["spdxElementId"],
                r["relatedSpdxElement"],
            ),
        ),
    }
    if files:
        doc["files"] = [files[p] for p in sorted(files)]
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
    from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
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
    by_purl: dict[str, list[LanguagePackage]] = {}
    for lang in data.language:
        by_purl.setdefault(lang.purl, []).append(lang)
    for purl, found in sorted(by_purl.items()):
        first = found[0]
        expression = valid_license(first.license)
        lang_licenses: list[License] = []
        if expression and " " in expression:
            lang_licenses.append(LicenseExpression(expression))
        elif expression:
            lang_licenses.append(DisjunctiveLicense(id=expression))
        locations = sorted({f.path for lang in found for f in lang.files} | {first.location})
        properties = [Property(name="distroless:ecosystem", value=first.ecosystem)]
        properties += [
            Property(name=f"distroless:{key}", value=value)
            for key, value in sorted(first.properties.items())
        ]
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=first.name.rpartition("/")[2] if first.namespace else first.name,
                group=first.namespace,
                version=first.version,
                bom_ref=purl,
                purl=PackageURL.from_string(purl),
                licenses=lang_licenses,
                properties=properties,
                evidence=ComponentEvidence(
                    occurrences=[Occurrence(location=loc) for loc in locations]
                ),
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
    added_files: Sequence[AddedFile | str] = (),
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
