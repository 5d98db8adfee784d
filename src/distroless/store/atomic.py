"""Atomic, verified file writes.

A blob becomes visible only after its bytes are on disk (fsync) and match the expected
digest; a killed process leaves at most a temp file, which ``prune`` removes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from distroless.errors import IntegrityError, StoreError
from distroless.oci.digest import Digest, HashingWriter


class BlobWriter(HashingWriter):
    """A hashing writer whose result is known once its ``with`` block has closed."""

    def __init__(self, sink: BinaryIO, where: Path) -> None:
        super().__init__(sink)
        self.created: Path | None = None
        self._where = where

    def write(self, data: bytes | bytearray | memoryview) -> int:
        # Raised as a StoreError here, at the sink, so that producers which wrap the OSErrors
        # of their own inputs (the tar writer, a decompressor) cannot mistake a full disk
        # for bad input.
        try:
            return super().write(data)
        except OSError as exc:
            raise _raise_store(exc, f"a blob into {self._where}") from exc


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _raise_store(exc: OSError, what: str) -> StoreError:
    if exc.errno == errno.ENOSPC:
        return StoreError(f"no space left on device while writing {what}; free space and retry")
    return StoreError(f"cannot write {what}: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_blob(
    tmp_dir: Path, final_dir: Path, expected: Digest | None = None
) -> Iterator[BlobWriter]:
    """Write a blob to ``final_dir/<hex>`` via a temp file in ``tmp_dir``.

    On any failure the temp file is closed and removed, and the first error is the one raised.
    """
    where = final_dir
    try:
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="blob-")
    except OSError as exc:
        raise _raise_store(exc, f"a blob into {where}") from exc
    tmp = Path(tmp_name)
    fh = os.fdopen(fd, "wb")
    try:
        writer = BlobWriter(fh, where)
        try:
            yield writer
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        except OSError as exc:
            raise _raise_store(exc, f"a blob into {where}") from exc
        if expected is not None and writer.digest != expected:
            raise IntegrityError(
                f"blob {expected}: digest mismatch (got {writer.digest}); nothing was stored"
            )
        final = final_dir / writer.digest.split(":", 1)[1]
        if final.exists():
            tmp.unlink()
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            fsync_dir(final_dir)
            writer.created = final
    finally:
        if not fh.closed:
            # Closing flushes what is buffered; on a full disk that fails again (the file is
            # closed all the same) and must not replace the error already being raised.
            with contextlib.suppress(OSError):
                fh.close()
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (used for index.json and small state)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
        fsync_dir(path.parent)
    except OSError as exc:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise _raise_store(exc, str(path)) from exc
