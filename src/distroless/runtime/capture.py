"""Running a build step and turning what it changed into a layer.

The step runs over an overlay of the stage's unpacked layers; afterwards the overlay's
upper directory is exactly the step's change set.  It is translated to OCI form (a 0/0
character device becomes a ``.wh.NAME`` whiteout, an opaque directory gets a
``.wh..wh..opq`` marker) and written as a deterministic layer whose times are clamped to
``SOURCE_DATE_EPOCH``.  Paths the runtime itself creates as mount points are left out,
except ``/dev``, ``/proc`` and ``/sys`` on a root that had none: BuildKit's layer keeps
those as the empty directories the runtime made, and so does ours.
"""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from distroless.layers.build import LayerInfo, write_layer
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry, EntryMeta, EntryType
from distroless.layers.tarwriter import sort_key
from distroless.oci.models import ContainerConfig
from distroless.reporter import NullReporter, Reporter
from distroless.runtime.container import Stdio, sandbox
from distroless.runtime.options import Mount, Network, RunOptions, SecretFile
from distroless.runtime.runc import Runtime
from distroless.runtime.spec import KERNEL_MOUNTPOINTS, RUNTIME_MOUNTPOINTS
from distroless.runtime.unpack import DROPPED_XATTR_PREFIXES, is_opaque, is_whiteout

_NULL_REPORTER = NullReporter()

#: Extended attributes worth keeping in a layer (overlay's own and SELinux labels are not).
_KEPT_XATTR_PREFIXES = ("user.", "security.capability")


#: What the runtime mounts in a step's root: a build step has no ``/etc/hostname`` mount,
#: so one the step writes is its own.
STEP_MOUNTPOINTS = frozenset(RUNTIME_MOUNTPOINTS) - {"etc/hostname"}


@dataclass(frozen=True)
class StepConfig:
    """How the executor wants one ``RUN`` step run.

    ``config`` carries the stage's env, user and working directory; ``args`` is the full
    command (``[*shell, text]`` for the shell form, the list itself for the exec form).
    ``secrets`` and ``secret_env`` (``RUN --mount=type=secret``) never touch a disk.
    """

    config: ContainerConfig
    args: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    network: Network = "private"
    mounts: tuple[Mount, ...] = ()
    runtime: str = "runc"
    secrets: tuple[SecretFile, ...] = ()
    secret_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptureResult:
    exit_code: int
    layer: LayerInfo | None


def run_and_capture(
    lowers_bottom_up: Sequence[Path],
    step: StepConfig,
    sink: BinaryIO,
    compression: Compression = "gzip",
    *,
    state_root: Path,
    source_date_epoch: int = 0,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
    runtime: Runtime | None = None,
    reporter: Reporter = _NULL_REPORTER,
) -> CaptureResult:
    """Run ``step`` over the layer dirs; on exit 0 write its changes to ``sink`` as a layer.

    ``lowers_bottom_up`` are unpacked layer directories (from
    :class:`distroless.runtime.rootfs.LayerCache`); ``state_root`` holds the temporary
    container state (e.g. ``store.state_dir("build")``).  A non-zero exit writes nothing
    and returns ``layer=None``; the caller reports the failure.
    """
    rt = runtime or Runtime.find(step.runtime)
    options = RunOptions(
        args=step.args,
        entrypoint=(),
        env=dict(step.env),
        network=step.network,
        mounts=step.mounts,
        runtime=rt.name,
        remove=True,
        secrets=step.secrets,
        secret_env=dict(step.secret_env),
        build_step=True,
    )
    with sandbox(
        lowers_bottom_up, step.config, options, state_root, rt, what="the RUN step",
        use_overlay=True,
    ) as box:  # fmt: skip
        code = box.run(stdin if stdin is not None else subprocess.DEVNULL, stdout, stderr)
        reporter.event("run-exit", code=code, args=list(step.args))
        if code != 0:
            return CaptureResult(code, None)
        dests = [d.lstrip("/") for d in box.mount_destinations]
        excluded = set(STEP_MOUNTPOINTS) | set(dests)
        holders = {parent for d in dests for parent in ancestors(d)} - KERNEL_MOUNTPOINTS
        entries = upper_entries(
            box.upper, lowers_bottom_up, excluded, holders, stubs=KERNEL_MOUNTPOINTS
        )
        info = write_layer(entries, sink, compression, source_date_epoch=source_date_epoch)
    return CaptureResult(0, info)


def _xattrs(path: Path) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.startswith(_KEPT_XATTR_PREFIXES) and not name.startswith(DROPPED_XATTR_PREFIXES):
            value = os.getxattr(path, name, follow_symlinks=False)
            out[name] = value.decode("utf-8", "surrogateescape")
    return out


def is_excluded(rel: str, excluded: set[str]) -> bool:
    return any(rel == e or rel.startswith(e + "/") for e in excluded)


def _same_as_lower(entry: Entry, lowers: Sequence[Path]) -> bool:
    """True when the directory is new, or the topmost lower has it with equal metadata."""
    for layer in reversed(lowers):
        try:
            st = os.lstat(layer / entry.path)
        except FileNotFoundError:
            continue
        return (
            stat.S_ISDIR(st.st_mode)
            and stat.S_IMODE(st.st_mode) == entry.mode
            and (st.st_uid, st.st_gid) == (entry.uid, entry.gid)
        )
    return True


def _in_lowers(rel: str, lowers: Sequence[Path]) -> bool:
    """Whether the merged lower layers show ``rel``, a name directly below the root."""
    for layer in reversed(lowers):
        try:
            st = os.lstat(layer / rel)
        except FileNotFoundError:
            if is_opaque(layer):
                return False
            continue
        return not is_whiteout(st)
    return False


def ancestors(rel: str) -> list[str]:
    """The directories above ``rel`` (a path relative to a root), nearest first."""
    out = []
    parent = posixpath.dirname(rel)
    while parent:
        out.append(parent)
        parent = posixpath.dirname(parent)
    return out


def upper_entries(
    upper: Path,
    lowers_bottom_up: Sequence[Path] = (),
    excluded: set[str] | None = None,
    mount_parents: set[str] | None = None,
    *,
    stubs: frozenset[str] = frozenset(),
) -> list[Entry]:
    """Layer entries for an overlay upper directory, in path order.

    Directories that exist only because the runtime created a mount point inside them
    (``/etc`` for ``/etc/hosts`` in an image without ``/etc``, ``/run/secrets`` for a
    step's secret mount: ``mount_parents``) are dropped as well.  An ``excluded`` path
    among ``stubs`` that no lower layer has is kept as the bare directory the runtime
    made for its mount, without what is below it.
    """
    skip = excluded or set()
    keep = {
        rel for rel in stubs
        if os.path.isdir(upper / rel) and not os.path.islink(upper / rel)
        and not _in_lowers(rel, lowers_bottom_up)
    }  # fmt: skip
    entries: list[Entry] = []
    first_link: dict[tuple[int, int], str] = {}
    for rel, st in walk_tree(upper):
        if is_excluded(rel, skip) and rel not in keep:
            continue
        path = upper / rel
        if is_whiteout(st):
            entries.append(Entry.whiteout(rel))
            continue
        entries.append(path_entry(path, rel, st, first_link))
        if stat.S_ISDIR(st.st_mode) and is_opaque(path):
            entries.append(Entry.opaque(rel))
    return _drop_mountpoint_parents(
        entries, lowers_bottom_up, _EMPTY_CANDIDATES | (mount_parents or set())
    )


def path_entry(
    path: Path, rel: str, st: os.stat_result, first_link: dict[tuple[int, int], str]
) -> Entry:
    """The layer entry for the file at ``path`` (named ``rel`` in the layer).

    ``first_link`` maps each multiply-linked file seen so far to its first name, so a
    later name of the same inode becomes a hard link to it; callers pass one dict per
    layer and visit paths in tar order.
    """
    common: EntryMeta = {
        "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime": int(st.st_mtime),
    }
    if stat.S_ISDIR(st.st_mode):
        return Entry(rel, EntryType.DIR, xattrs=_xattrs(path), **common)
    if stat.S_ISLNK(st.st_mode):
        return Entry(rel, EntryType.SYMLINK, linkname=os.readlink(path), **common)
    if stat.S_ISREG(st.st_mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in first_link:
            return Entry(rel, EntryType.HARDLINK, linkname=first_link[key], **common)
        first_link[key] = rel
        return Entry(
            rel, EntryType.FILE, size=st.st_size, xattrs=_xattrs(path),
            opener=_opener(path), **common,
        )  # fmt: skip
    kind = (
        EntryType.CHAR if stat.S_ISCHR(st.st_mode)
        else EntryType.BLOCK if stat.S_ISBLK(st.st_mode)
        else EntryType.FIFO
    )  # fmt: skip
    return Entry(rel, kind, devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev), **common)


def _opener(path: Path) -> Callable[[], BinaryIO]:
    def open_it() -> BinaryIO:
        return path.open("rb")

    return open_it


def _drop_mountpoint_parents(
    entries: list[Entry], lowers: Sequence[Path], candidates: frozenset[str] | set[str]
) -> list[Entry]:
    """Remove directories that were copied up or created only to hold a mount point.

    ``/etc`` lands in the upper directory when the runtime creates ``/etc/hosts`` there;
    unless the step changed something else inside it, it is not part of the step's change.
    Deepest first, so ``run`` goes too once ``run/secrets`` went and nothing else is in it.
    """
    children: dict[str, int] = {}
    for e in entries:
        parent = posixpath.dirname(e.path)
        if parent:
            children[parent] = children.get(parent, 0) + 1
    dropped: set[str] = set()
    for e in sorted(entries, key=lambda e: e.path.count("/"), reverse=True):
        if (
            e.type is EntryType.DIR
            and not children.get(e.path)
            and e.path in candidates
            and _same_as_lower(e, lowers)
        ):
            dropped.add(e.path)
            parent = posixpath.dirname(e.path)
            if parent:
                children[parent] -= 1
    return [e for e in entries if e.path not in dropped]


#: Directories that can appear in the upper dir only to hold runtime mount points.
_EMPTY_CANDIDATES = frozenset(
    posixpath.dirname(p) for p in RUNTIME_MOUNTPOINTS if posixpath.dirname(p)
)


def walk_tree(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every path under ``root`` (relative, in tar order) with its lstat."""
    found: list[tuple[str, os.stat_result]] = []
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        for name in os.listdir(root / rel_dir):
            rel = posixpath.join(rel_dir, name) if rel_dir else name
            st = os.lstat(root / rel)
            found.append((rel, st))
            if stat.S_ISDIR(st.st_mode):
                pending.append(rel)
    found.sort(key=lambda item: sort_key(item[0]))
    return found
