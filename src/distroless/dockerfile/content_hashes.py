"""Digests of build-context files, trusted by their ``lstat`` the way BuildKit's content-hash
cache trusts its records.

A rebuild after one edit should read the edited file, not every byte that every cached COPY
copies: a 1 GB file that did not change is not read again.  For each regular file a build
hashes, the store keeps its sha256 next to its identity (size, mtime, ctime, inode, device),
one JSON file per context directory under ``<store>/state/contenthash/``.  A later build
reuses a digest only when the whole identity is the same.

Why that is exactly as safe as reading the file: every write, truncation, ``utime`` or
rename sets the file's ctime to the current time, and nothing a user can do sets it back.
A digest is recorded only for a file whose ctime was already :data:`RACY_NS` old when it
was hashed, so any later change gives a ctime that differs from the recorded one -- even an
edit that restores size and mtime.  A file changed within that window of its hashing is
hashed again on every build until it settles (git's "racy clean" rule).  On file systems
whose ctime does not follow writes, ``DISTROLESS_NO_WARM=1`` turns both this cache and the
warm path off (see :mod:`distroless.warm`).

The records are hints: a missing, unreadable or malformed file is an empty cache, and a
build never fails because of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

from distroless.errors import BuildError, StoreError
from distroless.oci.digest import hex_of, sha256_file
from distroless.store.atomic import atomic_write_bytes
from distroless.warm import NO_WARM_ENV, RACY_NS, file_identity

#: (size, mtime_ns, ctime_ns, inode, device) of a file, then its sha256 in hex
_Record = tuple[int, int, int, int, int, str]


class ContentHashes:
    """The sha256 of context files by relative path; see the module docstring."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.started = time.time_ns()
        self.records: dict[str, _Record] = _read(path) if path is not None else {}
        self.changed = False

    @classmethod
    def for_context(cls, store_root: Path, context: Path) -> ContentHashes:
        """The records a store keeps for the context directory ``context``."""
        if os.environ.get(NO_WARM_ENV):
            return cls()
        name = hashlib.sha256(os.fsencode(os.path.abspath(context))).hexdigest()
        return cls(store_root / "state" / "contenthash" / f"{name}.json")

    def file_digest(self, rel: str, path: Path, st: os.stat_result) -> str:
        """The sha256 (hex) of the regular file ``path``, whose ``lstat`` is ``st``."""
        size, mtime, ctime, inode, device = file_identity(st)
        identity = (size, mtime, ctime, inode, device)
        known = self.records.get(rel)
        if known is not None and known[:5] == identity:
            return known[5]
        digest = _hash_file(path)
        if max(st.st_ctime_ns, st.st_mtime_ns) < self.started - RACY_NS:
            self.records[rel] = (*identity, digest)
            self.changed = True
        return digest

    def save(self) -> None:
        """Write the records if this build added any (atomically: readers see old or new)."""
        if self.path is None or not self.changed:
            return
        with contextlib.suppress(OSError, StoreError):  # a hint not kept costs time only
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.path, json.dumps(self.records, separators=(",", ":")).encode())
            self.changed = False


def _hash_file(path: Path) -> str:
    """The sha256 (hex) of a file's bytes, read in chunks."""
    try:
        with open(path, "rb") as fh:
            digest, _ = sha256_file(fh)
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}") from exc
    return hex_of(digest)


def _read(path: Path) -> dict[str, _Record]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        rel: (*record[:5], record[5])
        for rel, record in data.items()
        if isinstance(rel, str)
        and isinstance(record, list)
        and len(record) == 6
        and all(isinstance(v, int) for v in record[:5])
        and isinstance(record[5], str)
    }
