"""Where ``COPY`` and ``ADD`` take files from: one small type per kind of source.

A source puts entries at a :class:`Destination`, which is known only once the step runs
(the stage's file system decides whether a path is a directory).  The kinds: a path of the
build context (:class:`ContextPath`), a path of another stage or image (:class:`StagePath`),
a here-document (:class:`HereDocument`), a file downloaded by ``ADD`` (:class:`UrlFile`) and
a local archive ``ADD`` unpacks (:class:`LocalArchive`, through ``dockerfile/archive.py``).

Placement follows docker: a directory source puts its *contents* at the destination, a
file lands inside a destination directory under its own name, or becomes the destination.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Protocol

from distroless.dockerfile.archive import archive_entries
from distroless.dockerfile.context import BuildContext, Match, clean_source, has_glob
from distroless.dockerfile.ignore import DockerIgnore
from distroless.dockerfile.layerfs import FsNode, LayeredFS
from distroless.errors import BuildError
from distroless.layers.entry import Entry, EntryType, normalize_path
from distroless.layers.fromdir import entries_from_directory
from distroless.modes import ModeChange


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Destination:
    """Where a COPY/ADD step's sources land, and as whom."""

    #: absolute path in the image, symlinks resolved
    path: str
    #: whether sources go *into* ``path`` (a directory) or become it
    is_dir: bool
    #: the stage's file system before the step
    fs: LayeredFS
    #: a private directory that lives until the step's layer is written
    scratch: Path
    owner: Owner = Owner()
    #: ``--chmod``: how copied files and directories get their mode (None: keep theirs)
    mode: ModeChange | None = None
    #: no ``--chown``: what comes from a stage or an image keeps its owner, as in BuildKit
    #: (context files and downloads are root's all the same)
    keep_owner: bool = False
    #: ``--exclude`` patterns, matched against paths below each source, relative to it
    excludes: DockerIgnore | None = None

    def made_dir(self, path: str) -> Entry | None:
        """The entry of a directory source's destination ``path``: a missing one is made
        0755 (or the octal ``--chmod``) with the ``--chown`` owner, an existing one keeps its
        metadata; the source directory's own never apply (BuildKit's copier)."""
        layer_path = path.strip("/")
        node = self.fs.lookup(path, follow=False)
        if not layer_path or (node is not None and node.is_dir):
            return None
        octal = self.mode.octal if self.mode is not None else None
        mode = 0o755 if octal is None else octal
        return Entry.directory(layer_path, mode, self.owner.uid, self.owner.gid)

    def skipped(self, rel: str) -> bool:
        """Whether ``--exclude`` leaves out ``rel`` (a path below a source)."""
        return self.excludes is not None and self.excludes.matches(rel)

    def skipped_whole(self, rel: str) -> bool:
        """Whether ``--exclude`` leaves out ``rel`` and all below it (no ``!`` brings any back)."""
        return self.skipped(rel) and not (
            self.excludes is not None and self.excludes.may_reinclude(rel)
        )

    def file_path(self, name: str) -> str:
        """Where a file called ``name`` goes: inside a directory, or the path itself."""
        return posixpath.join(self.path, name) if self.is_dir else self.path


@dataclass(frozen=True)
class ParentsPattern:
    """``COPY --parents``: what of a source's base directory is copied, parents and all.

    A path is copied when the pattern matches it or one of its parents (as a
    ``.dockerignore`` line would); a directory it does not match is walked only while a
    path below it still could match, and appears only as the parent of what does.
    """

    pattern: str
    matcher: DockerIgnore

    @classmethod
    def of(cls, pattern: str) -> ParentsPattern:
        return cls(pattern, DockerIgnore.of_patterns([pattern]))

    def copies(self, rel: str) -> bool:
        return self.matcher.matches(rel)

    def may_copy_below(self, directory: str) -> bool:
        wanted = self.matcher.patterns[0].pattern.split("/") if self.matcher.patterns else []
        have = directory.split("/")
        if "**" in wanted[: len(have) + 1]:
            return True
        return len(have) < len(wanted) and all(
            fnmatch.fnmatchcase(name, part) for name, part in zip(have, wanted, strict=False)
        )


class Source(Protocol):
    """One thing a COPY/ADD step copies."""

    def entries(self, to: Destination) -> Iterator[Entry]: ...


def _owned(entry: Entry, owner: Owner, mode: ModeChange | None) -> Entry:
    changes: dict[str, object] = {"uid": owner.uid, "gid": owner.gid, "uname": "", "gname": ""}
    if mode is not None and entry.type is not EntryType.SYMLINK:
        changes["mode"] = mode.apply(entry.mode, is_dir=entry.type is EntryType.DIR)
    return replace(entry, **changes)  # type: ignore[arg-type]


# -- the build context -------------------------------------------------------------------


@dataclass(frozen=True)
class ContextPath:
    """A matched context path; ``.dockerignore`` applies to what is below it.

    ``match.disk`` is already resolved inside the context (see :class:`BuildContext`);
    symlinks below it are copied as symlinks, as docker does.
    """

    context: BuildContext
    match: Match
    #: ``--parents``: only what the pattern names below the matched directory
    parents: ParentsPattern | None = None

    def entries(self, to: Destination) -> Iterator[Entry]:
        disk = self.match.disk
        target = to.path if disk.is_dir() else to.file_path(posixpath.basename(self.match.rel))
        base = self.match.resolved

        def in_context(rel: str) -> str:
            # .dockerignore speaks of the paths the copy really reads
            return f"{base}/{rel}" if base else rel

        def ignored(rel: str) -> bool:
            return self.context.excluded(in_context(rel))

        parents = self.parents

        def exclude(rel: str) -> bool:
            return ignored(rel) or to.skipped(rel) or _left_out(parents, rel)

        def prune(rel: str) -> bool:
            return (
                (ignored(rel) and self.context.pruned(in_context(rel)))
                or to.skipped_whole(rel)
                or _nothing_below(parents, rel)
            )

        owner = to.owner
        is_dir = disk.is_dir()
        if is_dir:
            made = to.made_dir(target)
            if made is not None:
                yield made
        for entry in entries_from_directory(
            disk, target, uid=owner.uid, gid=owner.gid, exclude=exclude, prune=prune,
            include_root=not is_dir,
        ):  # fmt: skip
            yield _owned(entry, owner, to.mode)


def _left_out(parents: ParentsPattern | None, rel: str) -> bool:
    return parents is not None and not parents.copies(rel)


def _nothing_below(parents: ParentsPattern | None, rel: str) -> bool:
    return parents is not None and not parents.copies(rel) and not parents.may_copy_below(rel)


# -- another stage or image ---------------------------------------------------------------


def match_in_fs(fs: LayeredFS, source: str, where: str) -> list[FsNode]:
    """The nodes of ``fs`` matching ``source`` (globs per segment); an error if none."""
    pattern = clean_source(source)
    if not has_glob(pattern):
        node = fs.lookup("/" + pattern)
        if node is None:
            raise BuildError(f"{where}: {source!r} does not exist in the source stage or image")
        return [node]
    found: list[str] = ["/"]
    for segment in pattern.split("/"):
        nxt: list[str] = []
        for directory in found:
            resolved = fs.resolve(directory)
            for name in fs.listdir(resolved):
                if fnmatch.fnmatchcase(name, segment):
                    nxt.append(posixpath.join(resolved, name))
        found = nxt
    nodes = [n for n in (fs.lookup(p) for p in found) if n is not None]
    if not nodes:
        raise BuildError(f"{where}: nothing in the source stage or image matches {source!r}")
    return nodes


@dataclass(frozen=True)
class StagePath:
    """A path of another stage's or an image's file system."""

    fs: LayeredFS
    node: FsNode
    parents: ParentsPattern | None = None

    def entries(self, to: Destination) -> Iterator[Entry]:
        node = self.node
        owner = None if to.keep_owner else to.owner
        target = to.path if node.is_dir else to.file_path(posixpath.basename(node.path))
        layer_dest = target.strip("/")
        if not node.is_dir:
            if not layer_dest:
                raise BuildError(f"cannot copy the file {node.path} onto the root directory")
            entry = _fs_entry(node, normalize_path(layer_dest), owner, to.mode)
            if entry is not None:
                yield entry
            return
        made = to.made_dir(target)
        if made is not None:
            yield made
        yield from _walk_fs(self.fs, node.path, layer_dest, owner, to, "", self.parents)


def _fs_entry(
    node: FsNode, layer_path: str, owner: Owner | None, mode: ModeChange | None
) -> Entry | None:
    """``node`` as an entry at ``layer_path``, owned by ``owner`` (None: its own owner)."""
    st = node.st
    fmt = stat.S_IFMT(st.st_mode)
    perm = stat.S_IMODE(st.st_mode)
    uid, gid = (st.st_uid, st.st_gid) if owner is None else (owner.uid, owner.gid)
    if mode is not None and fmt in (stat.S_IFDIR, stat.S_IFREG):
        perm = mode.apply(perm, is_dir=fmt == stat.S_IFDIR)
    common = {"uid": uid, "gid": gid, "mtime": int(st.st_mtime)}
    if fmt == stat.S_IFDIR:
        return Entry(layer_path, EntryType.DIR, mode=perm, **common)  # type: ignore[arg-type]
    if fmt == stat.S_IFLNK:
        return Entry(
            layer_path,
            EntryType.SYMLINK,
            mode=0o777,
            linkname=os.readlink(node.host),
            **common,  # type: ignore[arg-type]
        )
    if fmt == stat.S_IFREG:
        host = node.host

        def opener(host: Path = host) -> BinaryIO:
            return host.open("rb")

        return Entry(
            layer_path, EntryType.FILE, mode=perm,
            size=st.st_size, opener=opener, **common,  # type: ignore[arg-type]
        )  # fmt: skip
    return None


def _walk_fs(
    fs: LayeredFS,
    path: str,
    layer_dir: str,
    owner: Owner | None,
    to: Destination,
    rel: str,
    parents: ParentsPattern | None,
) -> Iterator[Entry]:
    for name in fs.listdir(path):
        child_path = posixpath.join(path, name)
        child_rel = posixpath.join(rel, name) if rel else name
        skipped = to.skipped(child_rel) or _left_out(parents, child_rel)
        if to.skipped_whole(child_rel) or _nothing_below(parents, child_rel):
            continue
        node = fs.lookup(child_path, follow=False)
        if node is None or (skipped and not node.is_dir):
            continue
        target = posixpath.join(layer_dir, name) if layer_dir else name
        entry = _fs_entry(node, target, owner, to.mode)
        if entry is None:
            continue
        below = (
            _walk_fs(fs, child_path, target, owner, to, child_rel, parents) if node.is_dir else None
        )
        if not skipped:
            yield entry
            if below is not None:
                yield from below
            continue
        # an excluded directory a "!" pattern reaches into: there only as a parent
        assert below is not None
        first = next(below, None)
        if first is not None:
            yield entry
            yield first
            yield from below


# -- here-documents -----------------------------------------------------------------------


@dataclass(frozen=True)
class HereDocument:
    """``COPY <<NAME /dst``: a file called ``NAME`` holding the (expanded) body, 0644."""

    name: str
    data: bytes

    @property
    def key(self) -> str:
        return "heredoc:" + hashlib.sha256(self.data).hexdigest() + ":" + self.name

    def entries(self, to: Destination) -> Iterator[Entry]:
        mode = to.mode.apply(0o644, is_dir=False) if to.mode is not None else 0o644
        yield Entry.file(to.file_path(self.name), self.data, mode, to.owner.uid, to.owner.gid)


# -- ADD: local archives and URLs -----------------------------------------------------------


@dataclass(frozen=True)
class LocalArchive:
    """A tar archive of the context that ``ADD`` unpacks into the destination directory."""

    disk: Path
    where: str

    def entries(self, to: Destination) -> Iterator[Entry]:
        yield from archive_entries(
            self.disk, to.path, fs=to.fs, spool_dir=to.scratch, where=self.where
        )


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def url_basename(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    name = posixpath.basename(unquote(urlsplit(url).path))
    return name or "index.html"


def download(url: str, target: Path, checksum: str | None, where: str) -> str:
    """Fetch ``url`` into ``target``; returns its ``sha256:`` digest, checked if pinned."""
    import httpx

    h = hashlib.sha256()
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as resp:
            if resp.status_code != 200:
                raise BuildError(f"{where}: downloading {url} failed: HTTP {resp.status_code}")
            with target.open("wb") as out:
                for chunk in resp.iter_bytes(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise BuildError(f"{where}: downloading {url} failed: {exc}") from exc
    digest = "sha256:" + h.hexdigest()
    if checksum is not None and checksum.lower() != digest:
        target.unlink(missing_ok=True)
        raise BuildError(f"{where}: {url} has checksum {digest}, but --checksum={checksum}")
    return digest


def check_checksum(value: str, where: str) -> str:
    algo, _, hexpart = value.partition(":")
    if (
        algo != "sha256"
        or len(hexpart) != 64
        or any(c not in "0123456789abcdef" for c in hexpart.lower())
    ):
        raise BuildError(f"{where}: --checksum={value} must be sha256:<64 hex digits>")
    return value.lower()


@dataclass(frozen=True)
class UrlFile:
    """``ADD URL``: a file named after the URL's last path segment, 0600 unless ``--chmod``.

    Pinned with ``--checksum``, the download waits until the step runs (the pin is the cache
    key); unpinned, it happened already, because the content is the key.
    """

    url: str
    file: Path
    key: str
    #: the ``--checksum`` still to check; None when the file is already there
    pending: str | None
    where: str

    @classmethod
    def plan(cls, url: str, checksum: str | None, tmpdir: Path, where: str) -> UrlFile:
        file = tmpdir / "download"
        if checksum is not None:
            return cls(url, file, f"url:{url}:{check_checksum(checksum, where)}", checksum, where)
        return cls(url, file, f"url:{url}:{download(url, file, None, where)}", None, where)

    def entries(self, to: Destination) -> Iterator[Entry]:
        if self.pending is not None:
            download(self.url, self.file, self.pending, self.where)
        size = self.file.stat().st_size

        def opener() -> BinaryIO:
            return self.file.open("rb")

        target = to.file_path(url_basename(self.url))
        entry = Entry(target.lstrip("/"), EntryType.FILE, mode=0o600, size=size, opener=opener)
        yield _owned(entry, to.owner, to.mode)  # BuildKit applies --chown and --chmod here too
