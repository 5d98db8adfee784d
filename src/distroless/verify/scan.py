"""One pass over an image's layers that gathers everything its SBOM needs.

An SBOM needs the flattened file system, the contents of many small metadata files (dpkg's
``status.d``, copyright files, ``os-release``, Python's ``*.dist-info``, ``package.json``),
the checksums of the files it lists, the build info of Go binaries and the coordinates in
jars.  Reading each of those separately streams a compressed layer again for every file;
an image of a thousand added files then costs a thousand decompressions of its layer.
Here every layer is streamed exactly once, bottom-up, while the view is built
(:data:`~distroless.verify.fsview.Visitor`): each regular file is hashed, small metadata
files are kept, ELF files go through :class:`~distroless.verify.golang.GoProbe` and jars
through :class:`~distroless.verify.maven.JarProbe`.

Results are keyed by ``(layer, path)``, where the bytes were seen; a file later replaced
or whited out is simply never asked for, since lookups go through the finished view's
:meth:`~distroless.verify.fsview.FileSystemView.content_node`.  A metadata file the pass
did not keep (one reached through a link to an unusual place, or over a budget) is read
from its layer as before, so the result never depends on the shortcut.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from distroless.errors import ArchiveError
from distroless.verify.fsview import FileSystemView, Node
from distroless.verify.golang import GoBuildInfo, GoProbe
from distroless.verify.image import ImageHandle
from distroless.verify.layer_scans import LayerScan, LayerScans
from distroless.verify.maven import JAR_SUFFIXES, JarProbe, MavenArtifact

_CHUNK = 1 << 20
#: one metadata file kept at most (md5sums lists of big packages run to megabytes)
MAX_KEPT_FILE = 64 << 20
#: all metadata kept for one image; past it, files are read from their layer on demand
MAX_KEPT_TOTAL = 512 << 20
_STATUS_DIR = "/var/lib/dpkg/status.d/"
_OS_RELEASE = frozenset({"/etc/os-release", "/usr/lib/os-release"})
_COPYRIGHT = re.compile(r"^/usr/share/doc/[^/]+/copyright$")
_DIST_INFO = re.compile(r"/[^/]+\.dist-info/(METADATA|RECORD)$")
_PACKAGE_JSON = re.compile(r"(^|/)node_modules/(@[^/]+/)?[^/@][^/]*/package\.json$")
_PACKAGE_JSON_LIMIT = 1 << 20
#: ELF files smaller than this cannot hold Go build info worth reading
_MIN_GO_BINARY = 4096


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    sha1: str


def keeps_content(path: str) -> bool:
    """Whether the pass keeps the bytes of ``path`` (metadata an SBOM reads)."""
    if path.startswith(_STATUS_DIR) or path in _OS_RELEASE or _COPYRIGHT.match(path):
        return True
    if _DIST_INFO.search(path):
        return True
    return _PACKAGE_JSON.search(path) is not None


def is_package_json(path: str) -> bool:
    return _PACKAGE_JSON.search(path) is not None


class ScannedView(FileSystemView):
    """A view whose file contents, checksums and binary facts were taken in its one pass.

    Reads of kept files are answered from memory; :attr:`layer_reads` counts the layers
    streamed afterwards for anything that was not kept.
    """

    kept: dict[tuple[int, str], bytes]
    hashes: dict[tuple[int, str], FileHashes]
    go: dict[tuple[int, str], GoBuildInfo]
    jars: dict[tuple[int, str], list[MavenArtifact]]
    layer_reads: int

    def _key(self, path: str) -> tuple[tuple[int, str] | None, Node | None]:
        node = self.content_node(path)
        return (None, None) if node is None else ((node.layer, node.path), node)

    def file_hashes(self, path: str) -> FileHashes | None:
        key, _ = self._key(path)
        return None if key is None else self.hashes.get(key)

    def go_buildinfo(self, path: str) -> GoBuildInfo | None:
        key, _ = self._key(path)
        return None if key is None else self.go.get(key)

    def read_many(self, paths: Iterable[str], limit: int = 16 << 20) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        missing: list[str] = []
        for path in paths:
            key, _ = self._key(path)
            if key is None:
                continue
            data = self.kept.get(key)
            if data is None:
                missing.append(path)
                continue
            if len(data) > limit:
                raise ArchiveError(
                    f"{key[1]} in image {self.image.name} is larger than {limit} bytes"
                )
            out[path] = data
        if missing:
            layers = {key[0] for key in (self._key(p)[0] for p in missing) if key is not None}
            self.layer_reads += len(layers)
            out.update(super().read_many(missing, limit))
        return out

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[BinaryIO]:
        key, _ = self._key(path)
        data = self.kept.get(key) if key is not None else None
        if data is not None:
            yield io.BytesIO(data)
            return
        if key is not None:
            self.layer_reads += 1
        with super().open(path) as stream:
            yield stream


class _Collector:
    """The :data:`~distroless.verify.fsview.Visitor` of one scan."""

    def __init__(self) -> None:
        self.kept: dict[tuple[int, str], bytes] = {}
        self.kept_total = 0
        self.hashes: dict[tuple[int, str], FileHashes] = {}
        self.go: dict[tuple[int, str], GoBuildInfo] = {}
        self.jars: dict[tuple[int, str], list[MavenArtifact]] = {}
        #: the record of each layer this pass reads, its members first, its findings last
        self.records: dict[int, LayerScan] = {}

    def known(self, layer: int, scan: LayerScan) -> None:
        """Take a recorded layer's findings as if its files had just been read."""
        for path, (sha256, sha1) in scan.hashes.items():
            self.hashes[(layer, path)] = FileHashes(sha256, sha1)
        for path, data in scan.kept.items():
            if len(data) <= MAX_KEPT_FILE and self.kept_total + len(data) <= MAX_KEPT_TOTAL:
                self.kept[(layer, path)] = data
                self.kept_total += len(data)
        self.go.update({(layer, path): info for path, info in scan.go.items()})
        self.jars.update({(layer, path): found for path, found in scan.jars.items()})

    def findings(self) -> dict[int, LayerScan]:
        """What this pass found in each layer it read, as their records (by layer index).

        Layers taken from a record are not among them."""
        read = self.records
        for (i, path), h in self.hashes.items():
            if i in read:
                read[i].hashes[path] = (h.sha256, h.sha1)
        for (i, path), data in self.kept.items():
            if i in read:
                read[i].kept[path] = data
        for (i, path), info in self.go.items():
            if i in read:
                read[i].go[path] = info
        for (i, path), found in self.jars.items():
            if i in read:
                read[i].jars[path] = found
        return read

    def __call__(
        self, layer: int, path: str, member: tarfile.TarInfo, stream: BinaryIO | None
    ) -> None:
        self.records.setdefault(layer, LayerScan()).record(member)
        if stream is None or not member.isreg():
            return
        key = (layer, path)
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1()
        keep: bytearray | None = None
        wanted = keeps_content(path) and member.size <= MAX_KEPT_FILE
        if wanted and self.kept_total + member.size <= MAX_KEPT_TOTAL:
            keep = bytearray()
            self.kept_total += member.size
        go = GoProbe() if member.size >= _MIN_GO_BINARY else None
        jar = JarProbe(member.size) if path.endswith(JAR_SUFFIXES) else None
        while chunk := stream.read(_CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
            if keep is not None:
                keep += chunk
            if go is not None:
                go.feed(chunk)
                if not go.active:
                    go = None
            if jar is not None:
                jar.feed(chunk)
        self.hashes[key] = FileHashes(sha256.hexdigest(), sha1.hexdigest())
        if keep is not None:
            self.kept[key] = bytes(keep)
        if go is not None and (info := go.result()) is not None:
            self.go[key] = info
        if jar is not None and (artifacts := jar.result()):
            self.jars[key] = artifacts


def scan_image(image: ImageHandle, records: LayerScans | None = None) -> ScannedView:
    """The view of ``image`` with its contents gathered, each layer streamed once.

    With ``records`` a layer scanned before is not streamed at all (its record stands in,
    see :mod:`distroless.verify.layer_scans`), and each layer streamed is recorded."""
    collector = _Collector()
    scans = records or LayerScans(None)

    def known(index: int) -> Iterator[tuple[tarfile.TarInfo, None]] | None:
        recorded = scans.load(image.layers[index].digest)
        if recorded is None:
            return None
        collector.known(index, recorded)
        return recorded.replay()

    view = ScannedView.from_image(image, visit=collector, known=known)
    assert isinstance(view, ScannedView)
    for index, found in collector.findings().items():
        scans.save(image.layers[index].digest, found)
    view.kept = collector.kept
    view.hashes = collector.hashes
    view.go = collector.go
    view.jars = collector.jars
    view.layer_reads = 0
    return view


def image_path(directory: str, relative: str) -> str:
    """``relative`` (a RECORD entry, may hold ``..``) joined to ``directory``, kept in the root."""
    return posixpath.normpath(posixpath.join("/", directory, relative)).replace("//", "/")


__all__ = [
    "FileHashes",
    "ScannedView",
    "image_path",
    "is_package_json",
    "keeps_content",
    "scan_image",
]
