"""Which repositories of a registry are known to hold a blob, for cross-repository mounts.

Pushing an application built on a pulled base to a new repository would upload the base's
layers again; the registry can instead *mount* them from a repository that has them.  We
remember, per registry host, the repositories each blob was pulled from or pushed to, in
``<store>/state/registry/sources.json``, updated under a file lock by read-merge-replace.
The file is a hint: a store that cannot be written (a read-only mount) simply has none,
and pushing from it uploads instead of mounting.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from distroless.errors import StoreError
from distroless.store.atomic import atomic_write_bytes
from distroless.transports.registry.targets import ImageSink, ImageSource

_KEEP = 8  # repositories remembered per blob; the most recent first
_READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def _read_only(exc: BaseException) -> bool:
    cause = exc if isinstance(exc, OSError) else exc.__cause__
    return isinstance(cause, OSError) and cause.errno in _READ_ONLY


class BlobSources:
    """The ``sources.json`` file of one store."""

    def __init__(self, state_dir: Path | None) -> None:
        self._dir = state_dir
        self.path = (state_dir or Path("/nonexistent")) / "sources.json"
        self._lock_path = self.path.with_name("sources.lock")

    @classmethod
    def of(cls, store: ImageSource | ImageSink) -> BlobSources:
        """The hints of ``store``; none (and none recorded) when it cannot be written."""
        try:
            return cls(store.state_dir("registry"))
        except OSError as exc:
            if not _read_only(exc):
                raise
            return cls(None)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, dict[str, list[str]]]:
        if self._dir is None:
            return {}
        try:
            data = json.loads(self.path.read_bytes())
        except (FileNotFoundError, ValueError):
            return {}  # a damaged hint file only costs an upload
        return data if isinstance(data, dict) else {}

    def repositories(self, host: str, digest: str) -> list[str]:
        repos = self._load().get(host, {}).get(digest, [])
        return [r for r in repos if isinstance(r, str)]

    def record(self, host: str, repository: str, digests: Iterable[str]) -> bool:
        """Remember where ``digests`` live; False when the store is read-only."""
        if self._dir is None:
            return False
        try:
            self._record(host, repository, digests)
        except (OSError, StoreError) as exc:
            if not _read_only(exc):
                raise
            return False
        return True

    def _record(self, host: str, repository: str, digests: Iterable[str]) -> None:
        with self._locked():
            # Temp files of a writer killed mid-replace; every writer holds this lock.
            for stale in self.path.parent.glob(f".{self.path.name}-*"):
                stale.unlink(missing_ok=True)
            data = self._load()
            per_host = data.setdefault(host, {})
            for digest in digests:
                repos = [r for r in per_host.get(digest, []) if r != repository]
                per_host[digest] = [repository, *repos][:_KEEP]
            atomic_write_bytes(self.path, json.dumps(data, sort_keys=True).encode())
