"""The warm path of a Dockerfile build: "nothing changed" decided from stat alone.

A repeat of a build whose every step comes from the build cache costs little work, but the
full path still starts the whole tool (click, pydantic, the executor, the SBOM code) to find
that out.  After a full build in which nothing was executed, :mod:`distroless.warm_record`
writes a *warm record* under ``<store>/state/warm/<key>.json``: the key is a digest of every
input that decides the image (the Dockerfile's bytes, the .dockerignore's bytes, the build
arguments, target, platform, ``SOURCE_DATE_EPOCH``, the user's config, the tool version,
the context and Dockerfile paths); the record holds the image it made, the store entries
that held its bases (tag -> digest), its SBOM attachments, the blobs it needs, what the
build printed, and one digest over the ``lstat`` of every context entry the build could
see (type, mode, size, mtime, ctime, inode, device), directories included, so a new or
removed file changes it.  Entries .dockerignore hides from the build are listed by name
and never looked at.  When every context path the Dockerfile reads is spelled out (no
wildcard, no variable, never the whole context), only those paths and what is below them
are walked, as BuildKit transfers only the paths its COPY steps name: a change elsewhere
in a 100k-file tree cannot change the image, and costs nothing to overlook.

A later build with the same key compares all of that using only the standard library and
``stat`` (no file content is read) and, when everything matches, prints what the full path
printed.  Anything different, missing or unexpected sends it down the full path, which
builds (from its cache) and writes a new record.

Why stat is enough: the kernel sets a file's ctime to the current time on every change of
its bytes or metadata, and no system call sets it back (``touch``/``utime`` restore the
mtime only).  A file changed after the record was taken therefore has a ctime no older
than the moment it was taken -- unless its recorded ctime was itself that recent, which is
git's "racy" case: a build that sees an entry changed within :data:`RACY_NS` of its start
writes no record.  On a file system whose ctime does not follow writes (some network and
FUSE mounts), a change that keeps size, mtime and inode is invisible to stat; set
``DISTROLESS_NO_WARM=1`` there: the full path then hashes every file's content each build,
without the content-hash records of :mod:`distroless.dockerfile.content_hashes` either.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Mapping

from distroless import __version__

TYPE_CHECKING = False  # typing itself is a visible part of the warm path's time
if TYPE_CHECKING:
    from typing import Any

try:  # the built-in sha256: loading OpenSSL for hashlib costs more than the whole check
    from _sha256 import sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.12 renamed it
    from hashlib import sha256

#: Bump when a record's meaning changes, so an old record is never misread.
WARM_VERSION = "1"
#: A context entry changed this recently before a build is too close to trust by stat.
RACY_NS = 2_000_000_000
#: The environment variable that turns the warm path off.
NO_WARM_ENV = "DISTROLESS_NO_WARM"
#: the store's index annotations (:mod:`distroless.store.store`), spelled here to stay light
_REF_NAME = "org.opencontainers.image.ref.name"
_ROOT = "io.distroless.root"


def record_path(store_root: str, key: str) -> str:
    return os.path.join(store_root, "state", "warm", key + ".json")


def dockerfile_path(context: str, dockerfile: str | None) -> str:
    """The Dockerfile a build reads: ``-f``, else ``CONTEXT/Dockerfile`` or ``dockerfile``."""
    if dockerfile is not None:
        return dockerfile
    default = os.path.join(context, "Dockerfile")
    alt = os.path.join(context, "dockerfile")
    return alt if not os.path.isfile(default) and os.path.isfile(alt) else default


def ignore_path(context: str, dockerfile: str) -> str | None:
    """The .dockerignore that applies, chosen as :meth:`DockerIgnore.load` chooses it."""
    for candidate in (dockerfile + ".dockerignore", os.path.join(context, ".dockerignore")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _file_digest(path: str | None) -> str:
    if path is None:
        return "absent"
    try:
        with open(path, "rb") as fh:
            return "sha256:" + str(sha256(fh.read()).hexdigest())
    except FileNotFoundError:
        return "absent"


def config_file() -> str:
    """``config.toml``, where :func:`distroless.registry_config.config_path` finds it."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "distroless", "config.toml")


class WarmInputs:
    """Everything besides the context tree that decides a Dockerfile build's image.

    :meth:`key` reads the Dockerfile, the .dockerignore and ``config.toml`` afresh each
    time, so a recorder can tell whether they changed while a build ran.  (A plain class:
    loading :mod:`dataclasses` is a visible part of the warm path's time.)
    """

    def __init__(
        self,
        *,
        context: str,
        dockerfile: str | None,
        build_args: Mapping[str, str],
        target: str | None,
        platform: str | None,
        sbom: bool,
        source_date_epoch: int,
    ) -> None:
        self.context = context
        self.dockerfile = dockerfile
        self.build_args = dict(build_args)
        self.target = target
        self.platform = platform
        self.sbom = sbom
        self.source_date_epoch = source_date_epoch

    def key(self) -> tuple[str, str]:
        """``(record key, Dockerfile digest)``."""
        dockerfile = dockerfile_path(self.context, self.dockerfile)
        dockerfile_digest = _file_digest(dockerfile)
        doc = {
            "v": WARM_VERSION,
            "tool": __version__,
            "context": os.path.abspath(self.context),
            "dockerfile": os.path.abspath(dockerfile),
            "dockerfile_digest": dockerfile_digest,
            "ignore_digest": _file_digest(ignore_path(self.context, dockerfile)),
            "config_digest": _file_digest(config_file()),
            "build_args": dict(sorted(self.build_args.items())),
            "target": self.target,
            "platform": self.platform,
            "sbom": self.sbom,
            "source_date_epoch": self.source_date_epoch,
            "machine": os.uname().machine,
        }
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return str(sha256(text.encode()).hexdigest()), dockerfile_digest


#: ``skipped(rel, is_dir)``: whether the walk lists ``rel`` by name only
Skip = Callable[[str, bool], bool]


class ContextState:
    """One walk of a context: the digest of its entries' stat, the newest mtime or ctime
    among them, and the entries listed by name only."""

    def __init__(self, digest: str, newest_ns: int, skipped: tuple[str, ...]) -> None:
        self.digest = digest
        self.newest_ns = newest_ns
        self.skipped = skipped


class _Rows:
    """The rows of one walk, hashed in batches as they come, and what they saw."""

    def __init__(self, skipped: Skip | None) -> None:
        self.h = sha256()
        self.skipped = skipped
        self.rows: list[tuple[object, ...]] = []
        self.names: list[str] = []
        self.newest = 0

    def add(self, rel: str, st: os.stat_result) -> None:
        mtime, ctime = st.st_mtime_ns, st.st_ctime_ns
        self.rows.append((rel, st.st_mode, st.st_size, mtime, ctime, st.st_ino, st.st_dev))
        if ctime > self.newest or mtime > self.newest:
            self.newest = max(ctime, mtime)

    def tree(self, directory: str, rel: str) -> None:
        """Every entry below ``directory`` (context path ``rel``), depth first."""
        pending = [(directory, rel)]
        isdir = stat.S_ISDIR
        rows, skipped = self.rows, self.skipped
        while pending:
            directory, rel = pending.pop()
            prefix = rel + "/" if rel else ""
            with os.scandir(directory) as it:
                for entry in it:
                    child = prefix + entry.name
                    if skipped is not None and skipped(child, entry.is_dir(follow_symlinks=False)):
                        rows.append(("x", child))
                        self.names.append(child)
                        continue
                    st = entry.stat(follow_symlinks=False)
                    self.add(child, st)
                    if isdir(st.st_mode):
                        pending.append((entry.path, child))
            if len(rows) > 8192:
                self.flush()

    def flush(self) -> None:
        self.h.update(repr(self.rows).encode("utf-8", "surrogateescape"))
        self.rows.clear()

    def state(self) -> ContextState:
        self.flush()
        return ContextState(str(self.h.hexdigest()), self.newest, tuple(self.names))


class _LinkOnTheWay(Exception):
    """A path a build reads passes through a symlink, which the build resolves (possibly
    to anywhere in the context): only the whole context vouches for it."""


def _read_path(walk: _Rows, root: str, rel: str) -> None:
    """Each component of ``rel`` (a path the build reads), then everything below it."""
    parts = rel.split("/")
    for n in range(1, len(parts) + 1):
        name = "/".join(parts[:n])
        try:
            st = os.lstat(os.path.join(root, name))
        except (FileNotFoundError, NotADirectoryError):
            walk.rows.append(("absent", name))
            return
        if stat.S_ISLNK(st.st_mode):
            raise _LinkOnTheWay(name)
        walk.add(name, st)
    if stat.S_ISDIR(st.st_mode):
        walk.tree(os.path.join(root, rel), rel)


def walk_context(
    root: str, skipped: Skip | None, reads: tuple[str, ...] | None = None
) -> ContextState:
    """``lstat`` every entry under ``root`` (never following a link), depth first, except
    those ``skipped`` names (which are not entered either); with ``reads``, only the
    context paths a build reads (see :func:`distroless.warm_record.context_reads`): each
    component of each, and all below it, as BuildKit sends only the paths its COPY steps
    name.  A link on the way to one of them makes it the whole context after all.

    Entries are taken in the order the directory lists them: an unchanged directory lists
    them in the same order, and a changed one has a new mtime anyway, so sorting would buy
    nothing but time.  Rows are hashed as the ``repr`` of tuples, which quotes each name, so
    no name (a file name may hold a newline) can pass for another entry's row.
    """
    walk = _Rows(skipped)
    if reads is None:
        walk.add("", os.lstat(root))
        walk.tree(root, "")
        return walk.state()
    walk.rows.append(("reads", reads))  # never the rows of a whole walk
    try:
        for rel in reads:
            _read_path(walk, root, rel)
    except _LinkOnTheWay:
        return walk_context(root, skipped)
    return walk.state()


def file_identity(st: os.stat_result) -> list[int]:
    """What changes whenever a file is replaced or written (``index.json`` is replaced
    atomically, so a new version is a new inode and a new ctime)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


class WarmHit:
    """What a matching record says the full path would do: its image, what it printed.

    ``events`` are the ``(kind, message)`` of the ``step`` and ``warning`` events in order;
    ``retag`` the tags whose store entry must be written again (given name, descriptor).
    """

    def __init__(
        self,
        digest: str,
        events: tuple[tuple[str, str], ...],
        retag: tuple[tuple[str, dict[str, Any]], ...],
    ) -> None:
        self.digest = digest
        self.events = events
        self.retag = retag


#: the last walk skipping nothing in this process: (context, reads) -> (when it began, state)
_LAST_WALK: dict[tuple[str, tuple[str, ...] | None], tuple[int, ContextState]] = {}


def _walk_unskipped(root: str, reads: tuple[str, ...] | None) -> ContextState:
    """:func:`walk_context` skipping nothing, kept for :func:`walked` to hand on."""
    began = time.time_ns()
    state = walk_context(root, None, reads)
    _LAST_WALK.clear()
    _LAST_WALK[(root, reads)] = (began, state)
    return state


def walked(root: str, reads: tuple[str, ...] | None) -> tuple[int, ContextState] | None:
    """When the last walk of ``root`` skipping nothing began and what it saw, handed on
    once if it walked the same ``reads``.

    A warm check that missed walked the context a moment ago; the full build that follows
    records that walk instead of walking 100k entries a second time.  The walk is older than
    the build's reads, exactly as the record needs (see :mod:`distroless.warm_record`)."""
    return _LAST_WALK.pop((root, reads), None)


class _Miss(Exception):
    """Something differs from the record: the full path decides."""


def check(store_root: str, inputs: WarmInputs, tags: tuple[str, ...]) -> WarmHit | None:
    """The record's result if nothing it depends on changed, else None."""
    try:
        key, _ = inputs.key()
        with open(record_path(store_root, key), "rb") as fh:
            record = json.load(fh)
        return _check(store_root, inputs, tags, record)
    except (_Miss, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _check(
    store_root: str, inputs: WarmInputs, tags: tuple[str, ...], record: dict[str, object]
) -> WarmHit:
    if record.get("v") != WARM_VERSION:
        raise _Miss
    known = record["tags"]
    assert isinstance(known, dict)
    wanted = [(t, known[t]) for t in tags]  # a tag never recorded: its name is unknown here
    image = record["image"]
    assert isinstance(image, dict)
    retag: tuple[tuple[str, dict[str, Any]], ...] = ()
    index = os.path.join(store_root, "index.json")
    if file_identity(os.stat(index)) != record["index"]:
        # the index changed since (another tag, another build): compare what matters
        with open(index, "rb") as fh:
            entries = json.load(fh)["manifests"]
        by_name = {e["annotations"][_REF_NAME]: e for e in entries
                   if _REF_NAME in e.get("annotations", {})}  # fmt: skip
        by_root = {e["annotations"][_ROOT]: e for e in entries
                   if _ROOT in e.get("annotations", {})}  # fmt: skip
        for name, digest in _pairs(record["bases"]):
            if by_name.get(name, {}).get("digest") != digest:
                raise _Miss
        for marker, entry in _entries(record["roots"]):
            if by_root.get(marker) != entry:
                raise _Miss
        retag = tuple(
            (given, image) for given, tag in wanted if by_name.get(tag["stored"]) != tag["entry"]
        )
    blobs = os.path.join(store_root, "blobs", "sha256")
    for digest in _strings(record["blobs"]):
        if not stat.S_ISREG(os.stat(os.path.join(blobs, digest.removeprefix("sha256:"))).st_mode):
            raise _Miss
    names = tuple(_strings(record["skipped"]))
    skipped = frozenset(names)
    reads = record.get("reads")
    reads = None if reads is None else tuple(_strings(reads))
    if skipped:
        state = walk_context(inputs.context, lambda rel, _: rel in skipped, reads)
    else:
        state = _walk_unskipped(inputs.context, reads)
    if state.digest != record["context"] or state.skipped != names:
        raise _Miss
    events = record["events"]
    assert isinstance(events, list)
    return WarmHit(str(image["digest"]), tuple((str(k), str(m)) for k, m in events), retag)


def _pairs(value: object) -> list[tuple[str, str]]:
    assert isinstance(value, list)
    return [(str(a), str(b)) for a, b in value]


def _entries(value: object) -> list[tuple[str, dict[str, object]]]:
    assert isinstance(value, list)
    return [(str(a), b) for a, b in value]


def _strings(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]
