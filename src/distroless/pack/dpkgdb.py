"""Which Debian package owns a file of an image, read from the image's own dpkg database.

Two layouts exist: a Debian system's ``/var/lib/dpkg/status`` with one
``info/<pkg>[:<arch>].list`` per package (every path the package installed), and the
distroless layout, ``status.d/<pkg>`` with ``status.d/<pkg>.md5sums`` (regular files only).
A package lists its files as it shipped them (``/lib/x86_64-linux-gnu/libc.so.6``), which
on a merged-/usr system is a link away from the file the loader maps, so each listed
directory is resolved inside the image (through :func:`distroless.elf.view.resolve`) before
paths are compared.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from distroless.debian.deb import status_text
from distroless.debian.deb822 import Paragraph, dump, parse_paragraphs
from distroless.elf.view import FileKind, ImageView, resolve
from distroless.rootpath import SymlinkLoopError

DPKG = "/var/lib/dpkg"
STATUS_D = f"{DPKG}/status.d"
#: the largest database file read; a real status file of a big system is a few MiB
MAX_DB_FILE = 64 << 20


@dataclass(frozen=True)
class OwnedPackage:
    """One package of the source image: its name and the control paragraph to carry."""

    name: str
    version: str
    architecture: str
    paragraph: str


def _read(view: ImageView, path: str) -> bytes | None:
    st = view.stat(path)
    if st is None or st.kind is not FileKind.FILE or st.size > MAX_DB_FILE:
        return None
    with view.open(path) as stream:
        return stream.read(MAX_DB_FILE)


def _read_many(view: ImageView, paths: list[str]) -> dict[str, bytes]:
    """Several database files in one batch: a stored image reads each layer once."""
    small = []
    for path in paths:
        st = view.stat(path)
        if st is not None and st.kind is FileKind.FILE and st.size <= MAX_DB_FILE:
            small.append(path)
    return {path: stream.read(MAX_DB_FILE) for path, stream in view.open_many(small)}


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "surrogateescape") if data is not None else ""


def _installed(paragraph_status: str | None) -> bool:
    return paragraph_status is None or paragraph_status.split()[-1:] == ["installed"]


class PackageDatabase:
    """Owners of files by canonical path, and the paragraph of each package."""

    def __init__(self, view: ImageView) -> None:
        self.view = view
        self.packages: dict[str, OwnedPackage] = {}
        #: file name -> (listed directory, package) for every path a package lists
        self._by_name: dict[str, list[tuple[str, str]]] = {}
        self._dirs: dict[str, str] = {}
        self._load_status()
        self._load_status_d()

    # -- reading ---------------------------------------------------------------------------

    def _canonical_dir(self, directory: str) -> str:
        """``directory`` resolved inside the image, each one once."""
        real = self._dirs.get(directory)
        if real is None:
            try:
                real = resolve(self.view, directory or "/")
            except SymlinkLoopError:
                real = directory
            self._dirs[directory] = real
        return real

    def _add(self, package: str, paragraph: Paragraph) -> None:
        self.packages[package] = OwnedPackage(
            package,
            paragraph.get("Version", ""),
            paragraph.get("Architecture", ""),
            status_text(dump(paragraph)),
        )

    def _own(self, package: str, listing: str) -> None:
        for line in listing.splitlines():
            directory, _slash, name = line.strip().rpartition("/")
            if name and name != ".":
                self._by_name.setdefault(name, []).append(("/" + directory.lstrip("/"), package))

    def _load_status(self) -> None:
        path = f"{DPKG}/status"
        text = _text(_read(self.view, path))
        if not text:
            return
        info = set(self.view.listdir(f"{DPKG}/info"))
        lists: dict[str, str] = {}
        for paragraph in parse_paragraphs(text, path):
            name = paragraph.get("Package")
            if not name or not _installed(paragraph.get("Status")):
                continue
            self._add(name, paragraph)
            arch = paragraph.get("Architecture", "")
            for listed in (f"{name}:{arch}.list", f"{name}.list"):
                if listed in info:
                    lists[f"{DPKG}/info/{listed}"] = name
                    break
        for list_path, data in sorted(_read_many(self.view, list(lists)).items()):
            self._own(lists[list_path], _text(data))

    def _load_status_d(self) -> None:
        names = [
            entry
            for entry in self.view.listdir(STATUS_D)
            if not entry.endswith(".md5sums") and not entry.startswith(".")
        ]
        paths = [f"{STATUS_D}/{entry}" for entry in names]
        data = _read_many(self.view, paths + [f"{p}.md5sums" for p in paths])
        for entry, path in zip(names, paths, strict=True):
            text = _text(data.get(path))
            paragraphs = parse_paragraphs(text, path) if text else []
            if not paragraphs:
                continue
            name = paragraphs[0].get("Package") or entry
            if name in self.packages:
                continue
            self._add(name, paragraphs[0])
            self._own(name, "\n".join(_md5sums_paths(_text(data.get(f"{path}.md5sums")))))

    # -- questions -------------------------------------------------------------------------

    def owner(self, path: str) -> str | None:
        """The package owning canonical ``path`` (a file or a link), if any.

        Listed paths are compared by name first; only the directories of those with the
        same name are resolved, so a big database costs one read, not one walk per line.
        """
        directory, name = posixpath.split(path)
        for listed_dir, package in self._by_name.get(name, ()):
            if posixpath.normpath(self._canonical_dir(listed_dir)) == directory:
                return package
        return None


def _md5sums_paths(text: str) -> list[str]:
    paths = []
    for line in text.splitlines():
        _digest, sep, path = line.partition("  ")
        if sep and path:
            paths.append("/" + path.lstrip("/"))
    return paths
