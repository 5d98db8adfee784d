"""Root file systems for containers: a cache of unpacked layers and overlay mounts over it.

Each layer is unpacked once, keyed by its blob digest, into ``state/layers/<hex>`` (into
a temporary directory first, renamed when complete, so a killed unpack is never reused).
A container's root is an overlayfs mount of those directories with a private upper and
work directory; where overlayfs is unavailable the layers are merged by copying instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from distroless.errors import SandboxError
from distroless.oci.digest import hex_of
from distroless.reporter import NullReporter, Reporter
from distroless.runtime.unpack import OPAQUE_XATTR, unpack_layer

_NULL_REPORTER = NullReporter()

#: overlayfs refuses mount options longer than a page; keep a margin.
_MAX_MOUNT_OPTIONS = 3800


class BlobSource(Protocol):
    def open_blob(self, digest: str) -> BinaryIO: ...


class LayerCache:
    """Unpacked layers under ``root`` (normally ``store.state_dir("layers")``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, digest: str) -> Path:
        return self.root / hex_of(digest)

    def ensure(self, digest: str, blobs: BlobSource, reporter: Reporter = _NULL_REPORTER) -> Path:
        """The unpacked directory of layer ``digest``, unpacking it on first use."""
        final = self.path_for(digest)
        if final.is_dir():
            return final
        tmp = self.root / f".tmp-{hex_of(digest)[:12]}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(mode=0o755)
        try:
            reporter.event("layer-unpack", digest=digest)
            with blobs.open_blob(digest) as fh:
                unpack_layer(fh, tmp, what=f"layer {digest}")
            try:
                os.rename(tmp, final)
            except OSError:
                if not final.is_dir():  # another process won the race: use its copy
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    def ensure_all(
        self, digests: Sequence[str], blobs: BlobSource, reporter: Reporter = _NULL_REPORTER
    ) -> list[Path]:
        """Unpacked directories of ``digests``, in the same (bottom-up) order."""
        return [self.ensure(d, blobs, reporter) for d in digests]

    def prune(self, keep: Iterable[str]) -> int:
        """Remove unpacked layers whose digest is not in ``keep``; returns how many.

        Meant for ``prune`` after it has collected blobs; a layer in use by a running
        container stays readable through its mount until that container ends.
        """
        wanted = {hex_of(d) for d in keep}
        count = 0
        for child in self.root.iterdir():
            if child.name.startswith(".tmp-") or child.name not in wanted:
                shutil.rmtree(child, ignore_errors=True)
                count += 1
        return count

    def clean_partial(self) -> int:
        """Remove leftovers of interrupted unpacks; returns how many were removed."""
        count = 0
        for child in self.root.glob(".tmp-*"):
            shutil.rmtree(child, ignore_errors=True)
            count += 1
        return count


def overlay_supported() -> bool:
    try:
        with open("/proc/filesystems", encoding="ascii") as fh:
            return any(line.split()[-1] == "overlay" for line in fh if line.strip())
    except OSError:
        return False


def mount_overlay(lowers_bottom_up: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount an overlay of ``lowers_bottom_up`` with ``upper`` as its writable layer.

    Lower directories are passed relative to their common parent (the layer cache) when
    possible, which keeps the option string short enough for images with many layers.
    """
    lowers = list(reversed(lowers_bottom_up))  # overlayfs lists the top layer first
    cwd: Path | None = None
    parents = {p.parent for p in lowers}
    if len(parents) == 1:
        cwd = next(iter(parents))
        lower_opt = ":".join(p.name for p in lowers)
    else:
        lower_opt = ":".join(str(p) for p in lowers)
    options = f"lowerdir={lower_opt},upperdir={upper},workdir={work}"
    if len(options) > _MAX_MOUNT_OPTIONS:
        raise SandboxError(f"too many layers ({len(lowers)}) for one overlay mount")
    proc = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(target)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SandboxError(f"cannot mount the overlay root at {target}: {proc.stderr.strip()}")


def is_mountpoint(path: Path) -> bool:
    """True when ``path`` is listed as a mount point in this process's mount table."""
    wanted = os.path.realpath(path)
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


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _merge_dir(src: Path, dst: Path) -> None:
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        s = Path(entry.path)
        d = dst / entry.name
        st = entry.stat(follow_symlinks=False)
        if _is_whiteout(st):
            _remove_any(d)
            continue
        if stat.S_ISDIR(st.st_mode):
            if _is_opaque(s) or (os.path.lexists(d) and not d.is_dir()) or d.is_symlink():
                _remove_any(d)
            if not d.exists():
                d.mkdir()
            _merge_dir(s, d)
            shutil.copystat(s, d, follow_symlinks=False)
            os.lchown(d, st.st_uid, st.st_gid)
            os.chmod(d, stat.S_IMODE(st.st_mode))
            continue
        _remove_any(d)
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
    overlay = overlay_supported() if use_overlay is None else use_overlay
    try:
        if overlay:
            upper, work = state / "upper", state / "work"
            upper.mkdir(exist_ok=True)
            work.mkdir(exist_ok=True)
            lowers = list(lowers_bottom_up)
            if not lowers:
                empty = state / "empty"
                empty.mkdir(exist_ok=True)
                lowers = [empty]
            try:
                mount_overlay(lowers, upper, work, rootfs)
            except SandboxError:
                if use_overlay:  # the caller needs the upper directory (a RUN capture)
                    raise
                overlay = False  # e.g. the store sits on a file system overlayfs refuses
        if not overlay:
            merge_copy(lowers_bottom_up, rootfs)
        yield rootfs
    finally:
        if overlay:
            unmount(rootfs)
