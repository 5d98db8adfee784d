"""What pull writes into and push reads from: the parts of the store the transport uses.

The local :class:`~distroless.store.Store` satisfies both protocols; ``copy`` between
transports can hand pull and push any other object with these methods (an OCI layout
opened elsewhere, a staging area) without the registry code knowing about it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Protocol

from distroless.oci.digest import Digest
from distroless.oci.models import Descriptor
from distroless.store.atomic import BlobBatch, BlobWriter


class ImageSource(Protocol):
    """Where push reads an image: names resolve to descriptors, blobs open as streams."""

    def resolve(self, name_or_digest: str) -> Descriptor: ...

    def has_blob(self, digest: str) -> bool: ...

    def open_blob(self, digest: str) -> BinaryIO: ...

    def read_blob(self, digest: str) -> bytes: ...

    def state_dir(self, *parts: str) -> Path: ...

    def session(self) -> AbstractContextManager[None]: ...


class ImageSink(Protocol):
    """Where pull writes an image: verified blob writes, then a tag or a root."""

    def has_blob(self, digest: str) -> bool: ...

    def has_descriptor(self, desc: Descriptor) -> bool: ...

    def read_blob(self, digest: str) -> bytes: ...

    def write_blob(
        self,
        expected: Digest | None = None,
        expected_size: int | None = None,
        *,
        batch: BlobBatch | None = None,
    ) -> AbstractContextManager[BlobWriter]: ...

    def batch(self) -> AbstractContextManager[BlobBatch]: ...

    def tag(self, name: str, desc: Descriptor) -> str: ...

    def add_root(self, kind: str, key: str, desc: Descriptor) -> None: ...

    def state_dir(self, *parts: str) -> Path: ...

    def session(self) -> AbstractContextManager[None]: ...

    def discard(self, created: list[Path]) -> None: ...
