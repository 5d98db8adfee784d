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

import threading

from distroless.layers.layer import Layer
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
