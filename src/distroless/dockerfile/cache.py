"""The build cache: which layer a step made, found again by what the step depended on.

A key is the sha256 of the parent state's digest, the instruction after substitution and
the digest of its inputs (copied files' content and metadata, build args a RUN sees).
The value is the layer the step produced, kept in the store as a root
(``build-cache:<key>``) so ``prune`` keeps it and a second build reuses it without
executing anything.  Because the parent digest is part of every key, a change invalidates
the step that sees it and every step after it, and nothing before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from distroless.assemble.cache import KeyedLayerCache
from distroless.oci.canonical import digest_of
from distroless.store import Store

CACHE_ROOT = "build-cache"
#: Bump when the meaning of a key changes, so old entries are never misread.
CACHE_VERSION = "1"


def cache_key(parent: str, instruction: str, inputs: Sequence[str] = ()) -> str:
    doc = {"v": CACHE_VERSION, "parent": parent, "instruction": instruction, "inputs": list(inputs)}
    return digest_of(doc)[1].removeprefix("sha256:")


class BuildCache(KeyedLayerCache):
    """The layers steps made, by step key; ``enabled=False`` (``--no-cache``) never reads."""

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        super().__init__(store, CACHE_ROOT, enabled=enabled)
