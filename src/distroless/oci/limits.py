"""How large an image's JSON documents may be before they are refused unread.

Manifests, indexes and configs are parsed whole in memory, so each is bounded by size
before it is read: a 200 MB "config" in an archive would otherwise cost a gigabyte on every
``inspect``.  The manifest bound is the one the distribution registry enforces on upload
(4 MiB) and that skopeo and podman apply when reading; no registry serves a bigger one.
Configs get twice that: skopeo caps them at 4 MiB as well, but a config holds the whole
build history and environment, and a bound we set ourselves should not refuse an image
that other tools accept.
"""

from __future__ import annotations

from distroless.errors import ArchiveError
from distroless.oci import mediatypes as mt

#: an image manifest or an index (manifest list)
MAX_MANIFEST_BYTES = 4 << 20
#: an image config (or the config blob of an artifact manifest)
MAX_CONFIG_BYTES = 8 << 20


def document_limit(media_type: str) -> int:
    """The bound for a document of ``media_type`` read as JSON (a config otherwise)."""
    if mt.is_manifest(media_type) or mt.is_index(media_type):
        return MAX_MANIFEST_BYTES
    return MAX_CONFIG_BYTES


def check_document_size(size: int, media_type: str, what: str) -> None:
    """Refuse a document whose (announced or actual) ``size`` is over its bound."""
    limit = document_limit(media_type)
    if size > limit:
        kind = "config" if limit == MAX_CONFIG_BYTES else "manifest"
        raise ArchiveError(
            f"{what} is {size} bytes, more than the {limit} bytes an image {kind} may have"
        )
