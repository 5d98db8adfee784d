"""Packages of language ecosystems found in an image: Go modules, wheels, npm, Maven.

Debian packages declare themselves in ``status.d``; what a build adds with ``pip``, ``npm``,
``go build`` or a jar declares itself too, each in its own way:

* Go: the build info the linker writes into each binary (module path, version, sum, and
  the Go version), :mod:`distroless.verify.golang`; the binary is the file they own.
* Python: ``*.dist-info/METADATA`` (name, version, licence) and ``RECORD`` (the files the
  installer wrote, relative to the directory holding the ``.dist-info``).
* npm: ``node_modules/[@scope/]name/package.json``; the package owns its directory except
  nested ``node_modules`` (other packages).
* Maven: ``META-INF/maven/<group>/<artifact>/pom.properties`` inside jars, nested jars
  included; the jar is the file they own.

All of it comes from the :class:`~distroless.verify.scan.ScannedView` of the image, so
finding them reads no layer again.  What an image declares is untrusted: every document is
bounded, a malformed one is skipped (it describes nothing we could report), and owned paths
are looked up in the image, never on the host.
"""

from __future__ import annotations

import bisect
import csv
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import HeaderParser
from typing import Literal, TypeVar

from packageurl import PackageURL

from distroless.layers.entry import EntryType
from distroless.verify.fsview import Node
from distroless.verify.scan import FileHashes, ScannedView, image_path, is_package_json

T = TypeVar("T")
Ecosystem = Literal["golang", "pypi", "npm", "maven"]
_MAX_METADATA = 4 << 20
_MAX_RECORD = 64 << 20


@dataclass(frozen=True)
class OwnedFile:
    path: str
    sha256: str
    sha1: str


@dataclass(frozen=True)
class LanguagePackage:
    """One package: what it is (``purl``), where it was declared, the files it owns."""

    ecosystem: Ecosystem
    name: str
    version: str
    purl: str
    location: str
    namespace: str | None = None
    license: str | None = None
    files: tuple[OwnedFile, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)


def _owned(view: ScannedView, paths: list[str]) -> tuple[OwnedFile, ...]:
    out: dict[str, OwnedFile] = {}
    for path in paths:
        node = view.lookup(path, follow=False)
        if node is None or not node.is_file:
            continue
        hashes = view.file_hashes(node.path)
        if hashes is not None:
            out[node.path] = OwnedFile(node.path, hashes.sha256, hashes.sha1)
    return tuple(out[p] for p in sorted(out))


def _purl(kind: str, namespace: str | None, name: str, version: str) -> str:
    return str(PackageURL(kind, namespace, name, version or None).to_string())


def _current(view: ScannedView, found: Mapping[tuple[int, str], T]) -> list[tuple[Node, T]]:
    """The entries of ``found`` whose file is still in the finished image, by path."""
    out = []
    for (layer, path), value in found.items():
        node = view.get(path)
        if node is not None and node.layer == layer and node.type is EntryType.FILE:
            out.append((node, value))
    return sorted(out, key=lambda item: item[0].path)


# -- Go ------------------------------------------------------------------------------------


def go_packages(view: ScannedView) -> list[LanguagePackage]:
    """Each binary's main module and every dependency, plus the Go standard library."""
    out: list[LanguagePackage] = []
    for node, info in _current(view, view.go):
        hashes = view.file_hashes(node.path)
        owned = (OwnedFile(node.path, hashes.sha256, hashes.sha1),) if hashes is not None else ()
        common = {"go.version": info.go_version}
        if info.main_package:
            common["go.main"] = info.main_package
        for key in ("GOOS", "GOARCH", "CGO_ENABLED", "vcs.revision"):
            value = info.setting(key)
            if value is not None:
                common[f"go.build.{key}"] = value
        modules = [(info.main, "main")] if info.main is not None else []
        modules += [(dep, "dependency") for dep in info.deps]
        for module, role in modules:
            assert module is not None
            props = {**common, "go.module.role": role}
            used = module
            replacement = module.replacement
            if replacement is not None and replacement.path.startswith((".", "/")):
                # a directory of the build machine: the module keeps its own name
                props["go.module.replacement"] = replacement.path
            elif replacement is not None:
                used = replacement
                props["go.module.replaces"] = f"{module.path}@{module.version}"
            if used.sum:
                props["go.module.sum"] = used.sum
            out.append(
                LanguagePackage(
                    "golang",
                    used.path,
                    used.version,
                    _purl("golang", None, used.path, used.version),
                    node.path,
                    files=owned,
                    properties=props,
                )
            )
        stdlib = info.go_version.removeprefix("go")
        out.append(
            LanguagePackage(
                "golang",
                "stdlib",
                info.go_version,
                _purl("golang", None, "stdlib", stdlib),
                node.path,
                license="BSD-3-Clause",
                files=owned,
                properties={**common, "go.module.role": "toolchain"},
            )
        )
    return out


# -- Python --------------------------------------------------------------------------------


def normalise_pypi_name(name: str) -> str:
    """PEP 503: lowercase, runs of ``-``, ``_`` and ``.`` become one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(text: str) -> dict[str, str]:
    message = HeaderParser().parsestr(text, headersonly=True)
    return {k: str(v).strip() for k, v in message.items() if k in _METADATA_FIELDS}


_METADATA_FIELDS = frozenset({"Name", "Version", "License-Expression", "License", "Summary"})


def _record_paths(data: bytes, site: str) -> list[str]:
    paths = []
    text = data.decode("utf-8", "replace")
    for row in csv.reader(text.splitlines()):
        if row and row[0]:
            paths.append(image_path(site, row[0]))
    return paths


def pypi_packages(view: ScannedView) -> list[LanguagePackage]:
    out = []
    infos = [
        n.path
        for n in view.nodes()
        if n.path.endswith("/METADATA") and n.path.rsplit("/", 2)[-2].endswith(".dist-info")
    ]
    contents = view.read_many(infos, limit=_MAX_METADATA)
    records = view.read_many(
        [posixpath.join(posixpath.dirname(p), "RECORD") for p in infos], limit=_MAX_RECORD
    )
    for path in infos:
        data = contents.get(path)
        if data is None:
            continue
        meta = _metadata(data.decode("utf-8", "replace"))
        name, version = meta.get("Name", ""), meta.get("Version", "")
        if not name or not version:
            continue
        dist_info = posixpath.dirname(path)
        site = posixpath.dirname(dist_info)
        record = records.get(posixpath.join(dist_info, "RECORD"))
        owned = _record_paths(record, site) if record is not None else []
        props = {"python.site": site}
        if meta.get("Summary"):
            props["python.summary"] = meta["Summary"]
        out.append(
            LanguagePackage(
                "pypi",
                name,
                version,
                _purl("pypi", None, normalise_pypi_name(name), version),
                dist_info,
                license=meta.get("License-Expression") or None,
                files=_owned(view, owned),
                properties=props,
            )
        )
    return out


# -- npm -----------------------------------------------------------------------------------


def _npm_license(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return str(value["type"])
    return None


def npm_packages(view: ScannedView) -> list[LanguagePackage]:
    paths = [n.path for n in view.nodes()]
    manifests = [p for p in paths if is_package_json(p)]
    contents = view.read_many(manifests, limit=1 << 20)
    out = []
    for path in manifests:
        data = contents.get(path)
        if data is None:
            continue
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            continue
        if not isinstance(doc, dict):
            continue
        name, version = doc.get("name"), doc.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name:
            continue
        directory = posixpath.dirname(path)
        namespace, _, short = name.rpartition("/")
        out.append(
            LanguagePackage(
                "npm",
                name,
                version,
                _purl("npm", namespace or None, short, version),
                directory,
                namespace=namespace or None,
                license=_npm_license(doc.get("license")),
                files=_owned(view, _package_files(paths, directory)),
            )
        )
    return out


def _package_files(paths: list[str], directory: str) -> list[str]:
    """Paths below ``directory`` (sorted ``paths``) outside its nested ``node_modules``."""
    prefix = directory + "/"
    nested = prefix + "node_modules/"
    start = bisect.bisect_left(paths, prefix)
    out = []
    for path in paths[start:]:
        if not path.startswith(prefix):
            break
        if not path.startswith(nested):
            out.append(path)
    return out


# -- Maven ---------------------------------------------------------------------------------


def maven_packages(view: ScannedView) -> list[LanguagePackage]:
    out = []
    for node, artifacts in _current(view, view.jars):
        hashes = view.file_hashes(node.path)
        owned = (OwnedFile(node.path, hashes.sha256, hashes.sha1),) if hashes is not None else ()
        for art in artifacts:
            location = f"{node.path}!/{art.nested}" if art.nested else node.path
            out.append(
                LanguagePackage(
                    "maven",
                    art.artifact_id,
                    art.version,
                    _purl("maven", art.group_id, art.artifact_id, art.version),
                    location,
                    namespace=art.group_id,
                    files=owned,
                )
            )
    return out


def language_packages(view: ScannedView) -> list[LanguagePackage]:
    """Every language package of the image, sorted by purl then location."""
    found = [
        *go_packages(view),
        *pypi_packages(view),
        *npm_packages(view),
        *maven_packages(view),
    ]
    unique = {(p.purl, p.location): p for p in found}
    return [unique[k] for k in sorted(unique)]


__all__ = [
    "Ecosystem",
    "FileHashes",
    "LanguagePackage",
    "OwnedFile",
    "language_packages",
    "normalise_pypi_name",
]
