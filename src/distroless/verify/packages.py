"""The Debian packages an image declares: ``status.d`` entries, md5sums and copyright files.

Distroless images have no ``/var/lib/dpkg/status``; each package's layer adds
``/var/lib/dpkg/status.d/<pkg>`` (its control paragraph) and ``<pkg>.md5sums``, which is
what scanners read.  This module turns those files, plus the machine-readable copyright
file and ``os-release``, into :class:`InstalledPackage` values for the check and the SBOM.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from distroless.debian.deb822 import Paragraph, parse_paragraphs
from distroless.debian.management import UNSATISFIED_FIELD
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
    #: relations the build left unsatisfied on purpose (package-management packages)
    unsatisfied: tuple[str, ...] = ()

    @property
    def checksum(self) -> str | None:
        """The sha256 that identifies the package's content: the .deb's, else its md5sums'."""
        return self.deb_sha256 or self.md5sums_sha256


@dataclass(frozen=True)
class OsRelease:
    id: str
    version_id: str
    pretty_name: str


# dpkg's per-package metadata files; in status.d they sit beside the package's paragraph.
_INFO_SUFFIXES = frozenset(
    {"md5sums", "list", "conffiles", "shlibs", "symbols", "triggers", "templates", "config",
     "preinst", "postinst", "prerm", "postrm"}
)  # fmt: skip


def status_entries(fs: FileSystemView) -> list[str]:
    """Paths of the control paragraphs under ``status.d``, sorted.

    Package names may contain dots (``libpython3.13-minimal``), so a name is only taken
    for a metadata file when it is another entry's name plus a known dpkg suffix.
    """
    names = set(fs.listdir(STATUS_DIR))
    out = []
    for name in sorted(names):
        stem, dot, suffix = name.rpartition(".")
        if dot and suffix in _INFO_SUFFIXES and stem in names:
            continue
        node = fs.lookup(f"{STATUS_DIR}/{name}")
        if node is not None and node.is_file:
            out.append(f"{STATUS_DIR}/{name}")
    return out


def _parse_status(fs: FileSystemView, path: str, data: bytes) -> Paragraph:
    """The one paragraph of a status.d file; a malformed one names the file."""
    try:
        paragraphs = parse_paragraphs(data.decode("utf-8", errors="replace"), path)
    except DebianError as exc:
        raise InputError(f"image {fs.image.name}: {exc}") from None
    if not paragraphs:
        raise InputError(f"image {fs.image.name}: {path} holds no control paragraph")
    return paragraphs[0]


def parse_md5sums(data: bytes) -> list[str]:
    """Image paths an md5sums list names (absolute, as the package wrote them)."""
    out: list[str] = []
    for line in data.decode("utf-8", errors="surrogateescape").splitlines():
        _, _, name = line.strip().partition("  ")
        if name:
            out.append("/" + name.lstrip("/"))
    return out


def md5sums_path(package: str) -> str:
    return f"{STATUS_DIR}/{package}.md5sums"


def md5sums_lists(fs: FileSystemView, packages: Iterable[str]) -> dict[str, list[str] | None]:
    """Each package's md5sums paths; ``None`` when the package has no md5sums file."""
    names = list(packages)
    contents = fs.read_many([md5sums_path(n) for n in names], limit=64 << 20)
    return {
        n: parse_md5sums(contents[md5sums_path(n)]) if md5sums_path(n) in contents else None
        for n in names
    }


def copyright_licenses(text: str) -> tuple[str, ...]:
    """License short names of a DEP-5 copyright file; empty when it is free-form.

    The names that apply are those of the header and ``Files:`` paragraphs; stand-alone
    ``License:`` paragraphs only hold the text of names used there (``GPL-1+`` for
    ``Artistic or GPL-1+``), so they are counted only if nothing else names a license.
    Only a field's first line is the name, and each name appears once, sorted.
    """
    if not re.match(r"^Format:", text):
        return ()
    applying: set[str] = set()
    standalone: set[str] = set()
    for paragraph in re.split(r"\n[ \t]*\n", text):
        lines = paragraph.splitlines()
        fields = {line.split(":", 1)[0].lower() for line in lines if line[:1] not in " \t#"}
        target = applying if fields & {"files", "format"} else standalone
        for line in lines:
            if line.startswith("License:") and (value := line[len("License:") :].strip()):
                target.add(value)
    return tuple(sorted(applying or standalone))


def _package(
    fs: FileSystemView, entry_path: str, contents: Mapping[str, bytes]
) -> InstalledPackage:
    para = _parse_status(fs, entry_path, contents[entry_path])
    name = para.get("Package") or entry_path.rsplit("/", 1)[-1]
    version = para.get("Version", "")
    source_name, source_version = name, version
    if source := para.get("Source"):
        match = _SOURCE_RE.match(source.strip())
        if match:
            source_name = match["name"]
            source_version = match["version"] or version
    stem = entry_path.rsplit("/", 1)[-1]
    copyright_text = contents.get(f"{DOC_DIR}/{name}/copyright", b"")
    md5sums = contents.get(md5sums_path(stem))
    deb_sha = para.get(DEB_SHA256_FIELD)
    unsatisfied = tuple(r.strip() for r in para.get(UNSATISFIED_FIELD, "").split(",") if r.strip())
    return InstalledPackage(
        name=name,
        version=version,
        architecture=para.get("Architecture", ""),
        source_name=source_name,
        source_version=source_version,
        maintainer=para.get("Maintainer", ""),
        licenses=copyright_licenses(copyright_text.decode("utf-8", errors="replace")),
        md5sums_sha256=hashlib.sha256(md5sums).hexdigest() if md5sums is not None else None,
        deb_sha256=deb_sha.strip().lower() if deb_sha else None,
        entry_path=entry_path,
        unsatisfied=unsatisfied,
    )


def installed_packages(fs: FileSystemView) -> list[InstalledPackage]:
    """Every package with a ``status.d`` entry, sorted by name then architecture.

    All the metadata files are read in one pass over the layers that hold them.
    """
    entries = status_entries(fs)
    contents = fs.read_many(entries, limit=1 << 20)
    names = {
        path: _parse_status(fs, path, contents[path]).get("Package") or path.rsplit("/", 1)[-1]
        for path in entries
        if path in contents
    }
    extra = [md5sums_path(p.rsplit("/", 1)[-1]) for p in entries]
    extra += [f"{DOC_DIR}/{n}/copyright" for n in names.values()]
    contents.update(fs.read_many(extra, limit=64 << 20))
    packages = [_package(fs, path, contents) for path in entries if path in contents]
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
