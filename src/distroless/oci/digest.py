"""Content digests (``sha256:<hex>``) and hashing while streaming.

Digests are plain validated strings so they serialise into JSON and compare without
ceremony; :class:`HashingWriter` and :class:`HashingReader` compute one while data flows
to or from a file so that no blob needs to sit in memory to be addressed.
"""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO, NewType, Protocol

from distroless.errors import IntegrityError, ReferenceFormatError

Digest = NewType("Digest", str)

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


class Writable(Protocol):
    """All a streaming sink needs: files, hashing and compressing writers alike."""

    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...
    def flush(self) -> None: ...


def parse_digest(text: str) -> Digest:
    """Validate ``text`` as a sha256 digest; other algorithms are refused by name."""
    if not _DIGEST_RE.match(text):
        algo = text.split(":", 1)[0] if ":" in text else ""
        if algo and algo != "sha256":
            raise ReferenceFormatError(f"unsupported digest algorithm {algo!r} in {text!r}")
        raise ReferenceFormatError(f"invalid digest {text!r}: expected sha256:<64 hex digits>")
    return Digest(text)


def is_digest(text: str) -> bool:
    return bool(_DIGEST_RE.match(text))


def sha256_bytes(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def sha256_file(fileobj: BinaryIO) -> tuple[Digest, int]:
    """Digest and size of everything left in ``fileobj``."""
    h = hashlib.sha256()
    size = 0
    while chunk := fileobj.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return Digest("sha256:" + h.hexdigest()), size


def hex_of(digest: str) -> str:
    """The hex part of a digest, as used for blob file names."""
    return parse_digest(digest).split(":", 1)[1]


class HashingWriter:
    """File-like sink that forwards writes and keeps the sha256 and byte count."""

    def __init__(self, sink: Writable | None = None) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self._sink is not None:
            self._sink.flush()

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())


class HashingReader:
    """File-like source that hashes what is read and can check it against an expectation."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._hash.update(data)
        self.size += len(data)
        return data

    @property
    def digest(self) -> Digest:
        return Digest("sha256:" + self._hash.hexdigest())

    def verify(self, expected: str, what: str) -> None:
        """Raise :class:`IntegrityError` naming ``what`` if the content read so far differs."""
        if self.digest != expected:
            raise IntegrityError(f"{what}: digest mismatch, expected {expected}, got {self.digest}")
