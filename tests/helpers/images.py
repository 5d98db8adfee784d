"""Small images written straight into a store, for tests that need an image, not a build.

Layers go through the project's own writer (deterministic tars), so the images look like
built ones; the config carries the platform, and the manifest's descriptor is labelled
with it, as a pull or a build would label it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from distroless.layers.build import write_layer
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.models import ContainerConfig, Descriptor, ImageConfig, Manifest, Platform
from distroless.store import Store
from distroless.transports.layout import import_layout

AMD64 = Platform("linux", "amd64")
#: the Go builder the examples name (the session fixture ``go_builder_root`` holds it)
GO_BUILDER = "distroless/builder-go:1.24-debian13"


def put_layer(store: Store, entries: Sequence[Entry], compression: Compression = "gzip") -> Layer:
    """One layer blob holding ``entries``."""
    with store.write_blob() as writer:
        info = write_layer(list(entries), writer, compression)
    return Layer.written(info)


def put_image(
    store: Store,
    layers: Sequence[Layer],
    *,
    config: ContainerConfig | None = None,
    platform: Platform = AMD64,
    created: str | None = None,
) -> Descriptor:
    """The config and manifest of an image made of ``layers`` (bottom first), untagged."""
    image_config = ImageConfig(
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant,
        config=config or ContainerConfig(),
        diff_ids=tuple(layer.diff_id for layer in layers),
        created=created,
    )
    data = image_config.to_bytes()
    config_desc = Descriptor(mt.OCI_CONFIG, store.put_bytes(data), len(data))
    manifest = Manifest(config=config_desc, layers=tuple(layer.descriptor for layer in layers))
    return store.put_manifest(manifest, platform)


def store_image(
    store: Store,
    name: str,
    layers: Sequence[Sequence[Entry]],
    config: ContainerConfig | None = None,
    *,
    platform: Platform = AMD64,
    compression: Compression = "gzip",
) -> Descriptor:
    """Write an image with one layer per entry list into ``store`` and tag it ``name``."""
    written = [put_layer(store, entries, compression) for entries in layers]
    desc = put_image(store, written, config=config, platform=platform)
    store.tag(name, desc)
    return desc


def copy_images(source_root: Path, store: Store, names: tuple[str, ...]) -> list[Descriptor]:
    """Copy the images ``names`` of the store at ``source_root`` into ``store``, same tags.

    A store is an OCI layout, so this is the import a user's ``copy oci:DIR:NAME`` does,
    every blob checked by digest on the way.
    """
    copied = []
    for name in names:
        desc = import_layout(store, source_root, name)
        store.tag(name, desc)
        copied.append(desc)
    return copied
