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
from distroless.layers.layer import Layer
from distroless.oci.canonical import digest_of
from distroless.store import Store

CACHE_ROOT = "build-cache"
#: Bump when the meaning of a key changes, so old entries are never misread.
CACHE_VERSION = "1"


def cache_key(parent: str, instruction: str, inputs: Sequence[str] = ()) -> str:
    doc = {"v": CACHE_VERSION, "parent": parent, "instruction": instruction, "inputs": list(inputs)}
    return digest_of(doc)[1].removeprefix("sha256:")


class BuildCache(KeyedLayerCache):
    """The layers steps made, by step key.

    ``enabled=False`` (``--no-cache``) reads nothing earlier builds made, but a step this
    cache saw made once is not made again: the platforms of one multi-platform build share
    one cache, so a ``FROM --platform=$BUILDPLATFORM`` stage runs once, as in BuildKit.
    """

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        super().__init__(store, CACHE_ROOT, enabled=enabled)
        self._made: dict[str, Layer] = {}

    def get(self, key: str) -> Layer | None:
        if self.enabled:
            return super().get(key)
        with self._lock:
            return self._made.get(key)

    def put(self, key: str, layer: Layer) -> None:
        super().put(key, layer)
        with self._lock:
            self._made[key] = layer
