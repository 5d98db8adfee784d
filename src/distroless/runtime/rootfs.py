"""Root file systems for containers: a cache of unpacked layers and overlay mounts over it.

Each layer is unpacked once, keyed by its blob digest, into ``state/layers/<hex>`` (into
a temporary directory first, renamed when complete, so a killed unpack is never reused),
with ``<hex>.index`` beside it: the record of every path it holds
(:mod:`distroless.runtime.treeindex`), which ``fsck`` checks and whose header lists the
layer's device nodes.  A container's root is an overlayfs mount of those directories with
a private upper and work directory; where overlayfs is unavailable the layers are merged
by copying instead.

The cache holds what images hold (set-uid binaries, files with capabilities), so it is
private to its owner (mode 0700, checked each time it is opened), whatever the modes
above it; and it never holds a device node: those are made for each container, in its
own private state directory, as one more lower layer right above their own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import subprocess
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from distroless.errors import SandboxError, StoreError
from distroless.layers.apply import disk_error
from distroless.oci.digest import hex_of
from distroless.reporter import NullReporter, Reporter
from distroless.runtime import userns
from distroless.runtime.treeindex import DeviceNode, RecordError, read_devices, verify_tree
from distroless.runtime.treeindex import write_index as write_tree_index
from distroless.runtime.unpack import (
    UnpackedLayer,
    is_opaque,
    is_whiteout,
    remove_tree,
    unpack_layer,
)
from distroless.store.atomic import publish_dir, publish_file

_NULL_REPORTER = NullReporter()

#: overlayfs refuses mount options longer than a page; keep a margin.
_MAX_MOUNT_OPTIONS = 3800
#: the most lower layers one overlayfs mount stacks (the kernel's OVL_MAX_STACK)
MAX_OVERLAY_LAYERS = 500
#: the directory, beside a container's root, of the short names its layers are mounted by
LOWER_LINKS = "lowers"
INDEX_SUFFIX = ".index"
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = "lock"
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
_HEX_TOKEN = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


class BlobSource(Protocol):
    def open_blob(self, digest: str) -> BinaryIO: ...


@dataclass(frozen=True)
class CachePruneResult:
    layers: int
    bytes: int


def _make_private(root: Path) -> None:
    """Create ``root`` (mode 0700) or make an existing one private; refuse a foreign one."""
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = os.lstat(root)
    except OSError as exc:
        raise StoreError(f"cannot create the layer cache {root}: {exc.strerror or exc}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"the layer cache {root} is not a directory; remove it and retry")
    if st.st_uid != os.geteuid():
        raise StoreError(
            f"the layer cache {root} belongs to uid {st.st_uid}, not to the user running "
            f"distroless (uid {os.geteuid()}); remove it and retry"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        try:
            os.chmod(root, 0o700)
        except OSError as exc:
            raise StoreError(
                f"cannot make the layer cache {root} private: {exc.strerror or exc}"
            ) from exc


def _tree_bytes(path: Path) -> int:
    total = 0
    with contextlib.suppress(OSError):
        total += os.lstat(path).st_size
    if path.is_dir() and not path.is_symlink():
        for base, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(base, name)).st_size
    return total


def mounted_layers(under: Path | None = None) -> set[str]:
    """Hex digests that name a lower directory of an overlay mounted on this host.

    Their blobs may be gone (an image removed while its container runs), yet the running
    container still reads them; prune leaves them for a later run.  With ``under`` (a
    store's state directory as the layer cache holds it: absolute and free of links, as
    mountinfo writes mount points), only overlays mounted below it count: another store's
    container holds that store's copy of a layer, not this one.

    An overlay mounted through short names (:func:`mount_overlay`'s links, beside its mount
    point) holds the layers those links name.
    """
    prefix = os.fspath(under) if under is not None else None
    found: set[str] = set()
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            head, sep, tail = line.partition(" - ")
            if not (sep and tail.startswith("overlay ")):
                continue
            fields = head.split(" ")
            if len(fields) <= 4:
                continue
            point = _MOUNTINFO_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
            if prefix is not None and point != prefix and not point.startswith(prefix + "/"):
                continue
            found.update(_HEX_TOKEN.findall(tail))
            found.update(_linked_layers(Path(point).parent / LOWER_LINKS))
    return found


def _linked_layers(links: Path) -> set[str]:
    """Hex digests the short-name links in ``links`` point at (none if it is not ours)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        if not stat.S_ISDIR(os.lstat(links).st_mode):
            return found
        for entry in os.scandir(links):
            if entry.is_symlink():
                found.update(_HEX_TOKEN.findall(os.readlink(entry.path)))
    return found


#: mountinfo writes a space, tab, newline or backslash in a path as a three-digit octal escape
_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")


class StreamedUnpack:
    """See :meth:`LayerCache.unpack_while_written`: ``write`` the layer, then ``publish``
    or ``discard``."""

    def __init__(self, cache: LayerCache) -> None:
        self._cache = cache
        self._tmp = cache._temp_tree("streamed")
        read_fd, write_fd = os.pipe()
        self._pipe: BinaryIO | None = os.fdopen(write_fd, "wb", buffering=1 << 16)
        self._reader = os.fdopen(read_fd, "rb", buffering=1 << 16)
        self._unpacked: UnpackedLayer | None = None
        self._failed = False
        self._settled = False
        self._thread = threading.Thread(target=self._unpack, name="layer-unpack", daemon=True)
        self._thread.start()

    def _unpack(self) -> None:
        try:
            with self._cache._lock(exclusive=False):
                self._unpacked = unpack_layer(self._reader, self._tmp, what="layer")
        except Exception:  # the layer is then unpacked from its blob on first use
            self._failed = True
        finally:
            with self._reader:  # the writer never blocks on a reader that stopped
                while self._reader.read(1 << 16):
                    pass

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._pipe is not None:
            try:
                self._pipe.write(data)
            except OSError:
                self._close_pipe()
                self._failed = True
        return len(data)

    def _close_pipe(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()

    def _finish(self) -> UnpackedLayer | None:
        self._close_pipe()
        self._thread.join()
        return None if self._failed else self._unpacked

    def publish(self, digest: str) -> None:
        """File the tree under ``digest``, the digest of the bytes written."""
        if self._settled:
            return
        self._settled = True
        unpacked = self._finish()
        if unpacked is None or self._cache._complete(
            self._cache.path_for(digest), self._cache.index_for(digest)
        ):
            remove_tree(self._tmp)
            return
        try:
            with self._cache._lock(exclusive=False):
                self._cache._publish(digest, self._tmp, unpacked)
        except OSError:
            remove_tree(self._tmp)  # _publish cleaned up; the blob is unpacked on first use

    def discard(self) -> None:
        """Drop the tree (nothing, once published)."""
        if self._settled:
            return
        self._settled = True
        self._finish()
        remove_tree(self._tmp)


class LayerCache:
    """Unpacked layers under ``root`` (normally ``store.state_dir("layers")``)."""

    def __init__(self, root: Path) -> None:
        # the host's own directory (trusted), made absolute as the Store makes its root,
        # so it compares with the mount points the kernel lists
        self.root = Path(root).resolve()
        _make_private(self.root)

    def path_for(self, digest: str) -> Path:
        return self.root / hex_of(digest)

    def index_for(self, digest: str) -> Path:
        return self.root / (hex_of(digest) + INDEX_SUFFIX)

    @contextlib.contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        """Shared by unpacks, exclusive for prune and fsck, which remove what they find."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.root / _LOCK_NAME, flags, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot lock the layer cache {self.root}: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _complete(tree: Path, index: Path) -> bool:
        try:
            return stat.S_ISDIR(os.lstat(tree).st_mode) and stat.S_ISREG(os.lstat(index).st_mode)
        except FileNotFoundError:
            return False

    def ensure(self, digest: str, blobs: BlobSource, reporter: Reporter = _NULL_REPORTER) -> Path:
        """The unpacked directory of layer ``digest``, unpacking it on first use."""
        final, index = self.path_for(digest), self.index_for(digest)
        if self._complete(final, index):
            return final
        try:
            with self._lock(exclusive=False):
                if not self._complete(final, index):
                    self._unpack(digest, blobs, reporter)
        except OSError as exc:
            where = f"layer {digest} into {self.root}"
            raise disk_error(exc, where) or StoreError(
                f"cannot unpack {where}: {exc.strerror or exc}"
            ) from exc
        return final

    def _temp_tree(self, label: str) -> Path:
        tmp = self.root / f"{_TMP_PREFIX}{label[:12]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(mode=0o700)
        return tmp

    def _publish(self, digest: str, tmp: Path, unpacked: UnpackedLayer) -> None:
        """Make the unpacked ``tmp`` the tree of ``digest``, its record first."""
        final, index = self.path_for(digest), self.index_for(digest)
        tmp_index = tmp.with_name(tmp.name + INDEX_SUFFIX)
        try:
            if os.path.lexists(final) and not self._complete(final, index):
                remove_tree(final)  # no record beside it: left by an older version, or damaged
            write_tree_index(tmp, tmp_index, digest, unpacked.devices, unpacked.digests)
            # The record first: a directory without one is never taken for complete.  Two
            # unpacks of one blob write the same record, so either may win the rename.
            publish_file(tmp_index, index)
            if not publish_dir(tmp, final):
                remove_tree(tmp)  # another process won the race: use its copy
        except BaseException:
            remove_tree(tmp)
            remove_tree(tmp_index)
            raise

    def _unpack(self, digest: str, blobs: BlobSource, reporter: Reporter) -> None:
        tmp = self._temp_tree(hex_of(digest))
        try:
            reporter.event("layer-unpack", digest=digest)
            with blobs.open_blob(digest) as fh:
                unpacked = unpack_layer(fh, tmp, what=f"layer {digest}")
        except BaseException:
            remove_tree(tmp)
            raise
        self._publish(digest, tmp, unpacked)

    def unpack_while_written(self) -> StreamedUnpack:
        """A sink that unpacks the layer written to it, on a thread of its own, as it comes.

        For a layer whose tree is wanted right after it is written (a build stage's
        ``RUN`` layer, which ``COPY --from`` reads next): the tree is made from the very
        bytes that go into the blob, by the same unpacker :meth:`ensure` uses, while the
        writer is still busy.  :meth:`StreamedUnpack.publish` files it under the blob's
        digest once that is known; anything that goes wrong only leaves the layer to be
        unpacked from its blob on first use, as any other.
        """
        return StreamedUnpack(self)

    def ensure_all(
        self, digests: Sequence[str], blobs: BlobSource, reporter: Reporter = _NULL_REPORTER
    ) -> list[Path]:
        """Unpacked directories of ``digests``, in the same (bottom-up) order."""
        return [self.ensure(d, blobs, reporter) for d in digests]

    def prune(self, keep: Callable[[str], bool]) -> CachePruneResult:
        """Remove unpacked layers that are not kept, and leftovers of killed unpacks.

        ``keep`` says which layer digests stay (``store.has_blob`` after the store's own
        prune: a layer whose blob is gone or was unreferenced goes with it).  A layer that
        a mounted overlay still uses stays until a later prune.
        """
        layers = freed = 0
        with self._lock(exclusive=True):
            in_use = mounted_layers(self.root.parent)
            for child in sorted(self.root.iterdir()):
                if not self._prunable(child.name, keep, in_use):
                    continue
                freed += _tree_bytes(child)
                if child.is_dir() and not child.is_symlink():
                    layers += 1
                remove_tree(child)
        return CachePruneResult(layers, freed)

    def _prunable(self, name: str, keep: Callable[[str], bool], in_use: set[str]) -> bool:
        if name.startswith(_TMP_PREFIX):
            return True  # no unpack holds the lock now: whatever is left here is dead
        hex_part = name.removesuffix(INDEX_SUFFIX)
        if not _HEX_RE.match(hex_part) or hex_part in in_use:
            return False  # not ours (the lock), or read by a running container
        complete = self._complete(self.root / hex_part, self.root / (hex_part + INDEX_SUFFIX))
        return not (complete and keep(f"sha256:{hex_part}"))

    def verify(self) -> list[str]:
        """Problems found in the unpacked layers; each damaged layer is removed.

        A layer differs from its record when someone changed the cache: it is no longer
        what its verified blob unpacks to, so it goes, and the next run unpacks it again.
        """
        problems: list[str] = []
        with self._lock(exclusive=True):
            for tree in sorted(self.root.iterdir()):
                if not _HEX_RE.match(tree.name) or tree.is_symlink() or not tree.is_dir():
                    continue
                index = self.root / (tree.name + INDEX_SUFFIX)
                problem: str | None = "has no record of its content"
                if index.is_file():
                    difference = verify_tree(tree, index)
                    problem = (
                        None if difference is None else f"differs from its record: {difference}"
                    )
                if problem is None:
                    continue
                remove_tree(tree)
                remove_tree(index)
                problems.append(
                    f"unpacked layer sha256:{tree.name} {problem}; removed it, the next run "
                    "unpacks it again"
                )
        return problems


def layer_devices(layer: Path) -> list[DeviceNode]:
    """The device nodes an unpacked layer of the cache holds places for (none elsewhere)."""
    index = layer.with_name(layer.name + INDEX_SUFFIX)
    if not index.is_file():
        return []
    try:
        return read_devices(index)
    except (OSError, RecordError) as exc:
        raise SandboxError(
            f"the record of unpacked layer {layer.name} cannot be read ({exc}); run distroless fsck"
        ) from exc


def _safe_rel(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def make_device_layer(layer: Path, nodes: Sequence[DeviceNode], holder: Path) -> None:
    """Create ``nodes`` under ``holder``, a lower directory to stack right above ``layer``.

    Their parent directories copy the metadata ``layer`` gives them, so stacking
    ``holder`` changes nothing but the nodes themselves.
    """
    holder.mkdir(parents=True, mode=0o700)
    parents: dict[str, os.stat_result] = {}
    for node in nodes:
        if not _safe_rel(node.path):
            continue
        parts = node.path.split("/")
        usable = True
        for depth in range(1, len(parts)):
            rel = "/".join(parts[:depth])
            if rel in parents:
                continue
            try:
                st = os.lstat(layer / rel)  # every shorter prefix is a real directory
            except FileNotFoundError:
                usable = False
                break
            if not stat.S_ISDIR(st.st_mode):
                usable = False
                break
            os.mkdir(holder / rel, 0o700)
            parents[rel] = st
        if not usable:
            continue
        path = holder / node.path
        try:
            os.mknod(path, node.file_type | 0o600, os.makedev(node.major, node.minor))
        except PermissionError:
            continue  # not root on the host: the runtime could not either
        os.lchown(path, node.uid, node.gid)
        os.chmod(path, node.mode)
        os.utime(path, (node.mtime, node.mtime), follow_symlinks=False)
    for rel in sorted(parents, reverse=True):  # children before their parents
        st = parents[rel]
        os.lchown(holder / rel, st.st_uid, st.st_gid)
        os.chmod(holder / rel, stat.S_IMODE(st.st_mode))
        os.utime(holder / rel, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def with_device_layers(lowers_bottom_up: Sequence[Path], state: Path) -> list[Path]:
    """``lowers_bottom_up`` with a private device layer above each layer that has nodes."""
    stack: list[Path] = []
    for position, layer in enumerate(lowers_bottom_up):
        stack.append(layer)
        nodes = layer_devices(layer)
        if nodes:
            holder = state / "devices" / str(position)
            make_device_layer(layer, nodes, holder)
            stack.append(holder)
    return stack


def overlay_supported() -> bool:
    try:
        with open("/proc/filesystems", encoding="ascii") as fh:
            return any(line.split()[-1] == "overlay" for line in fh if line.strip())
    except OSError:
        return False


def mount_overlay(
    lowers_bottom_up: Sequence[Path],
    upper: Path,
    work: Path,
    target: Path,
    *,
    links: Path | None = None,
) -> None:
    """Mount an overlay of ``lowers_bottom_up`` with ``upper`` as its writable layer.

    Lower directories in the most common parent (the layer cache) are passed relative to
    it, which keeps the option string short; the few others (a container's device layers)
    by their absolute path.  When even that exceeds what one mount takes (a page: about 55
    layers named by their digests), the layers are named through ``links``, a new
    directory of symbolic links ``0``, ``1``, ... to them, which overlayfs follows once,
    when it mounts: one overlay still holds every layer (up to the kernel's
    :data:`MAX_OVERLAY_LAYERS`), nothing is copied, and :func:`mounted_layers` reads the
    links to know which layers the mount holds.
    """
    lowers = list(reversed(lowers_bottom_up))  # overlayfs lists the top layer first
    if len(lowers) > MAX_OVERLAY_LAYERS:
        raise SandboxError(
            f"too many layers ({len(lowers)}) for one overlay mount: overlayfs stacks at "
            f"most {MAX_OVERLAY_LAYERS}"
        )
    cwd = Counter(p.parent for p in lowers).most_common(1)[0][0]
    lower_opt = ":".join(p.name if p.parent == cwd else os.path.abspath(p) for p in lowers)
    # in a user namespace overlayfs keeps its markers in user.overlay.* (see unpack.py)
    extra = ",userxattr" if userns.rootless() else ""
    options = f"lowerdir={lower_opt},upperdir={upper},workdir={work}{extra}"
    if len(options) > _MAX_MOUNT_OPTIONS and links is not None:
        links.mkdir(mode=0o700)
        for index, layer in enumerate(lowers):
            os.symlink(os.path.abspath(layer), links / str(index))
        cwd = links
        lower_opt = ":".join(str(index) for index in range(len(lowers)))
        options = f"lowerdir={lower_opt},upperdir={upper},workdir={work}{extra}"
    if len(options) > _MAX_MOUNT_OPTIONS:
        raise SandboxError(f"too many layers ({len(lowers)}) for one overlay mount")
    try:
        proc = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise SandboxError(
            "cannot mount the overlay root: the mount program is not installed "
            "(Debian package mount)"
        ) from None
    if proc.returncode != 0:
        raise SandboxError(f"cannot mount the overlay root at {target}: {proc.stderr.strip()}")


def is_mountpoint(path: Path) -> bool:
    """True when ``path`` is listed as a mount point in this process's mount table.

    ``path`` is one of our own state directories, under the store root that
    :class:`~distroless.store.Store` made absolute and link-free.
    """
    wanted = os.path.abspath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) > 4 and _unescape(fields[4]) == wanted:
                return True
    return False


def _unescape(field: str) -> str:
    return field.encode().decode("unicode_escape") if "\\" in field else field


def unmount(target: Path) -> None:
    """Unmount ``target`` if mounted, lazily when it is still busy."""
    if not is_mountpoint(target):
        return
    proc = subprocess.run(["umount", str(target)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lazy = subprocess.run(
            ["umount", "-l", str(target)], capture_output=True, text=True, check=False
        )
        if lazy.returncode != 0:
            raise SandboxError(f"cannot unmount {target}: {lazy.stderr.strip()}")


def merge_copy(lowers_bottom_up: Sequence[Path], target: Path) -> None:
    """Merge the layer directories into ``target`` by copying: the no-overlayfs fallback.

    Overlay whiteouts (0/0 character devices) delete what lower layers put there, and an
    opaque directory hides the lower directory's content, as the overlay would.
    """
    for layer in lowers_bottom_up:
        _merge_dir(layer, target)


def remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _merge_dir(src: Path, dst: Path) -> None:
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        s = Path(entry.path)
        d = dst / entry.name
        st = entry.stat(follow_symlinks=False)
        if is_whiteout(st):
            remove_any(d)
            continue
        if stat.S_ISDIR(st.st_mode):
            if is_opaque(s) or (os.path.lexists(d) and not d.is_dir()) or d.is_symlink():
                remove_any(d)
            if not d.exists():
                d.mkdir()
            _merge_dir(s, d)
            shutil.copystat(s, d, follow_symlinks=False)
            os.lchown(d, st.st_uid, st.st_gid)
            os.chmod(d, stat.S_IMODE(st.st_mode))
            continue
        remove_any(d)
        if stat.S_ISREG(st.st_mode):
            shutil.copy2(s, d, follow_symlinks=False)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
        else:
            os.mknod(d, st.st_mode, st.st_rdev)
        os.lchown(d, st.st_uid, st.st_gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(d, stat.S_IMODE(st.st_mode))
        os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


@contextlib.contextmanager
def container_rootfs(
    lowers_bottom_up: Sequence[Path], state: Path, *, use_overlay: bool | None = None
) -> Iterator[Path]:
    """A writable root for one container under ``state``, torn down on exit.

    Yields the root path; with overlayfs, ``state/upper`` then holds every change the
    container made (what :mod:`distroless.runtime.capture` turns into a layer).
    """
    rootfs = state / "rootfs"
    rootfs.mkdir(exist_ok=True)
    stack = with_device_layers(lowers_bottom_up, state)
    overlay = overlay_supported() if use_overlay is None else use_overlay
    try:
        if overlay:
            upper, work = state / "upper", state / "work"
            upper.mkdir(exist_ok=True)
            work.mkdir(exist_ok=True)
            lowers = list(stack)
            if not lowers:
                empty = state / "empty"
                empty.mkdir(exist_ok=True)
                lowers = [empty]
            try:
                mount_overlay(lowers, upper, work, rootfs, links=state / LOWER_LINKS)
            except SandboxError:
                if use_overlay:  # the caller needs the upper directory (a RUN capture)
                    raise
                overlay = False  # e.g. the store sits on a file system overlayfs refuses
        if not overlay:
            merge_copy(stack, rootfs)
        yield rootfs
    finally:
        if overlay:
            unmount(rootfs)
