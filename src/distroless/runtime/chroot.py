"""RUN steps without namespaces: ``--isolation chroot``, for builds inside a container.

A container started with the Docker engine's defaults (no ``--privileged``, its default
capabilities and seccomp profile) may not create namespaces or mount anything, so neither
runc nor an overlay can run a step there.  What it may do is ``chroot`` (``CAP_SYS_CHROOT``),
``mknod`` and ``chown``.  This runner uses only those: it copies the stage's merged layers
into a private directory, runs the step chrooted into it, and writes the difference
between the tree before and after as the layer, the same layer an overlay's upper
directory gives for the same step.

How a change is seen without an overlay: every path's inode and ``ctime`` are recorded
before the step.  ``ctime`` cannot be set by a program and moves on every write, chmod,
chown, link or rename; the runner waits until the kernel's clock has moved past the newest
recorded ``ctime`` before the step starts, so even a write in the same clock tick as the
copy is seen.  A directory counts as changed when its mode, owner or mtime changed (its
ctime moves whenever a child is touched), or when something below it changed; one that was
removed and made again (a new inode), or made where a file was, hides what was below that
name, as an opaque directory.

What it does not isolate, as kaniko's model does not: the step shares the machine's (the
container's) network, process table, hostname and users; it sees ``/dev`` as a few device
nodes and no ``/proc`` or ``/sys``; and a root step could leave a chroot.  The container
around the build is the boundary, so use it for Dockerfiles you trust.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from distroless.errors import SandboxError
from distroless.layers.build import write_layer
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry
from distroless.layers.tarwriter import sort_key
from distroless.runtime.capture import (
    STEP_MOUNTPOINTS,
    CaptureResult,
    StepConfig,
    ancestors,
    is_excluded,
    path_entry,
    walk_tree,
)
from distroless.runtime.container import (
    Stdio,
    check_executable,
    mount_destination,
    secure_join,
)
from distroless.runtime.network import host_resolv_conf
from distroless.runtime.options import BUILD_HOSTNAME
from distroless.runtime.rootfs import merge_copy, remove_any, with_device_layers
from distroless.runtime.spec import KERNEL_MOUNTPOINTS, build_hosts_file, process_env
from distroless.runtime.users import ResolvedUser, resolve_user_in

#: The device nodes a step's ``/dev`` gets, as runc gives them: name, major, minor.
_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
            ("urandom", 1, 9), ("tty", 5, 0))  # fmt: skip
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
              ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
              ("ptmx", "pts/ptmx"))  # fmt: skip
#: ...and the directories runc mounts its own file systems on
_DEV_DIRS = ("pts", "shm", "mqueue")
_ETC_FILES = ("etc/hosts", "etc/resolv.conf")


class _Seen(NamedTuple):
    """What the before/after comparison needs of one path."""

    kind: int  # stat.S_IFMT
    mode: int
    uid: int
    gid: int
    ino: int
    ctime_ns: int
    mtime_ns: int


def _seen(st: os.stat_result) -> _Seen:
    return _Seen(stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                 st.st_ino, st.st_ctime_ns, st.st_mtime_ns)  # fmt: skip


def snapshot(root: Path) -> dict[str, _Seen]:
    return {rel: _seen(st) for rel, st in walk_tree(root)}


@contextlib.contextmanager
def holding_directories(root: Path, before: Mapping[str, _Seen]) -> Iterator[None]:
    """Keep every directory of ``before`` open while the step runs.

    A file system hands a freed inode number to the next file it makes, so a step's
    ``rm -r /d && mkdir /d`` could get ``/d``'s old number back and pass for the same
    directory; while a descriptor holds the old one its number stays taken, and the new
    directory is seen as made anew (opaque, as overlayfs marks it).  Past the descriptor
    limit the rest are not held: such a step's deletions are then written as whiteouts,
    the same files, a different layer.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held: list[int] = []
    try:
        for rel, seen in before.items():
            if seen.kind != stat.S_IFDIR:
                continue
            try:
                held.append(os.open(root / rel, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW))
            except OSError:
                break  # out of descriptors
        yield
    finally:
        for fd in held:
            os.close(fd)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def wait_past(root: Path, newest_ctime_ns: int) -> None:
    """Return once a change made now gets a ctime later than ``newest_ctime_ns``.

    The kernel stamps ctimes from a coarse clock (a tick of a few milliseconds), so a
    write right after the copy could carry the copy's own ctime; the loop touches one
    probe file until its ctime has moved past, which takes at most one tick.
    """
    fd, probe = tempfile.mkstemp(dir=root.parent, prefix=".tick-")
    try:
        while os.fstat(fd).st_ctime_ns <= newest_ctime_ns:
            os.fchmod(fd, 0o600 if os.fstat(fd).st_mode & 0o077 else 0o644)
    finally:
        os.close(fd)
        os.unlink(probe)


@dataclass
class _Changes:
    changed: set[str]
    deleted: set[str]
    opaque: set[str]


def _parent(rel: str) -> str:
    return posixpath.dirname(rel)


def tree_changes(before: Mapping[str, _Seen], after: Mapping[str, _Seen]) -> _Changes:
    """What a step changed, as the paths an overlay's upper directory would hold."""
    changed: set[str] = set()
    opaque: set[str] = set()
    for rel, now in after.items():
        old = before.get(rel)
        if old is None:
            changed.add(rel)
        elif now.kind == stat.S_IFDIR:
            if old.kind != stat.S_IFDIR or now.ino != old.ino:  # made where a name was
                opaque.add(rel)
                changed.add(rel)
            elif (now.mode, now.uid, now.gid, now.mtime_ns) != (
                old.mode, old.uid, old.gid, old.mtime_ns,
            ):  # fmt: skip
                changed.add(rel)
        elif (now.kind, now.ino, now.ctime_ns) != (old.kind, old.ino, old.ctime_ns):
            changed.add(rel)
    for rel in after:  # all of a directory made anew is new, moved-in names included
        if any(parent in opaque for parent in ancestors(rel)):
            changed.add(rel)
    deleted = set()
    for rel in before:
        if rel in after:
            continue
        parent = _parent(rel)
        if parent and (parent not in after or parent in opaque or parent not in before):
            continue  # hidden by a whiteout or an opaque directory above it
        if parent and after[parent].kind != stat.S_IFDIR:
            continue
        deleted.add(rel)
    return _Changes(changed, deleted, opaque)


def change_entries(
    root: Path,
    before: Mapping[str, _Seen],
    excluded: set[str],
    kept_stubs: set[str],
) -> list[Entry]:
    """The layer entries for what changed in ``root`` since ``before``, in tar order.

    ``excluded`` paths (the step's mount points and what is below them) are left out,
    except ``kept_stubs``: the kernel mount points the runner made for a root that had
    none, kept as the bare directories a runtime leaves (see :mod:`.capture`).
    """
    stats = dict(walk_tree(root))
    after = {rel: _seen(st) for rel, st in stats.items()}
    found = tree_changes(before, after)

    def wanted(rel: str) -> bool:
        return not is_excluded(rel, excluded) or rel in kept_stubs

    changed = {rel for rel in found.changed if wanted(rel)} | (kept_stubs & set(after))
    deleted = {rel for rel in found.deleted if wanted(rel)}
    for rel in list(changed | deleted):
        parent = _parent(rel)
        while parent and parent not in changed:
            changed.add(parent)
            parent = _parent(parent)
    entries: list[Entry] = []
    first_link: dict[tuple[int, int], str] = {}
    for rel in sorted(changed | deleted, key=sort_key):
        if rel in deleted:
            entries.append(Entry.whiteout(rel))
            continue
        entries.append(path_entry(root / rel, rel, stats[rel], first_link))
        if rel in found.opaque:
            entries.append(Entry.opaque(rel))
    return entries


@dataclass
class _Prepared:
    """What the runner put into the root for the step, to take out again afterwards."""

    made: list[str]  # paths created only for the step, deepest last
    restored: dict[str, bytes]  # files replaced for the step, with their bytes
    touched_dirs: dict[str, os.stat_result]  # parents whose mtime the set-up moved
    kept_stubs: set[str]
    emptied: list[str]  # the image's empty directories a mount's copy was put in
    copies: list[str]  # the copies of mounts and secrets, removed whole


def _keep_parent_time(root: Path, rel: str, prepared: _Prepared) -> None:
    parent = _parent(rel)
    host = root / parent if parent else root
    if parent not in prepared.touched_dirs and parent not in prepared.made:
        with contextlib.suppress(OSError):
            prepared.touched_dirs[parent] = os.lstat(host)


def _make_dirs(root: Path, rel: str, prepared: _Prepared) -> None:
    """Create ``rel`` and its missing parents (0755), remembering what was made."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        sub = "/".join(parts[:depth])
        host = root / sub
        if os.path.lexists(host):
            continue
        _keep_parent_time(root, sub, prepared)
        os.mkdir(host, 0o755)
        os.chmod(host, 0o755)  # noqa: S103 (the runtime's mode for the dirs it makes)
        prepared.made.append(sub)


def _prepare(root: Path, before: Mapping[str, _Seen], step: StepConfig) -> _Prepared:
    prepared = _Prepared([], {}, {}, set(), [], [])
    for stub in sorted(KERNEL_MOUNTPOINTS):
        if stub not in before:
            os.mkdir(root / stub, 0o755)
            os.chmod(root / stub, 0o755)  # noqa: S103 (what runc makes)
            prepared.kept_stubs.add(stub)
    dev = root / "dev"
    if dev.is_dir() and not dev.is_symlink():
        for name, major, minor in _DEVICES:
            with contextlib.suppress(OSError):  # a user namespace may not make devices
                os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
                os.chmod(dev / name, 0o666)  # noqa: S103 (a device every user may use)
        for name in _DEV_DIRS:
            with contextlib.suppress(OSError):
                os.mkdir(dev / name, 0o755)
        for name, target in _DEV_LINKS:
            with contextlib.suppress(OSError):
                os.symlink(target, dev / name)
    etc_data = {
        "etc/hosts": build_hosts_file(BUILD_HOSTNAME).encode(),
        "etc/resolv.conf": host_resolv_conf(),
    }
    for rel, data in etc_data.items():
        host = secure_join(root, "/" + rel, follow_last=False)
        inside = host.relative_to(root).as_posix()
        if os.path.lexists(host):
            if not host.is_file() or host.is_symlink():
                continue  # the image's own link or directory: left as it is
            prepared.restored[inside] = host.read_bytes()
        else:
            _make_dirs(root, _parent(inside), prepared)
            _keep_parent_time(root, inside, prepared)
            prepared.made.append(inside)
        host.write_bytes(data)
    for mount in step.mounts:
        if not mount.readonly:
            raise SandboxError(
                f"a writable mount at {mount.destination} (a cache, tmpfs or rw bind mount) "
                "needs a mount namespace, which --isolation chroot has not"
            )
        inside = mount_destination(root, mount.destination).lstrip("/")
        host = root / inside
        if os.path.lexists(host) and not (host.is_dir() and not any(host.iterdir())):
            raise SandboxError(
                f"--isolation chroot shows a mount as a copy, and {mount.destination} "
                "already holds files in this image"
            )
        _make_dirs(root, _parent(inside), prepared)
        if os.path.lexists(host):
            prepared.touched_dirs.setdefault(inside, os.lstat(host))
            prepared.emptied.append(inside)
        else:
            _keep_parent_time(root, inside, prepared)
            prepared.copies.append(inside)
        if mount.source.is_dir():
            shutil.copytree(mount.source, host, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(mount.source, host)
    for secret in step.secrets:
        inside = mount_destination(root, secret.destination).lstrip("/")
        host = root / inside
        if os.path.lexists(host):
            raise SandboxError(f"the secret's target {secret.destination} exists in this image")
        _make_dirs(root, _parent(inside), prepared)
        _keep_parent_time(root, inside, prepared)
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secret.data)
        os.chown(host, secret.uid, secret.gid)
        os.chmod(host, secret.mode)
        prepared.copies.append(inside)
    return prepared


def _undo(root: Path, prepared: _Prepared) -> None:
    """Take out what :func:`_prepare` put in, so only the step's own changes remain."""
    for rel, data in prepared.restored.items():
        (root / rel).write_bytes(data)
    for rel in prepared.emptied:
        for item in os.scandir(root / rel):
            remove_any(Path(item.path))
    for rel in prepared.copies:
        remove_any(root / rel)
    for rel in reversed(prepared.made):  # deepest first
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):  # kept when the step wrote into it
                os.rmdir(path)
        else:
            remove_any(path)
    for rel, st in sorted(prepared.touched_dirs.items(), key=lambda i: -i[0].count("/")):
        with contextlib.suppress(OSError):
            os.utime(root / rel if rel else root, ns=(st.st_atime_ns, st.st_mtime_ns))


def _enter(root: Path, cwd: str, user: ResolvedUser, report_fd: int) -> None:
    """In the step's child, before exec: its root, directory and ids.

    What fails is written to ``report_fd`` first: the parent sees only that the child
    failed before exec, and a missing ``CAP_SYS_CHROOT`` must not read as that."""
    doing = "chroot into the step's root"
    try:
        os.chroot(root)
        doing = f"enter the working directory {cwd}"
        os.chdir(cwd)
        doing = f"take the ids {user.uid}:{user.gid}"
        os.setgroups(list(user.additional_gids))
        os.setgid(user.gid)
        os.setuid(user.uid)
        os.umask(0o022)
    except OSError as exc:
        os.write(report_fd, f"cannot {doing}: {exc.strerror}".encode())
        raise


def _run(root: Path, step: StepConfig, stdout: Stdio, stderr: Stdio) -> int:
    user = resolve_user_in(root, step.config.user or "0")
    cwd = posixpath.normpath(step.config.working_dir or "/")
    host_cwd = secure_join(root, cwd)
    if not host_cwd.is_dir():
        host_cwd.mkdir(parents=True, mode=0o755)
    env = process_env(step.config.env, {**step.env, **step.secret_env}, hostname=None,
                      home=user.home)  # fmt: skip
    check_executable(root, step.args, env, cwd)
    rel_cwd = host_cwd.relative_to(root).as_posix()
    inside_cwd = "/" if rel_cwd == "." else "/" + rel_cwd
    report_r, report_w = os.pipe()
    try:
        try:
            child = subprocess.Popen(
                list(step.args),
                env=dict(item.split("=", 1) for item in env),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                preexec_fn=lambda: _enter(root, inside_cwd, user, report_w),  # noqa: PLW1509
                start_new_session=True,
                close_fds=True,
            )
        except subprocess.SubprocessError:
            os.close(report_w)
            report_w = -1
            reason = os.read(report_r, 4096).decode(errors="replace") or "it failed to start"
            raise SandboxError(f"--isolation chroot: {reason}") from None
    finally:
        os.close(report_r)
        if report_w >= 0:
            os.close(report_w)
    try:
        code = child.wait()
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # what the step left running ends with it
    return 128 - code if code < 0 else code


@contextlib.contextmanager
def _private_root(scratch: Path) -> Iterator[Path]:
    holder = Path(tempfile.mkdtemp(dir=scratch, prefix="chroot-"))
    try:
        root = holder / "root"
        root.mkdir(mode=0o755)
        yield root
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def run_in_chroot(
    lowers_bottom_up: Sequence[Path],
    step: StepConfig,
    sink: BinaryIO,
    compression: Compression,
    *,
    scratch: Path,
    source_date_epoch: int,
    stdout: Stdio,
    stderr: Stdio,
) -> CaptureResult:
    """Run ``step`` chrooted into a copy of the layers; on exit 0 write its changes to
    ``sink`` as a layer, with what :func:`.capture.run_and_capture` would leave out."""
    if step.network == "none":
        raise SandboxError(
            "RUN --network=none needs a network namespace, which --isolation chroot has not"
        )
    with _private_root(scratch) as root:
        merge_copy(with_device_layers(lowers_bottom_up, root.parent), root)
        before = snapshot(root)
        wait_past(root, max((s.ctime_ns for s in before.values()), default=0))
        prepared = _prepare(root, before, step)
        try:
            with holding_directories(root, before):
                code = _run(root, step, stdout, stderr)
        finally:
            _undo(root, prepared)
        if code != 0:
            return CaptureResult(code, None)
        excluded = set(STEP_MOUNTPOINTS) | set(_ETC_FILES)
        entries = change_entries(root, before, excluded, prepared.kept_stubs)
        info = write_layer(entries, sink, compression, source_date_epoch=source_date_epoch)
    return CaptureResult(0, info)
