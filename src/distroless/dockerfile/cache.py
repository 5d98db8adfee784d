"""The build cache: which layer a step made, found again by what the step depended on.

A key is the sha256 of the parent state's digest, the instruction after substitution and
the digest of its inputs (copied files' content and metadata, build args a RUN sees).
The value is the layer the step produced, kept in the store as a root
(``build-cache:<key>``) so ``prune`` keeps it and a second build reuses it without
executing anything.  Because the parent digest is part of every key, a change invalidates
the step that sees it and every step after it, and nothing before it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from distroless.dockerfile.stage import StateLayer
from distroless.oci.digest import parse_digest
from distroless.oci.models import Descriptor
from distroless.store import Store

CACHE_ROOT = "build-cache"
DIFF_ID = "io.distroless.diff_id"
#: Bump when the meaning of a key changes, so old entries are never misread.
CACHE_VERSION = "1"


def cache_key(parent: str, instruction: str, inputs: Sequence[str] = ()) -> str:
    doc = {"v": CACHE_VERSION, "parent": parent, "instruction": instruction, "inputs": list(inputs)}
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


@dataclass
class BuildCache:
    """Lookups and records in ``store``; ``enabled=False`` (``--no-cache``) never reads."""

    store: Store
    enabled: bool = True

    def get(self, key: str) -> StateLayer | None:
        if not self.enabled:
            return None
        found = self.store.find_root(CACHE_ROOT, key)
        if found is None or DIFF_ID not in found.annotations:
            return None
        plain = Descriptor(found.media_type, found.digest, found.size)
        return StateLayer(plain, parse_digest(found.annotations[DIFF_ID]))

    def put(self, key: str, layer: StateLayer) -> None:
        """Record even with ``--no-cache``: the next build may use what this one made."""
        desc = layer.descriptor.with_annotations(**{DIFF_ID: layer.diff_id})
        self.store.add_root(CACHE_ROOT, key, desc)

    def clear(self) -> int:
        return self.store.drop_roots(CACHE_ROOT)
