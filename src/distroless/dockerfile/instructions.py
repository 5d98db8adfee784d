"""What ``COPY`` and ``ADD`` put into a layer, following docker's rules for paths.

Destination rules (docker's): a relative destination is relative to ``WORKDIR``; a
destination ending in ``/``, several sources or a glob make it a directory; a single file
copied to an existing directory lands inside it; a directory source copies its
*contents*.  Sources come from the build context, from another stage or image (a
:class:`LayeredFS`), from here-documents, from local archives (``ADD`` unpacks them) or from
URLs (``ADD``, optionally pinned with ``--checksum``).  Ownership is 0:0 unless ``--chown``
says otherwise; ``--chmod`` sets the mode of files and directories.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from distroless.dockerfile.context import clean_source, has_glob
from distroless.dockerfile.layerfs import FsNode, LayeredFS
from distroless.errors import BuildError
from distroless.layers.entry import Entry, EntryType, normalize_path
from distroless.layers.fromdir import entries_from_directory
from distroless.runtime.users import parse_group, parse_passwd


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0


def parse_chmod(value: str, where: str) -> int:
    """``--chmod=0755`` (octal only, as docker's classic builder accepts)."""
    try:
        mode = int(value, 8)
    except ValueError:
        raise BuildError(f"{where}: --chmod={value} is not an octal mode like 0755") from None
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"{where}: --chmod={value} is out of range")
    return mode


def parse_chown(value: str, fs: LayeredFS | None, where: str) -> Owner:
    """``--chown=user[:group]``: names from the stage's /etc/passwd and /etc/group.

    A user without a group uses the same number as the group (docker's rule).
    """
    user, sep, group = value.partition(":")
    if not user or (sep and not group):
        raise BuildError(f"{where}: --chown={value} must be USER[:GROUP]")

    def lookup(name: str, file: str) -> int:
        if name.isdigit():
            return int(name)
        text = fs.read_text(file) if fs is not None else None
        if file == "/etc/passwd":
            ids = {e.name: e.uid for e in parse_passwd(text or "")}
        else:
            ids = {e.name: e.gid for e in parse_group(text or "")}
        if name not in ids:
            raise BuildError(f"{where}: --chown: {name!r} is not in the stage's {file}")
        return ids[name]

    uid = lookup(user, "/etc/passwd")
    gid = lookup(group, "/etc/group") if group else uid
    return Owner(uid, gid)


def absolute_dest(dest: str, workdir: str) -> tuple[str, bool]:
    """The destination as an absolute path, and whether it names a directory."""
    is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    path = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    return posixpath.normpath(path), is_dir


@dataclass(frozen=True)
class Destination:
    """Where a COPY/ADD step's sources land, known only once the step runs."""

    #: absolute path in the image, symlinks resolved
    path: str
    #: whether sources go *into* ``path`` (a directory) or become it
    is_dir: bool
    #: the stage's file system before the step
    fs: LayeredFS
    #: a private directory that lives until the step's layer is written
    scratch: Path


#: one source of a COPY/ADD step: the entries it puts at a destination
Producer = Callable[[Destination], Iterator[Entry]]


def created_dirs(fs: LayeredFS, directory: str, owner: Owner) -> Iterator[Entry]:
    """``directory`` and its parents that the stage lacks: 0755, owned like the copy.

    BuildKit creates a missing destination with the ``--chown`` owner all the way down.
    """
    path = directory
    missing: list[str] = []
    while path not in ("/", "") and fs.node_at(path.lstrip("/")) is None:
        missing.append(path)
        path = posixpath.dirname(path)
    for p in reversed(missing):
        yield Entry.directory(p, 0o755, owner.uid, owner.gid)


def _owned(entry: Entry, owner: Owner, mode: int | None) -> Entry:
    changes: dict[str, object] = {"uid": owner.uid, "gid": owner.gid, "uname": "", "gname": ""}
    if mode is not None and entry.type in (EntryType.FILE, EntryType.DIR):
        changes["mode"] = mode
    return replace(entry, **changes)  # type: ignore[arg-type]


# -- sources from the build context ----------------------------------------------------


def context_entries(
    disk: Path,
    dest: str,
    *,
    owner: Owner,
    mode: int | None,
    exclude: Callable[[str], bool] | None,
) -> Iterator[Entry]:
    """Entries placing the context path ``disk`` at ``dest`` (a directory's contents).

    ``disk`` is already resolved inside the context (see :class:`BuildContext`); symlinks
    below it are copied as symlinks, as docker does.
    """
    for entry in entries_from_directory(
        disk, dest, uid=owner.uid, gid=owner.gid, mode=mode, exclude=exclude
    ):
        yield _owned(entry, owner, mode)


# -- sources from another stage or image -----------------------------------------------


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


def _fs_entry(node: FsNode, layer_path: str, owner: Owner, mode: int | None) -> Entry | None:
    st = node.st
    fmt = stat.S_IFMT(st.st_mode)
    perm = stat.S_IMODE(st.st_mode)
    common = {"uid": owner.uid, "gid": owner.gid, "mtime": int(st.st_mtime)}
    if fmt == stat.S_IFDIR:
        return Entry(layer_path, EntryType.DIR, mode=perm if mode is None else mode, **common)  # type: ignore[arg-type]
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
            layer_path, EntryType.FILE, mode=perm if mode is None else mode,
            size=st.st_size, opener=opener, **common,  # type: ignore[arg-type]
        )  # fmt: skip
    return None


def fs_entries(
    fs: LayeredFS, node: FsNode, dest: str, *, owner: Owner, mode: int | None
) -> Iterator[Entry]:
    """Entries placing ``node`` (a directory's contents, or a file) at ``dest``."""
    layer_dest = dest.strip("/")
    if not node.is_dir:
        if not layer_dest:
            raise BuildError(f"cannot copy the file {node.path} onto the root directory")
        entry = _fs_entry(node, normalize_path(layer_dest), owner, mode)
        if entry is not None:
            yield entry
        return
    if layer_dest:
        root = _fs_entry(node, normalize_path(layer_dest), owner, mode)
        if root is not None:
            yield root
    yield from _walk_fs(fs, node.path, layer_dest, owner, mode)


def _walk_fs(
    fs: LayeredFS, path: str, layer_dir: str, owner: Owner, mode: int | None
) -> Iterator[Entry]:
    for name in fs.listdir(path):
        child_path = posixpath.join(path, name)
        node = fs.lookup(child_path, follow=False)
        if node is None:
            continue
        target = posixpath.join(layer_dir, name) if layer_dir else name
        entry = _fs_entry(node, target, owner, mode)
        if entry is None:
            continue
        yield entry
        if node.is_dir:
            yield from _walk_fs(fs, child_path, target, owner, mode)


def fs_digest(fs: LayeredFS, nodes: list[FsNode]) -> str:
    """Content digest of nodes of a stage, as the cache key of a ``COPY --from``."""
    h = hashlib.sha256()
    for node in nodes:
        for entry in fs_entries(
            fs, node, "/x" if not node.is_dir else "/", owner=Owner(), mode=None
        ):
            h.update(
                f"{entry.path}\0{entry.type.value}\0{entry.mode:o}\0{entry.size}\0"
                f"{entry.linkname}\0".encode()
            )
            if entry.type is EntryType.FILE:
                with entry.open() as fh:
                    while chunk := fh.read(1 << 20):
                        h.update(chunk)
    return h.hexdigest()


# -- ADD: URLs (local archives are dockerfile/archive.py's) -----------------------------


def url_basename(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    name = posixpath.basename(unquote(urlsplit(url).path))
    return name or "index.html"


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


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
