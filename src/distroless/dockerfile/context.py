"""The build context: the directory ``COPY`` and ``ADD`` read, minus what .dockerignore hides.

The context is untrusted input, symlinks included.  Sources are matched the way BuildKit
sees its copy of the context: a path relative to the context root in which every symlink
is resolved *inside* the context (``link -> /etc/shadow`` means ``<context>/etc/shadow``,
``..`` stops at the root), through :mod:`distroless.rootpath`.  A symlink named as a source
is followed (``COPY link /x`` copies what it points to); symlinks met while copying a
directory stay symlinks.  Paths excluded by .dockerignore do not exist for the build: a
source, a link on the way to it or the file it resolves to that is excluded is reported
exactly like a missing one.  Globs (``*``, ``?``, ``[...]``) match within one segment.

The content digest of the matches (names, types, modes, sizes, each file's sha256, link
targets) is part of the build cache key, so editing one byte of a copied file re-runs its
COPY.  A file's sha256 comes from the store's records when its ``lstat`` is unchanged
(:mod:`distroless.dockerfile.content_hashes`), so a rebuild reads only what changed.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import os
import posixpath
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from distroless.dockerfile.content_hashes import ContentHashes
from distroless.dockerfile.ignore import DockerIgnore
from distroless.errors import BuildError, InputError
from distroless.rootpath import SymlinkLoopError, host_readlink, resolve_in_root

_GLOB_CHARS = frozenset("*?[")
#: errors of os.link that mean "copy instead" (other file system, no permission, too many)
_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES})


def has_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def clean_source(source: str) -> str:
    """A source as a path relative to its root: ``/a/../b`` and ``./b`` both mean ``b``."""
    cleaned = posixpath.normpath("/" + source).lstrip("/")
    return "" if cleaned == "." else cleaned


@dataclass(frozen=True)
class Match:
    """One matched source.

    ``rel`` is the path as the instruction named it (its base name names the copy),
    ``resolved`` the context path it leads to with every symlink resolved inside the
    context, and ``disk`` the host path of ``resolved`` (never a symlink).
    """

    rel: str
    disk: Path
    resolved: str


class _Hidden(Exception):
    """A symlink on the way is excluded by .dockerignore, so the path does not exist."""


class BuildContext:
    """A context directory with its .dockerignore applied."""

    def __init__(
        self, root: Path, ignore: DockerIgnore | None = None, hashes: ContentHashes | None = None
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"build context {str(self.root)!r} is not a directory")
        self.ignore = ignore or DockerIgnore()
        self.hashes = hashes or ContentHashes()
        self._readlink = host_readlink(self.root)

    @classmethod
    def load(
        cls, root: Path, dockerfile: Path | None = None, hashes: ContentHashes | None = None
    ) -> BuildContext:
        return cls(root, DockerIgnore.load(root, dockerfile), hashes)

    def excluded(self, rel: str) -> bool:
        return bool(rel) and self.ignore.matches(rel)

    def pruned(self, rel: str) -> bool:
        """Whether nothing below the excluded directory ``rel`` can be re-included by an
        exception (``!keep/**``), so a walk may skip it whole."""
        return not self.ignore.may_reinclude(rel)

    def host(self, rel: str) -> Path:
        """The host path of a resolved context path (``""`` is the root)."""
        return self.root / rel if rel else self.root

    def _visible_readlink(self, rel: str) -> str | None:
        target = self._readlink(rel)
        if target is not None and self.excluded(rel):
            raise _Hidden(rel)
        return target

    def resolve(self, rel: str, where: str) -> str | None:
        """``rel`` resolved inside the context; None if a link on the way is excluded."""
        try:
            return resolve_in_root(rel, self._visible_readlink)
        except _Hidden:
            return None
        except SymlinkLoopError:
            raise BuildError(
                f"{where}: too many symbolic links resolving {rel!r} in the build context"
            ) from None

    def match(self, source: str, where: str) -> list[Match]:
        """Every context path matching ``source``: a plain path that is missing is an error
        naming ``where``; a wildcard may match nothing (BuildKit's empty-wildcard rule)."""
        pattern = clean_source(source)
        if not pattern:
            return [Match("", self.root, "")]
        if not has_glob(pattern):
            resolved = self.resolve(pattern, where)
            if (
                resolved is not None
                and not self.excluded(pattern)
                and not self.excluded(resolved)
                and os.path.lexists(self.host(resolved))
            ):
                return [Match(pattern, self.host(resolved), resolved)]
            raise BuildError(
                f"{where}: {source!r} is not in the build context (it does not exist there "
                "or is excluded by .dockerignore)"
            )
        return self._glob(pattern.split("/"), "", "", where)

    def _glob(self, segments: list[str], named: str, resolved: str, where: str) -> list[Match]:
        head, rest = segments[0], segments[1:]
        try:
            names = sorted(os.listdir(self.host(resolved)))
        except OSError:
            return []
        out: list[Match] = []
        for name in names:
            if not fnmatch.fnmatchcase(name, head) if has_glob(head) else name != head:
                continue
            child_named = f"{named}/{name}" if named else name
            literal = f"{resolved}/{name}" if resolved else name
            if self.excluded(literal):
                continue
            target = self.resolve(literal, where)
            if target is None or self.excluded(target):
                continue
            disk = self.host(target)
            if rest:
                if disk.is_dir():
                    out.extend(self._glob(rest, child_named, target, where))
            elif os.path.lexists(disk):
                out.append(Match(child_named, disk, target))
        return out

    # -- cache keys -----------------------------------------------------------------------

    def digest(self, matches: list[Match]) -> str:
        """Content digest of the matches (recursively, ignored paths left out)."""
        h = hashlib.sha256()
        for m in matches:
            h.update(f"match {m.rel}\0{m.resolved}\0".encode())
            self._hash_tree(h, m.disk, m.resolved)
        return h.hexdigest()

    def _hash_tree(self, h: hashlib._Hash, disk: Path, rel: str) -> None:
        """Names, metadata and bytes of a tree, depth first (a stack: any depth works)."""
        pending = [(disk, rel)]
        while pending:
            path, name = pending.pop()
            st = os.lstat(path)
            _hash_meta(h, name, st)
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode("utf-8", "surrogateescape") + b"\0")
            elif stat.S_ISREG(st.st_mode):
                h.update(self.hashes.file_digest(name, path, st).encode() + b"\0")
            elif stat.S_ISDIR(st.st_mode):
                children = []
                for child in sorted(os.listdir(path)):
                    child_rel = f"{name}/{child}" if name else child
                    if not self.excluded(child_rel):
                        children.append((path / child, child_rel))
                    elif not self.pruned(child_rel) and os.path.isdir(path / child):
                        children.append((path / child, child_rel))  # what may come back
                pending.extend(reversed(children))

    # -- what a bind mount shows -----------------------------------------------------------

    def hides_below(self, match: Match) -> bool:
        """Whether .dockerignore excludes anything inside the matched directory."""
        if not self.ignore.patterns or not match.disk.is_dir():
            return False
        pending = [(str(match.disk), match.resolved)]
        while pending:
            directory, rel = pending.pop()
            for entry in os.scandir(directory):
                child = f"{rel}/{entry.name}" if rel else entry.name
                if self.excluded(child):
                    return True
                if entry.is_dir(follow_symlinks=False):
                    pending.append((entry.path, child))
        return False

    def filtered_copy(self, match: Match, into: Path, *, link: bool) -> None:
        """Recreate the matched directory at ``into`` without what .dockerignore excludes.

        With ``link`` regular files are hard links to the context's (cheap, and only ever
        mounted read-only), else copies; symlinks are recreated as they are, devices and
        sockets are left out (a build context holds none that matter).  Directory modes
        are set last, so a read-only directory can still be filled.
        """
        os.mkdir(into, 0o700)
        directories = [(into, os.lstat(match.disk))]
        pending = [(str(match.disk), into, match.resolved)]
        while pending:
            source, target_dir, rel = pending.pop()
            for entry in sorted(os.scandir(source), key=lambda e: e.name):
                child = f"{rel}/{entry.name}" if rel else entry.name
                if self.excluded(child) and (
                    self.pruned(child) or not entry.is_dir(follow_symlinks=False)
                ):
                    continue
                st = entry.stat(follow_symlinks=False)
                target = target_dir / entry.name
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(target, 0o700)
                    directories.append((target, st))
                    pending.append((entry.path, target, child))
                    continue
                if stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(entry.path), target)
                elif stat.S_ISREG(st.st_mode):
                    if _place_file(entry.path, target, link):
                        continue  # the same inode: its metadata is already the context's
                elif stat.S_ISFIFO(st.st_mode):
                    os.mkfifo(target, 0o600)
                else:
                    continue
                _copy_meta(target, st)
        for directory, st in reversed(directories):
            _copy_meta(directory, st)


def remove_copy(path: Path) -> None:
    """Delete a :meth:`BuildContext.filtered_copy` without touching the context.

    Its directories are ours and are made writable first; its files may be hard links
    to the context's, so nothing ever changes their modes (as a generic cleanup that
    "fixes" permissions on failure would).
    """
    pending = [str(path)]
    while pending:
        directory = pending.pop()
        try:
            os.chmod(directory, 0o700)
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        pending.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
    shutil.rmtree(path, ignore_errors=True)


def _place_file(source: str, target: Path, link: bool) -> bool:
    """Link (when asked and possible) or copy ``source``; True if it was linked."""
    if link:
        try:
            os.link(source, target, follow_symlinks=False)
            return True
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
    shutil.copyfile(source, target, follow_symlinks=False)
    return False


def _copy_meta(path: Path, st: os.stat_result) -> None:
    """Owner, mode and times of the context's entry (ownership only where we may set it)."""
    with contextlib.suppress(PermissionError):
        os.lchown(path, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(path, stat.S_IMODE(st.st_mode))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _hash_meta(h: hashlib._Hash, rel: str, st: os.stat_result) -> None:
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    h.update(f"{rel}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode):o}\0{size}\0".encode())
