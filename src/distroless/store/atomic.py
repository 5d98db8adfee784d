"""Atomic, verified file writes: the one place the tool makes a file or directory appear.

A blob becomes visible only after its bytes are on disk (fsync) and match the expected
digest; a killed process leaves at most a temp file, which ``prune`` removes.  Blobs that
arrive together (a pull's layers) may go through a :class:`BlobBatch`: they are synced
together once all are complete, then appear at once with one sync of their directory.
Every other file the tool writes for keeps (index.json, lock files, caches, saved tarballs, login
state) goes through :func:`atomic_file` or, for a download that must keep a resumable
name, :func:`publish_file`; finished directories (an unpacked layer, the debug toolbox)
appear with :func:`publish_dir`.  All of them end the same way (:func:`_publish`): the
bytes are synced, the temp name is renamed over the final one, and the directory holding
it is synced, so after a crash the name holds the old content or the new, never a part.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from distroless.errors import IntegrityError, StoreError
from distroless.oci.digest import Digest, HashingWriter


class BlobWriter(HashingWriter):
    """A hashing writer whose result is known once its ``with`` block has closed."""

    def __init__(self, sink: BinaryIO, where: Path, expected_size: int | None = None) -> None:
        super().__init__(sink)
        self.created: Path | None = None
        self._where = where
        self._expected_size = expected_size

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._expected_size is not None and self.size + len(data) > self._expected_size:
            # stop at the first byte too many: a blob that lies about its size could be endless
            raise IntegrityError(
                f"blob is larger than the {self._expected_size} bytes its descriptor says; "
                "nothing was stored"
            )
        # Raised as a StoreError here, at the sink, so that producers which wrap the OSErrors
        # of their own inputs (the tar writer, a decompressor) cannot mistake a full disk
        # for bad input.
        try:
            return super().write(data)
        except OSError as exc:
            raise _raise_store(exc, f"a blob into {self._where}") from exc


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_close(fh: BinaryIO, tmp: str | Path, mode: int | None) -> None:
    fh.flush()
    os.fsync(fh.fileno())
    fh.close()
    if mode is not None:
        os.chmod(tmp, mode)


_SYNC_THREADS = 16


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(fh: BinaryIO, tmp: str | Path, final: Path, mode: int | None) -> None:
    """Sync and close ``fh`` (open on ``tmp``), then rename ``tmp`` over ``final``."""
    _sync_close(fh, tmp, mode)
    os.replace(tmp, final)
    fsync_dir(final.parent)


class BlobBatch:
    """Blobs that are complete and verified, but not visible until published together.

    A pull writes many blobs at once; publishing each on its own costs a sync of the file
    and one of the blob directory per blob, one after the other, and a failed pull would
    first show and then remove the blobs that made it.  A batch keeps the finished temp
    files until :meth:`publish`, which syncs them all at once (concurrently, so the
    filesystem commits them together rather than one journal commit per blob), only then
    renames them into place, and syncs their directory once.  So a blob is still durable
    before it is visible, and a batch that is abandoned leaves only temp files, which it
    removes (or, if the process is killed, ``prune`` does).
    """

    def __init__(self, final_dir: Path) -> None:
        self.final_dir = final_dir
        self.created: list[Path] = []  # what publish() made appear, for a later undo
        self._pending: dict[Path, Path] = {}  # final name -> synced temp file
        self._lock = threading.Lock()
        self._closed = False

    def adopt(self, tmp: Path, final: Path) -> bool:
        """Take over the synced ``tmp``; False when the batch already holds ``final``."""
        with self._lock:
            if self._closed:
                raise StoreError("a blob was written into a batch that is already closed")
            if final in self._pending:
                return False
            self._pending[final] = tmp
            return True

    def publish(self) -> list[Path]:
        """Sync every pending blob, rename each into place, then sync the directory once."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        try:
            temps = list(pending.values())
            if len(temps) > 1:
                with ThreadPoolExecutor(max_workers=min(_SYNC_THREADS, len(temps))) as pool:
                    list(pool.map(_fsync_path, temps))
            elif temps:
                _fsync_path(temps[0])
            for final, tmp in pending.items():
                if _is_regular(final):
                    tmp.unlink(missing_ok=True)  # another writer stored it meanwhile
                    continue
                os.replace(tmp, final)
                self.created.append(final)
            if self.created:
                fsync_dir(self.final_dir)
        except OSError as exc:
            for tmp in pending.values():
                tmp.unlink(missing_ok=True)
            raise _raise_store(exc, f"blobs into {self.final_dir}") from exc
        return self.created

    def abandon(self) -> None:
        """Remove the temp files of the blobs not yet published; none of them was visible."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, {}
        for tmp in pending.values():
            tmp.unlink(missing_ok=True)


def publish_file(tmp: Path, final: Path) -> None:
    """Make the finished file ``tmp`` appear as ``final`` (a download kept under a name
    it can resume from); ``final``'s directory is created if needed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        _publish(fh, tmp, final, None)


def publish_dir(tmp: Path, final: Path) -> bool:
    """Rename the finished directory ``tmp`` to ``final`` in one step.

    False, with ``tmp`` left for the caller to remove, when a directory with content is
    already at ``final``: another process published the same thing first.  The caller
    decides whether what is there will do.
    """
    try:
        os.rename(tmp, final)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    fsync_dir(final.parent)
    return True


def _raise_store(exc: OSError, what: str) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return StoreError(f"no space left on device while writing {what}; free space and retry")
    return StoreError(f"cannot write {what}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_blob(
    tmp_dir: Path,
    final_dir: Path,
    expected: Digest | None = None,
    expected_size: int | None = None,
    *,
    replace: bool = False,
    batch: BlobBatch | None = None,
) -> Iterator[BlobWriter]:
    """Write a blob to ``final_dir/<hex>`` via a temp file in ``tmp_dir``.

    The temp file has a fresh random name and is created with ``O_EXCL|O_NOFOLLOW``
    (``mkstemp``), so nothing planted in either directory is ever opened or followed; the
    final name is replaced by ``rename``, which replaces a link rather than writing through
    it.  A regular file already at the final name is kept unless ``replace`` is set (a sink
    that cannot trust what it finds there); anything else there is replaced.  With
    ``expected_size`` the blob may not hold a byte more or less.  On any failure the temp
    file is closed and removed, and the first error is the one raised.  With ``batch`` the
    finished temp file is handed to it instead of synced and renamed: the blob appears when
    the batch is published (``writer.created`` stays None; the batch knows what it created).
    """
    where = final_dir
    try:
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
    except OSError as exc:
        raise _raise_store(exc, f"a blob into {where}") from exc
    tmp = Path(tmp_name)
    fh = os.fdopen(fd, "wb")
    handed_over = False
    try:
        writer = BlobWriter(fh, where, expected_size)
        try:
            yield writer
            fh.flush()
        except OSError as exc:
            raise _raise_store(exc, f"a blob into {where}") from exc
        if expected is not None and writer.digest != expected:
            raise IntegrityError(
                f"blob {expected}: digest mismatch (got {writer.digest}); nothing was stored"
            )
        if expected_size is not None and writer.size != expected_size:
            raise IntegrityError(
                f"blob {writer.digest} has {writer.size} bytes, its descriptor says "
                f"{expected_size}; nothing was stored"
            )
        final = final_dir / writer.digest.split(":", 1)[1]
        if not replace and _is_regular(final):
            fh.close()
            tmp.unlink()
        elif batch is not None:
            try:
                fh.close()  # synced by the batch, with the others
                os.chmod(tmp, 0o644)
            except OSError as exc:
                raise _raise_store(exc, f"a blob into {where}") from exc
            handed_over = batch.adopt(tmp, final)
        else:
            try:
                _publish(fh, tmp, final, 0o644)
            except OSError as exc:
                raise _raise_store(exc, f"a blob into {where}") from exc
            writer.created = final
    finally:
        if not fh.closed:
            # Closing flushes what is buffered; on a full disk that fails again (the file is
            # closed all the same) and must not replace the error already being raised.
            with contextlib.suppress(OSError):
                fh.close()
        if not handed_over:
            tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, for all threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


@contextlib.contextmanager
def atomic_file(path: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Stream a new ``path``: it appears complete (fsync, rename) or not at all.

    The temp file beside it has a random name created with ``O_EXCL|O_NOFOLLOW``
    (``mkstemp``): a link planted at a guessable name (``out.tar.partial``) is never
    written through, and ``rename`` replaces a link at ``path`` instead of following it.
    Used for every file the tool writes outside a blob directory: ``index.json``, saved
    tarballs, SBOMs, state.  Without ``mode`` the file gets the mode a plainly created file
    would (``0666`` less the umask).
    """
    if mode is None:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    except OSError as exc:
        raise _raise_store(exc, str(path)) from exc
    fh = os.fdopen(fd, "wb")
    try:
        yield fh  # errors of the producer propagate as they are
        try:
            _publish(fh, tmp_name, path, mode)
        except OSError as exc:
            raise _raise_store(exc, str(path)) from exc
    finally:
        if not fh.closed:
            with contextlib.suppress(OSError):
                fh.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (used for index.json and small state)."""
    with atomic_file(path, 0o644) as fh:
        try:
            fh.write(data)
        except OSError as exc:
            raise _raise_store(exc, str(path)) from exc
