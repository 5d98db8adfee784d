"""The one keyed layer cache: a layer made once is found again by a key derived from its inputs.

Entries are roots of the store (``<kind>:<key>`` in ``index.json``), so ``prune`` keeps
every cached layer and a second build, in another process, reuses it without making it
again.  Two kinds exist: ``layer`` (package, generated and spec layers, keyed by what they
are made of) and the Dockerfile build cache (keyed by a step and its parent state).

The roots of a kind are read once, on the first lookup, and what this cache records is
remembered: a warm rebuild of every base and tag then costs one read of the index instead
of one per layer.  A snapshot that misses an entry another process added since only costs
making the same bytes again.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from typing import Protocol

from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor
from distroless.store import Store

#: The kind of the roots that keep layers made from package, generated and spec inputs.
LAYER_ROOT = "layer"


class KeyedLayerCache:
    """Layers of one root kind in ``store``; ``enabled=False`` (``--no-cache``) never reads."""

    def __init__(self, store: Store, kind: str = LAYER_ROOT, *, enabled: bool = True) -> None:
        self.store = store
        self.kind = kind
        self.enabled = enabled
        self._known: dict[str, Layer] | None = None
        self._lock = threading.Lock()  # stages built side by side share one cache

    def _snapshot(self) -> dict[str, Layer]:
        with self._lock:
            if self._known is None:
                known = {}
                for key, recorded in self.store.roots(self.kind):
                    layer = Layer.from_record(recorded)
                    if layer is not None:
                        known[key] = layer
                self._known = known
            return self._known

    def get(self, key: str) -> Layer | None:
        if not self.enabled:
            return None
        layer = self._snapshot().get(key)
        if layer is None or not self.store.has_blob(layer.descriptor.digest):
            return None
        return layer

    def put(self, key: str, layer: Layer) -> None:
        """Record even when disabled: the next build may use what this one made."""
        self.store.add_root(self.kind, key, layer.record())
        if self._known is not None:
            with self._lock:
                self._known[key] = layer


class LayerExchange(Protocol):
    """A cache shared with other machines (``build --cache-from/--cache-to``), seen from a
    keyed cache: :class:`~distroless.dockerfile.shared_cache.SharedCache`."""

    def get(self, key: str) -> Layer | None: ...

    def fetch(self, key: str, store: Store) -> Layer: ...


def shared_key(key: str) -> str:
    """A keyed-cache key as a shared cache lists it: 64 hex digits, in a space of its own
    (a Dockerfile step's key is the same length and shape)."""
    return hashlib.sha256(f"keyed-layer\0{key}".encode()).hexdigest()


class SharedKeyedCache(KeyedLayerCache):
    """The store's keyed layers, and past them a cache shared with other machines.

    A layer this machine lacks but the shared cache has is taken as found, without its
    bytes: the image made from it is complete only once :meth:`fetch` has brought them, and
    a build calls that only for the layers a step, a ``COPY --from`` or the final image
    reads.  So a fresh runner builds a base without a single .deb, and a builder whose
    every step hits is never downloaded.  The exporting side needs nothing of this class:
    a build's export lists the keyed layers its images hold (:func:`keyed_layers`).
    """

    def __init__(self, store: Store, exchange: LayerExchange) -> None:
        super().__init__(store)
        self.exchange = exchange
        #: layer digest -> (local key, shared key) of the layers taken without their bytes
        self.deferred: dict[str, tuple[str, str]] = {}

    def get(self, key: str) -> Layer | None:
        layer = super().get(key)
        if layer is not None:
            return layer
        shared = shared_key(key)
        layer = self.exchange.get(shared)
        if layer is not None:
            with self._lock:
                self.deferred[layer.descriptor.digest] = (key, shared)
        return layer

    def fetch(self, digests: Iterable[str]) -> None:
        """Bring the deferred layers among ``digests`` into the store, each checked by its
        digest and diff_id, and keep them under their keys for the next build."""
        for digest in digests:
            with self._lock:
                keys = self.deferred.pop(digest, None)
            if keys is None or self.store.has_blob(digest):
                continue
            with self.store.session():
                layer = self.exchange.fetch(keys[1], self.store)
            self.put(keys[0], layer)


def keyed_layers(store: Store, digests: Iterable[str]) -> dict[str, Layer]:
    """The keyed layers among ``digests``, by their shared keys: what a build exports so
    that another machine finds its bases' package layers without making them."""
    wanted = set(digests)
    found: dict[str, Layer] = {}
    for key, recorded in store.roots(LAYER_ROOT):
        layer = Layer.from_record(recorded)
        if layer is not None and layer.descriptor.digest in wanted:
            found[shared_key(key)] = layer
    return found


def missing_layers(store: Store, desc: Descriptor) -> frozenset[str]:
    """The layers of the image ``desc`` (every platform of an index) the store lacks: an
    image with any is not tagged yet."""
    manifests = [desc]
    if mt.is_index(desc.media_type):
        manifests = list(store.read_index(desc).manifests)
    return frozenset(
        layer.digest
        for manifest in manifests
        for layer in store.read_manifest(manifest).layers
        if not store.has_blob(layer.digest)
    )
