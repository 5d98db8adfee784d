"""Adding layers to a store and writing them with a config as a manifest or an index.

This is the one place images are put together: spec builds, the base images and the
Dockerfile executor all write their layers with :func:`store_layer` (or :func:`add_layer`,
which looks a keyed layer up first) and their images with :func:`write_image`.

Layers carry an optional cache key (for instance a .deb's sha256): a layer made once is
found again by key and never recompressed, which is what keeps warm rebuilds cheap and
lets different bases share package layers byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

from distroless.assemble.cache import KeyedLayerCache
from distroless.errors import BuildError
from distroless.layers.build import write_layer
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry
from distroless.layers.layer import Layer, manifest_descriptor
from distroless.oci import mediatypes as mt
from distroless.oci.models import (
    ContainerConfig,
    Descriptor,
    HistoryEntry,
    ImageConfig,
    Index,
    Manifest,
    Platform,
)
from distroless.reporter import NullReporter, Reporter, Task
from distroless.store import Store, StoredImage
from distroless.timestamps import rfc3339


@dataclass(frozen=True)
class LayerSource:
    """A layer still to be made: its entries (produced lazily) and how history names it.

    ``cache_key``, when given, must change whenever the entries would: it is all the cache
    compares.
    """

    created_by: str
    entries: Callable[[], Iterable[Entry]]
    cache_key: str | None = None
    comment: str | None = None

    def history(self, created: str) -> HistoryEntry:
        return HistoryEntry(created_by=self.created_by, created=created, comment=self.comment)


class _Progress:
    """A write-only sink that reports the compressed bytes as they are written."""

    def __init__(self, sink: object, task: Task) -> None:
        self._sink = sink
        self._task = task

    def write(self, data: bytes) -> int:
        written: int = self._sink.write(data)  # type: ignore[attr-defined]
        self._task.advance(len(data))
        return written


def store_layer(
    store: Store,
    entries: Iterable[Entry],
    *,
    compression: Compression = "gzip",
    source_date_epoch: int = 0,
    task: Task | None = None,
) -> Layer:
    """Write one layer blob into the store, digests computed as the bytes stream.

    ``task`` (a progress bar) advances by the compressed bytes written.
    """
    with store.write_blob() as writer:
        # a write-only sink is all the layer writer uses
        sink = cast(BinaryIO, writer if task is None else _Progress(writer, task))
        info = write_layer(entries, sink, compression, source_date_epoch=source_date_epoch)
    return Layer.written(info)


def layer_cache_key(
    source: LayerSource, *, compression: Compression = "gzip", source_date_epoch: int = 0
) -> str | None:
    """The key :func:`add_layer` keeps ``source``'s layer under; None for a source it
    does not keep.

    The same entries give different blobs with another compression or clamp time, so
    both are part of the key.  The key names records already in users' stores: its
    spelling must not change.
    """
    if not source.cache_key:
        return None
    return f"{source.cache_key}:{compression}:{source_date_epoch}"


def add_layer(
    store: Store,
    source: LayerSource,
    *,
    compression: Compression = "gzip",
    source_date_epoch: int = 0,
    reporter: Reporter | None = None,
    cache: KeyedLayerCache | None = None,
) -> Layer:
    """The layer of ``source``: the one made earlier under the same key
    (:func:`layer_cache_key`), or a new one."""
    report = reporter or NullReporter()
    key = layer_cache_key(source, compression=compression, source_date_epoch=source_date_epoch)
    if key is not None:
        cache = cache or KeyedLayerCache(store)
        found = cache.get(key)
        if found is not None:
            report.event("layer-cached", key=source.cache_key, created_by=source.created_by)
            return found
    task = report.task(f"layer {source.created_by}")
    try:
        layer = store_layer(
            store,
            source.entries(),
            compression=compression,
            source_date_epoch=source_date_epoch,
            task=task,
        )
    finally:
        task.done()
    if key is not None and cache is not None:
        cache.put(key, layer)
    report.event(
        "layer-built",
        digest=layer.descriptor.digest,
        size=layer.descriptor.size,
        created_by=source.created_by,
    )
    return layer


def image_layers(image: StoredImage) -> tuple[Layer, ...]:
    """The layers of a stored image, each with its diff_id from the config."""
    if len(image.layers) != len(image.config.diff_ids):
        raise BuildError(
            f"image {image.name} is inconsistent: {len(image.layers)} layers but "
            f"{len(image.config.diff_ids)} diff_ids"
        )
    return tuple(
        Layer(d, diff) for d, diff in zip(image.layers, image.config.diff_ids, strict=True)
    )


def write_image(
    store: Store,
    *,
    platform: Platform,
    container: ContainerConfig,
    layers: Sequence[Layer],
    history: Sequence[HistoryEntry],
    created: str,
    author: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> tuple[Descriptor, ImageConfig]:
    """Store the config and the OCI manifest of an image; returns the manifest and config."""
    config = ImageConfig(
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant,
        config=container,
        diff_ids=tuple(layer.diff_id for layer in layers),
        history=tuple(history),
        created=created,
        author=author,
    )
    data = config.to_bytes()
    digest = store.put_bytes(data)
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, digest, len(data)),
        tuple(manifest_descriptor(layer.descriptor) for layer in layers),
        annotations=dict(annotations or {}),
    )
    return store.put_manifest(manifest, platform), config


def assemble(
    store: Store,
    *,
    base: StoredImage | None,
    sources: Sequence[LayerSource],
    container: ContainerConfig,
    platform: Platform,
    source_date_epoch: int = 0,
    annotations: Mapping[str, str] | None = None,
    cache: KeyedLayerCache | None = None,
    reporter: Reporter | None = None,
) -> Descriptor:
    """``base`` (its layers and history) with a layer per source on top; the manifest.

    Each source's layer comes from ``cache`` when it was made before.
    """
    cache = cache or KeyedLayerCache(store)
    layers = [
        add_layer(
            store, source, source_date_epoch=source_date_epoch, reporter=reporter, cache=cache
        )
        for source in sources
    ]
    created = rfc3339(source_date_epoch)
    below = image_layers(base) if base is not None else ()
    history = base.config.history if base is not None else ()
    desc, _ = write_image(
        store,
        platform=platform,
        container=container,
        layers=(*below, *layers),
        history=(*history, *(source.history(created) for source in sources)),
        created=created,
        annotations=annotations,
    )
    return desc


def assemble_index(
    store: Store, manifests: Sequence[Descriptor], annotations: Mapping[str, str] | None = None
) -> Descriptor:
    """One index over per-platform manifests, ordered by platform for stable digests."""
    ordered = sorted(manifests, key=lambda d: str(d.platform))
    return store.put_index(Index(tuple(ordered), annotations=dict(annotations or {})))
