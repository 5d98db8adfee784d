"""``build --label KEY=VALUE``: labels set on a built image, after the Dockerfile's own.

Docker (and BuildKit's Dockerfile frontend) merge the command line's labels into the final
image config last, so they override a ``LABEL`` of the same key, and record no history
entry for them.  The image is rewritten here, config and manifest, after the build, so the
build cache stays the same with or without ``--label``; an index gets the labels on every
platform.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor
from distroless.store import Store
from distroless.transports.attachments import is_attachment


def with_labels(store: Store, desc: Descriptor, labels: Mapping[str, str]) -> Descriptor:
    """The image ``desc`` with ``labels`` added to its config (``desc`` when none)."""
    if not labels:
        return desc
    if mt.is_index(desc.media_type):
        index = store.read_index(desc)
        entries = tuple(
            e
            if is_attachment(e) or not mt.is_manifest(e.media_type)
            else _relabel(store, e, labels)
            for e in index.manifests
        )
        new = store.put_index(dataclasses.replace(index, manifests=entries))
        return dataclasses.replace(new, annotations=desc.annotations, platform=desc.platform)
    return _relabel(store, desc, labels)


def _relabel(store: Store, desc: Descriptor, labels: Mapping[str, str]) -> Descriptor:
    manifest = store.read_manifest(desc)
    config, _ = store.read_config(manifest)
    merged = {**config.config.labels, **labels}
    container = dataclasses.replace(config.config, labels=merged)
    data = dataclasses.replace(config, config=container).to_bytes()
    new_config = dataclasses.replace(manifest.config, digest=store.put_bytes(data), size=len(data))
    new = store.put_manifest(dataclasses.replace(manifest, config=new_config), desc.platform)
    return dataclasses.replace(new, annotations=desc.annotations)


__all__ = ["with_labels"]
