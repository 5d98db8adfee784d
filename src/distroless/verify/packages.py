"""The Debian packages an image declares: ``status.d`` entries, md5sums and copyright files.

Distroless images have no ``/var/lib/dpkg/status``; each package's layer adds
``/var/lib/dpkg/status.d/<pkg>`` (its control paragraph) and ``<pkg>.md5sums``, which is
what scanners read.  This module turns those files, plus the machine-readable copyright
file and ``os-release``, into :class:`InstalledPackage` values for the check and the SBOM.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from distroless.debian.deb822 import Paragraph, parse_paragraphs
from distroless.errors import DebianError, InputError
from distroless.verify.fsview import FileSystemView

STATUS_DIR = "/var/lib/dpkg/status.d"
DPKG_STATUS = "/var/lib/dpkg/status"
DOC_DIR = "/usr/share/doc"
# The status.d field in which a build may record the sha256 of the .deb it unpacked; it has
# the name and meaning of the field of a Packages index.
DEB_SHA256_FIELD = "SHA256"

_SOURCE_RE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?$")


@dataclass(frozen=True)
class InstalledPackage:
    """One package as its ``status.d`` entry describes it."""

    name: str
    version: str
    architecture: str
    source_name: str
    source_version: str
    maintainer: str
    licenses: tuple[str, ...]
    md5sums_sha256: str | None
    deb_sha256: str | None
    entry_path: str

    @property
    def checksum(self) -> str | None:
        """The sha256 that identifies the package's content: the .deb's, else its md5sums'."""
        return self.deb_sha256 or self.md5sums_sha256


@dataclass(frozen=True)
class OsRelease:
    id: str
    version_id: str
    pretty_name: str


def status_entries(fs: FileSystemView) -> list[str]:
    """Paths of the control paragraphs under ``status.d`` (md5sums lists excluded), sorted."""
    names = fs.listdir(STATUS_DIR)
    return [
        f"{STATUS_DIR}/{n}"
        for n in names
        if "." not in n and (node := fs.lookup(f"{STATUS_DIR}/{n}")) is not None and node.is_file
    ]


def read_status_entry(fs: FileSystemView, path: str) -> Paragraph:
    """The one paragraph of a status.d file; a malformed one names the file."""
    text = fs.read_text(path, limit=1 << 20)
    try:
        paragraphs = parse_paragraphs(text, path)
    except DebianError as exc:
        raise InputError(f"image {fs.image.name}: {exc}") from None
    if not paragraphs:
        raise InputError(f"image {fs.image.name}: {path} holds no control paragraph")
    return paragraphs[0]


def md5sums_paths(fs: FileSystemView, package: str) -> list[str]:
    """Image paths that ``<pkg>.md5sums`` lists (absolute, as written by the package)."""
    path = f"{STATUS_DIR}/{package}.md5sums"
    if not fs.exists(path):
        return []
    out: list[str] = []
    for line in fs.read_text(path, limit=64 << 20).splitlines():
        _, _, name = line.strip().partition("  ")
        if name:
            out.append("/" + name.lstrip("/"))
    return out


def _sha256_of(fs: FileSystemView, path: str) -> str | None:
    if not fs.exists(path):
        return None
    digest = hashlib.sha256()
    with fs.open(path) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def copyright_licenses(text: str) -> tuple[str, ...]:
    """License short names of a DEP-5 copyright file; empty when it is free-form.

    Only the first line of each ``License:`` field is the name (the rest is the text),
    and each name appears once, sorted, so the result does not depend on file order.
    """
    if not re.match(r"^Format:", text):
        return ()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("License:"):
            value = line[len("License:") :].strip()
            if value:
                names.add(value)
    return tuple(sorted(names))


def read_package(fs: FileSystemView, entry_path: str) -> InstalledPackage:
    para = read_status_entry(fs, entry_path)
    name = para.get("Package") or entry_path.rsplit("/", 1)[-1]
    version = para.get("Version", "")
    arch = para.get("Architecture", "")
    source_name, source_version = name, version
    if source := para.get("Source"):
        match = _SOURCE_RE.match(source.strip())
        if match:
            source_name = match["name"]
            source_version = match["version"] or version
    copyright_path = f"{DOC_DIR}/{name}/copyright"
    licenses: tuple[str, ...] = ()
    if fs.exists(copyright_path):
        licenses = copyright_licenses(fs.read_text(copyright_path))
    deb_sha = para.get(DEB_SHA256_FIELD)
    return InstalledPackage(
        name=name,
        version=version,
        architecture=arch,
        source_name=source_name,
        source_version=source_version,
        maintainer=para.get("Maintainer", ""),
        licenses=licenses,
        md5sums_sha256=_sha256_of(fs, f"{STATUS_DIR}/{name}.md5sums"),
        deb_sha256=deb_sha.strip().lower() if deb_sha else None,
        entry_path=entry_path,
    )


def installed_packages(fs: FileSystemView) -> list[InstalledPackage]:
    """Every package with a ``status.d`` entry, sorted by name then architecture."""
    packages = [read_package(fs, path) for path in status_entries(fs)]
    return sorted(packages, key=lambda p: (p.name, p.architecture, p.version))


def os_release(fs: FileSystemView) -> OsRelease | None:
    """``/etc/os-release`` (or ``/usr/lib/os-release``) of the image, if it has one."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        node = fs.lookup(path)
        if node is not None and node.is_file:
            values: dict[str, str] = {}
            for line in fs.read_text(path, limit=1 << 16).splitlines():
                key, eq, value = line.partition("=")
                if eq:
                    values[key.strip()] = value.strip().strip("\"'")
            return OsRelease(
                id=values.get("ID", ""),
                version_id=values.get("VERSION_ID", ""),
                pretty_name=values.get("PRETTY_NAME", ""),
            )
    return None
