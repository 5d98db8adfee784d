"""Adding layers to a store and stacking them with a config into a manifest or an index.

Layers carry an optional cache key (for instance a .deb's sha256): a layer made once is
found again by key and never recompressed, which is what keeps warm rebuilds cheap and
lets different bases share package layers byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO, cast

from distroless.assemble.time import rfc3339
from distroless.layers.build import media_type, write_layer
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, parse_digest
from distroless.oci.models import (
    ContainerConfig,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Index,
    Manifest,
    Platform,
)
from distroless.reporter import NullReporter, Reporter
from distroless.store import Store, StoredImage

DIFF_ID = "io.distroless.diff_id"
LAYER_ROOT = "layer"


@dataclass(frozen=True)
class LayerSource:
    """A layer still to be made: its entries (produced lazily) and how history names it."""

    created_by: str
    entries: Callable[[], Iterable[Entry]]
    cache_key: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class BuiltLayer:
    descriptor: Descriptor
    diff_id: Digest
    created_by: str
    comment: str | None = None

    def history(self, created: str) -> HistoryEntry:
        return HistoryEntry(created_by=self.created_by, created=created, comment=self.comment)


def add_layer(
    store: Store,
    source: LayerSource,
    *,
    compression: Compression = "gzip",
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
) -> BuiltLayer:
    """Write the layer into the store, or reuse the one made earlier under the same key."""
    key = f"{source.cache_key}:{compression}:{source_date_epoch}" if source.cache_key else None
    if key is not None:
        found = store.find_root(LAYER_ROOT, key)
        if found is not None and DIFF_ID in found.annotations:
            (reporter or NullReporter()).event("layer-cached", key=source.cache_key)
            plain = Descriptor(found.media_type, found.digest, found.size)
            return BuiltLayer(
                plain, parse_digest(found.annotations[DIFF_ID]), source.created_by, source.comment
            )
    with store.write_blob() as writer:
        sink = cast(BinaryIO, writer)  # a write-only sink is all the layer writer uses
        info = write_layer(source.entries(), sink, compression, source_date_epoch=source_date_epoch)
    desc = Descriptor(media_type(info), info.digest, info.size)
    if key is not None:
        store.add_root(LAYER_ROOT, key, desc.with_annotations(**{DIFF_ID: info.diff_id}))
    (reporter or NullReporter()).event("layer-built", digest=info.digest, size=info.size)
    return BuiltLayer(desc, info.diff_id, source.created_by, source.comment)


def _as_oci(desc: Descriptor) -> Descriptor:
    """Relabel a Docker-typed layer as OCI; the bytes are the same, families must not mix."""
    if mt.family_of(desc.media_type) == "oci":
        return desc
    oci_type = mt.layer_type_for("oci", mt.compression_of(desc.media_type))
    return replace(desc, media_type=oci_type)


def assemble(
    store: Store,
    *,
    base: StoredImage | None,
    layers: Sequence[BuiltLayer],
    container: ContainerConfig,
    platform: Platform,
    source_date_epoch: int = 0,
    extra_history: Sequence[HistoryEntry] = (),
    annotations: Mapping[str, str] | None = None,
) -> Descriptor:
    """Store the config and manifest of ``base`` + ``layers``; returns the manifest descriptor.

    ``extra_history`` records steps that made no layer (ENV, CMD, …) after the layers.
    """
    created = rfc3339(source_date_epoch)
    base_layers: tuple[Descriptor, ...] = ()
    base_diff_ids: tuple[Digest, ...] = ()
    base_history: tuple[HistoryEntry, ...] = ()
    if base is not None:
        base_layers = tuple(_as_oci(d) for d in base.layers)
        base_diff_ids = base.config.diff_ids
        base_history = base.config.history
    config = ImageConfig(
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant,
        config=container,
        diff_ids=base_diff_ids + tuple(layer.diff_id for layer in layers),
        history=base_history
        + tuple(layer.history(created) for layer in layers)
        + tuple(extra_history),
        created=created,
    )
    config_bytes = config.to_bytes()
    config_digest = store.put_bytes(config_bytes)
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, config_digest, len(config_bytes)),
        base_layers + tuple(layer.descriptor for layer in layers),
        annotations=dict(annotations or {}),
    )
    return store.put_manifest(manifest, platform)


def assemble_index(
    store: Store, manifests: Sequence[Descriptor], annotations: Mapping[str, str] | None = None
) -> Descriptor:
    """One index over per-platform manifests, ordered by platform for stable digests."""
    ordered = sorted(manifests, key=lambda d: str(d.platform))
    return store.put_index(Index(tuple(ordered), annotations=dict(annotations or {})))
