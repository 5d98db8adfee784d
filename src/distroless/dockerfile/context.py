"""The build context: the directory ``COPY`` and ``ADD`` read, minus what .dockerignore hides.

Sources are matched like docker's: a path relative to the context root (``..`` cannot
leave it), with ``*``, ``?`` and ``[...]`` matching within one path segment.  Each match
is a file, directory or symlink on disk; the executor turns them into layer entries.
The content digest of the matches (names, types, modes, sizes, bytes, link targets) is
part of the build cache key, so editing one byte of a copied file re-runs its COPY.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from distroless.dockerfile.ignore import DockerIgnore
from distroless.errors import BuildError, InputError

_CHUNK = 1 << 20
_GLOB_CHARS = frozenset("*?[")


def has_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def clean_source(source: str) -> str:
    """A source as a path relative to its root: ``/a/../b`` and ``./b`` both mean ``b``."""
    cleaned = posixpath.normpath("/" + source).lstrip("/")
    return "" if cleaned == "." else cleaned


@dataclass(frozen=True)
class Match:
    """One matched source: its path relative to the context and where it is on disk."""

    rel: str
    disk: Path


class BuildContext:
    """A context directory with its .dockerignore applied."""

    def __init__(self, root: Path, ignore: DockerIgnore | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"build context {str(self.root)!r} is not a directory")
        self.ignore = ignore or DockerIgnore()

    @classmethod
    def load(cls, root: Path, dockerfile: Path | None = None) -> BuildContext:
        return cls(root, DockerIgnore.load(root, dockerfile))

    def excluded(self, rel: str) -> bool:
        return bool(rel) and self.ignore.matches(rel)

    def match(self, source: str, where: str) -> list[Match]:
        """Every context path matching ``source``; an error naming ``where`` if none does."""
        pattern = clean_source(source)
        if not pattern:
            return [Match("", self.root)]
        if not has_glob(pattern):
            disk = self.root / pattern
            if os.path.lexists(disk) and not self.excluded(pattern) and self._inside(disk):
                return [Match(pattern, disk)]
            raise BuildError(
                f"{where}: {source!r} is not in the build context {str(self.root)!r}"
                + (" (it is excluded by .dockerignore)" if self.excluded(pattern) else "")
            )
        found = self._glob(pattern.split("/"), "")
        if not found:
            raise BuildError(f"{where}: no file in the build context matches {source!r}")
        return found

    def _inside(self, disk: Path) -> bool:
        """Symlinked parents must not lead out of the context."""
        parent = os.path.realpath(disk.parent)
        root = os.path.realpath(self.root)
        return parent == root or parent.startswith(root + os.sep)

    def _glob(self, segments: list[str], prefix: str) -> list[Match]:
        head, rest = segments[0], segments[1:]
        directory = self.root / prefix if prefix else self.root
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return []
        out: list[Match] = []
        for name in names:
            if not fnmatch.fnmatchcase(name, head) if has_glob(head) else name != head:
                continue
            rel = f"{prefix}/{name}" if prefix else name
            if self.excluded(rel):
                continue
            disk = self.root / rel
            if rest:
                if disk.is_dir() and not disk.is_symlink():
                    out.extend(self._glob(rest, rel))
            else:
                out.append(Match(rel, disk))
        return out

    def digest(self, matches: list[Match]) -> str:
        """Content digest of the matches (recursively, ignored paths left out)."""
        h = hashlib.sha256()
        for m in matches:
            h.update(f"match {m.rel}\0".encode())
            self._hash_tree(h, m.disk, m.rel)
        return h.hexdigest()

    def _hash_tree(self, h: hashlib._Hash, disk: Path, rel: str) -> None:
        st = os.lstat(disk)
        _hash_meta(h, rel, st)
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(disk).encode("utf-8", "surrogateescape") + b"\0")
        elif stat.S_ISREG(st.st_mode):
            hash_file(h, disk)
        elif stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(disk)):
                child = f"{rel}/{name}" if rel else name
                if self.excluded(child):
                    continue
                self._hash_tree(h, disk / name, child)


def _hash_meta(h: hashlib._Hash, rel: str, st: os.stat_result) -> None:
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0{size}\0".encode())


def hash_file(h: hashlib._Hash, path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}") from exc
