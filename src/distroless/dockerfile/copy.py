"""``COPY`` and ``ADD``: a step's sources, its cache key and the layer it writes.

Destination rules (docker's): a relative destination is relative to ``WORKDIR``; a
destination ending in ``/``, several sources or a glob make it a directory; a single file
copied to an existing directory lands inside it; a directory source copies its
*contents*.  Ownership is 0:0 unless ``--chown`` says otherwise; ``--chmod`` sets the mode
of files and directories.  Existing parent directories keep their metadata in the layer;
missing ones are created 0755 (or the octal ``--chmod`` mode) with the ``--chown`` owner, as
BuildKit does.

The cache key holds what the sources read: the content digest of context paths, the
identity of a source stage or image and the paths matched in it, here-document bodies,
URLs with their content digest or pin, and the destination and owner.
"""

from __future__ import annotations

import posixpath
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from distroless.dockerfile.archive import archive_kind
from distroless.dockerfile.ast import Add, FileInstruction, Heredoc
from distroless.dockerfile.context import clean_source, has_glob
from distroless.dockerfile.copy_sources import (
    ContextPath,
    Destination,
    HereDocument,
    LocalArchive,
    Owner,
    ParentsPattern,
    Source,
    StagePath,
    UrlFile,
    is_url,
    match_in_fs,
)
from distroless.dockerfile.ignore import DockerIgnore
from distroless.dockerfile.layerfs import LayeredFS
from distroless.dockerfile.stage import StageState
from distroless.dockerfile.workspace import LayerStep, SourceFile, Workspace
from distroless.errors import BuildError, DockerfileError, InputError
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry, EntryType
from distroless.layers.layer import Layer
from distroless.modes import ModeChange, ModeError, parse_mode_change
from distroless.runtime.users import parse_group, parse_passwd

_HEREDOC_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")

#: ``COPY --from=REF``: the file system of a stage or image, and its identity for the key
FromSource = Callable[[str], tuple[LayeredFS, str]]


def copy_step(
    ins: FileInstruction,
    state: StageState,
    *,
    source: SourceFile,
    space: Workspace,
    from_source: FromSource,
    compression: Compression,
) -> LayerStep:
    """What ``ins`` copies, checked and keyed; the layer is made only on a cache miss."""
    where = source.where(ins)
    env = state.expansion_env()

    def word(text: str) -> str:
        try:
            return source.expand(text, env, ins)
        except DockerfileError as exc:  # name the word, as BuildKit does
            reason = exc.message.removeprefix(f"{where}: ")
            raise DockerfileError(f"{where}: {ins.keyword} {text!r}: {reason}") from None

    sources = [word(s) for s in ins.sources]
    dest_raw = word(ins.dest)
    if not sources and not ins.heredocs:
        raise BuildError(f"{where}: {ins.keyword} needs at least one source")
    parents = ins.parents
    excludes = _excludes(ins.excludes, where)
    is_add = isinstance(ins, Add)
    if is_add and any(s.endswith(".git") or s.startswith("git@") for s in sources):
        raise BuildError(f"{where}: ADD of a git repository is not supported; clone it first")
    checksum = None
    if isinstance(ins, Add) and ins.checksum is not None:
        checksum = source.expand(ins.checksum, env, ins)  # expanded like --chown, as BuildKit
        # BuildKit pins only what it fetches: one URL (or git source), never a context file
        if len(sources) != 1 or ins.heredocs:
            raise BuildError(f"{where}: ADD --checksum takes exactly one source, a URL")
        if not is_url(sources[0]):
            raise BuildError(
                f"{where}: ADD --checksum needs an http(s) URL source, not {sources[0]!r}"
            )
    dest, dest_is_dir = absolute_dest(dest_raw, state.config.working_dir)
    chmod = None
    if ins.chmod is not None:
        chmod = parse_chmod(source.expand(ins.chmod, env, ins), where)
    chown = source.expand(ins.chown, env, ins) if ins.chown is not None else None
    from_ref = source.expand(ins.from_, env, ins) if ins.from_ is not None else None
    flags = []
    if from_ref is not None:
        flags.append(f"--from={from_ref}")
    if parents:
        flags.append("--parents")
    if chown is not None:
        flags.append(f"--chown={chown}")
    if chmod is not None:
        shown = chmod.text if chmod.octal is None else f"{chmod.octal:o}"
        flags.append(f"--chmod={shown}")
    text = " ".join(
        [ins.keyword, *flags, *sources, *(f"<<{h.name}" for h in ins.heredocs), dest_raw]
    )

    # what the step reads, for the cache key and for making the layer
    inputs: list[str] = [f"dest={dest}:{dest_is_dir}"]
    if excludes is not None:
        inputs.append("exclude=" + "\0".join(ins.excludes))
    parts: list[Source] = []
    for doc in ins.heredocs:
        heredoc = HereDocument(doc.name, _heredoc_body(doc, env).encode())
        inputs.append(heredoc.key)
        parts.append(heredoc)
    src_fs: LayeredFS | None = None
    if from_ref is not None:
        # The source's identity (its layers' diff_ids, or an image digest) fixes its files,
        # so the key needs no look inside it: a hit never unpacks (or downloads) the source.
        src_fs, identity = from_source(from_ref)
        inputs.extend(f"from={identity}:{pattern}" for pattern in sources)
    else:
        for pattern in sources:
            if parents and not (is_add and is_url(pattern)):
                base, kept = _parents_split(pattern)
                if kept is not None and not has_glob(base + kept.pattern):
                    space.context.match(posixpath.join(base, kept.pattern), where)  # must exist
                matches = space.context.match(base, where)
                inputs.append(f"context:{pattern}:{space.context.digest(matches)}")
                parts.extend(ContextPath(space.context, m, kept) for m in matches)
                continue
            if is_add and is_url(pattern):
                url = UrlFile.plan(pattern, checksum, space.temp_dir(), where)
                inputs.append(url.key)
                parts.append(url)
                continue
            matches = space.context.match(pattern, where)
            inputs.append(f"context:{pattern}:{space.context.digest(matches)}")
            for m in matches:
                unpack = (
                    isinstance(ins, Add)
                    and ins.unpack is not False
                    and m.disk.is_file()
                    and archive_kind(m.disk) is not None
                )
                parts.append(
                    LocalArchive(m.disk, where) if unpack else ContextPath(space.context, m)
                )

    def check_many() -> bool:
        """Several sources (or a glob matching several files) need a directory destination."""
        many = len(parts) > 1
        if many and not dest_is_dir and not parents:
            raise BuildError(
                f"{where}: with more than one source the destination must be a directory "
                f"ending in '/' (got {dest_raw!r})"
            )
        return many

    if src_fs is None:
        check_many()
    if chown is not None:
        inputs.append(f"chown={chown}")
    # BuildKit links (copies into an empty layer, then merges) only without --chmod
    linked = ins.link and chmod is None
    if linked:
        inputs.append("link")

    def make() -> Layer | None:
        if src_fs is not None:
            for pattern in sources:
                base, kept = _parents_split(pattern) if parents else (pattern, None)
                if kept is not None and not has_glob(base + kept.pattern):
                    match_in_fs(src_fs, posixpath.join(base, kept.pattern), where)  # must exist
                nodes = match_in_fs(src_fs, base, where)
                parts.extend(StagePath(src_fs, node, kept) for node in nodes)
        many = check_many()
        # an archive is unpacked into a directory whatever the destination says
        unpacks = any(isinstance(p, LocalArchive) for p in parts)
        if not parts:  # wildcards that matched nothing: BuildKit changes nothing
            return None
        fs = space.fs(state)
        # A linked layer is made without reading the stage: its destination follows none of
        # the stage's symlinks and merges with none of its directories (reference.md,
        # "Incompatibilities with --link=false"); unpacked, its directories replace them.
        under = LayeredFS(list) if linked else fs
        target = dest
        is_dir = dest_is_dir or many or unpacks or parents
        if target != "/":
            resolved = under.resolve(target, follow_last=is_dir)
            if not is_dir:
                node = under.lookup(resolved)
                if node is not None and node.is_dir:
                    is_dir = True
                    resolved = under.resolve(target)  # into the directory a link names
            target = resolved
        with tempfile.TemporaryDirectory(dir=space.scratch) as scratch:
            # A linked layer starts empty: its parents are made afresh and, unpacked, replace
            # the stage's own (reference.md, COPY --link).
            entries: list[Entry] = (
                [] if linked else list(parent_entries(fs, target, include_self=is_dir))
            )
            owner = parse_chown(chown, fs, where) if chown is not None else Owner()
            to = Destination(
                target, is_dir, under, Path(scratch), owner, chmod, chown is None, excludes
            )
            made = target if is_dir else posixpath.dirname(target)
            entries.extend(
                created_dirs(None if linked else fs, made, owner, mode=created_mode(chmod))
            )
            try:
                for part in parts:
                    entries.extend(part.entries(to))
            except RecursionError:  # a directory walk below is recursive
                raise BuildError(
                    f"{where}: {ins.keyword} sources are nested too deeply to copy"
                ) from None
            return space.write_layer(entries, compression)

    return LayerStep(text, inputs, make)


def _parents_split(source: str) -> tuple[str, ParentsPattern | None]:
    """``COPY --parents``: the directory a source's kept parents start below, and what of
    it is copied (None: all of it).  A ``/./`` in the source ends the part that is not
    kept (BuildKit's pivot); without one, every parent is kept."""
    base, pivot, rest = source.partition("/./")
    if not pivot:
        base, rest = "", source
    kept = clean_source(rest)
    return base, ParentsPattern.of(kept) if kept else None


def _excludes(patterns: tuple[str, ...], where: str) -> DockerIgnore | None:
    """``--exclude`` patterns, read as .dockerignore lines are (BuildKit's patternmatcher)."""
    if not patterns:
        return None
    try:
        return DockerIgnore.of_patterns(patterns)
    except InputError as exc:
        raise BuildError(f"{where}: --exclude: {exc.message}") from None


def _heredoc_body(doc: Heredoc, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` in an unquoted here-document body; nothing else changes."""
    if not doc.expand:
        return doc.content
    return _HEREDOC_VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), doc.content)


def parse_chmod(value: str, where: str) -> ModeChange:
    """``--chmod=0755`` or a symbolic ``--chmod=u=rwX,go=rX``, as BuildKit takes them."""
    try:
        return parse_mode_change(value)
    except ModeError as exc:
        if exc.out_of_range:
            problem = "is out of range"
        elif value[:1].isdigit():
            problem = "is not an octal mode like 0755"
        else:
            problem = "is not a mode (octal like 0755, or symbolic like u=rwX,go=rX)"
        raise BuildError(f"{where}: --chmod={value} {problem}") from None


def parse_chown(value: str, fs: LayeredFS | None, where: str, *, what: str = "--chown") -> Owner:
    """``--chown=user[:group]``: names from the stage's /etc/passwd and /etc/group.

    Without a group, a uid gives the same number as gid and a user name its passwd entry's
    primary group, as BuildKit reads them.
    """
    user, sep, group = value.partition(":")
    if not user or (sep and not group):
        raise BuildError(f"{where}: {what}={value} must be USER[:GROUP]")

    def read(file: str) -> str:
        text = fs.read_text(file) if fs is not None else None
        return text or ""

    if user.isdigit():
        uid = primary = int(user)
    else:
        entry = next((e for e in parse_passwd(read("/etc/passwd")) if e.name == user), None)
        if entry is None:
            raise BuildError(f"{where}: {what}: {user!r} is not in the stage's /etc/passwd")
        uid, primary = entry.uid, entry.gid
    if not group:
        return Owner(uid, primary)
    if group.isdigit():
        return Owner(uid, int(group))
    gids = {e.name: e.gid for e in parse_group(read("/etc/group"))}
    if group not in gids:
        raise BuildError(f"{where}: {what}: {group!r} is not in the stage's /etc/group")
    return Owner(uid, gids[group])


def absolute_dest(dest: str, workdir: str) -> tuple[str, bool]:
    """The destination as an absolute path, and whether it names a directory."""
    is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
    path = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    return posixpath.normpath(path), is_dir


def created_mode(chmod: ModeChange | None) -> int:
    """The mode of the directories a COPY/ADD creates for its destination.

    BuildKit's copier makes them with an octal ``--chmod`` mode (permission bits only: Go's
    file modes carry no raw setuid bits), and 0755 without one or with a symbolic one.
    """
    if chmod is None or chmod.octal is None:
        return 0o755
    return chmod.octal & 0o777


def created_dirs(
    fs: LayeredFS | None, directory: str, owner: Owner, *, mode: int = 0o755
) -> Iterator[Entry]:
    """``directory`` and its parents that the stage (None: an empty one) lacks, owned like
    the copy.

    BuildKit creates a missing destination with the ``--chown`` owner all the way down.
    """
    path = directory
    missing: list[str] = []
    while path not in ("/", "") and (fs is None or fs.node_at(path.lstrip("/")) is None):
        missing.append(path)
        path = posixpath.dirname(path)
    for p in reversed(missing):
        yield Entry.directory(p, mode, owner.uid, owner.gid)


def parent_entries(fs: LayeredFS, target: str, *, include_self: bool) -> Iterator[Entry]:
    """The existing directories above ``target`` with their metadata (not 0755 defaults)."""
    path = target if include_self else posixpath.dirname(target)
    chain = []
    while path not in ("/", ""):
        chain.append(path)
        path = posixpath.dirname(path)
    for p in reversed(chain):
        node = fs.lookup(p, follow=False)
        if node is None or not node.is_dir:
            continue
        st = node.st
        yield Entry(
            p.lstrip("/"), EntryType.DIR, mode=st.st_mode & 0o7777,
            uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime),
        )  # fmt: skip
