"""Which repositories of a registry are known to hold a blob, for cross-repository mounts.

Pushing an application built on a pulled base to a new repository would upload the base's
layers again; the registry can instead *mount* them from a repository that has them.  We
remember, per registry host, the repositories each blob was pulled from or pushed to, in
``<store>/state/registry/sources.json``, updated under a file lock by read-merge-replace.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from distroless.store.atomic import atomic_write_bytes

_KEEP = 8  # repositories remembered per blob; the most recent first


class BlobSources:
    """The ``sources.json`` file of one store."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "sources.json"
        self._lock_path = state_dir / "sources.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _load(self) -> dict[str, dict[str, list[str]]]:
        try:
            data = json.loads(self.path.read_bytes())
        except (FileNotFoundError, ValueError):
            return {}  # a damaged hint file only costs an upload
        return data if isinstance(data, dict) else {}

    def repositories(self, host: str, digest: str) -> list[str]:
        repos = self._load().get(host, {}).get(digest, [])
        return [r for r in repos if isinstance(r, str)]

    def record(self, host: str, repository: str, digests: Iterable[str]) -> None:
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
