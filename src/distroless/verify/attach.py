"""SBOMs attached to images in the store, as OCI 1.1 artifacts that name the image as subject.

A build renders the SBOM of what it built and stores it as an artifact manifest: the empty
config ``{}``, one layer holding the SBOM document, ``artifactType`` saying which format,
and ``subject`` pointing at the image manifest.  That is the shape the OCI referrers API
serves, so ``push`` can hand it to a registry unchanged.  In the store it is a root
(``sbom:<subject digest>:<format>``) carrying the subject annotation: it lives exactly as long
as its image, and ``prune`` drops it once the image is gone.

Everything written is a pure function of the image, the format, the added files and
``SOURCE_DATE_EPOCH``: the document names the image by digest (never by a tag that may
move), so the same image always gets the same referrer digest.

Files a build added outside packages (the spec's ``files:``, a Dockerfile's ``COPY``/``ADD``)
are passed to :func:`attach_sbom` as ``added_files``: either :class:`AddedFile` values with the
sha256 the build computed (checked against the image), or plain paths, hashed here from the
finished image.  A path that is a directory stands for every regular file under it; a path
that a later step removed is left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import BinaryIO

from distroless import __version__
from distroless.errors import NotFoundError
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.models import Descriptor, ImageConfig, Index, Manifest
from distroless.store import Store
from distroless.store.referrers import referrers
from distroless.store.store import SUBJECT
from distroless.verify.image import ImageHandle
from distroless.verify.sbom import AddedFile, SbomFormat, render_sbom, timestamp
from distroless.verify.scan import scan_image

__all__ = [
    "ARTIFACT_TYPES",
    "SBOM_ROOT",
    "AddedFile",
    "attach_sbom",
    "attached_sbom",
    "referrers",
    "sbom_artifact",
]

SBOM_ROOT = "sbom"
INPUTS = "io.distroless.sbom.inputs"
ARTIFACT_TYPES: dict[SbomFormat, str] = {
    "spdx-json": "application/spdx+json",
    "cyclonedx-json": "application/vnd.cyclonedx+json",
}
EMPTY_JSON = b"{}"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"
_FILE_NAMES: dict[SbomFormat, str] = {
    "spdx-json": "sbom.spdx.json",
    "cyclonedx-json": "sbom.cyclonedx.json",
}


def _handle(store: Store, desc: Descriptor) -> ImageHandle:
    manifest = store.read_manifest(desc)
    config = ImageConfig.from_bytes(store.read_blob(manifest.config.digest))
    layers = manifest.layers

    def open_layer(index: int) -> BinaryIO:
        return store.open_blob(layers[index].digest)

    # Named by digest only: a tag would make the same image's SBOM differ between names.
    return ImageHandle(f"image@{desc.digest}", desc.digest, config, layers, open_layer)


def sbom_artifact(
    store: Store, subject: Descriptor, sbom: bytes, fmt: SbomFormat, source_date_epoch: int = 0
) -> Manifest:
    """The OCI 1.1 artifact manifest carrying ``sbom`` for ``subject``; its blobs are stored."""
    empty = store.put_bytes(EMPTY_JSON)
    layer = store.put_bytes(sbom)
    return Manifest(
        config=Descriptor(mt.OCI_EMPTY, empty, len(EMPTY_JSON)),
        layers=(
            Descriptor(
                ARTIFACT_TYPES[fmt],
                layer,
                len(sbom),
                annotations={TITLE: _FILE_NAMES[fmt]},
            ),
        ),
        annotations={CREATED: timestamp(source_date_epoch)},
        subject=Descriptor(subject.media_type, subject.digest, subject.size),
        artifact_type=ARTIFACT_TYPES[fmt],
    )


def _manifests(store: Store, desc: Descriptor) -> list[Descriptor]:
    if mt.is_index(desc.media_type):
        return [d for d in Index.from_bytes(store.read_blob(desc.digest)).manifests]
    if mt.is_manifest(desc.media_type):
        return [desc]
    raise NotFoundError(f"{desc.digest} is not an image (media type {desc.media_type})")


def _inputs_key(fmt: str, items: list[AddedFile | str], source_date_epoch: int) -> str:
    """What, besides the image itself, decides the SBOM's bytes (the tool version included)."""
    added = sorted([i.path, i.sha256] if isinstance(i, AddedFile) else [i, ""] for i in items)
    doc = {"tool": __version__, "fmt": fmt, "epoch": source_date_epoch, "added": added}
    return "sha256:" + hashlib.sha256(dumps(doc)).hexdigest()


def attach_sbom(
    store: Store,
    image_desc: Descriptor,
    *,
    fmt: SbomFormat = "spdx-json",
    added_files: Iterable[AddedFile | str] = (),
    source_date_epoch: int = 0,
) -> tuple[Descriptor, ...]:
    """Render and attach the SBOM of each manifest of ``image_desc``; returns the artifacts.

    A manifest gets one artifact; an index gets one per platform manifest, in its order
    (``added_files`` then apply to every platform).  Attaching again replaces the older
    SBOM of the same format.  Call it inside ``store.session()``, like the build itself.
    """
    items = list(added_files)
    inputs = _inputs_key(fmt, items, source_date_epoch)
    attached = []
    for desc in _manifests(store, image_desc):
        known = store.find_root(SBOM_ROOT, f"{desc.digest}:{fmt}")
        if known is not None and known.annotations.get(INPUTS) == inputs:
            # the SBOM is a pure function of these inputs: a rebuild reads no layer again
            attached.append(Descriptor(known.media_type, known.digest, known.size))
            continue
        # one pass over the layers gathers everything (see distroless.verify.scan)
        view = scan_image(_handle(store, desc))
        data = render_sbom(view, fmt, added_files=items, source_date_epoch=source_date_epoch)
        artifact = sbom_artifact(store, desc, data, fmt, source_date_epoch)
        stored = store.put_manifest(artifact)
        store.add_root(
            SBOM_ROOT,
            f"{desc.digest}:{fmt}",
            stored.with_annotations(**{SUBJECT: desc.digest, INPUTS: inputs}),
        )
        attached.append(stored)
    return tuple(attached)


def attached_sbom(store: Store, digest: str, fmt: SbomFormat = "spdx-json") -> bytes | None:
    """The bytes of the SBOM in ``fmt`` attached to manifest ``digest``, if there is one."""
    root = store.find_root(SBOM_ROOT, f"{digest}:{fmt}")
    if root is None:
        return None
    manifest = store.read_manifest(root)
    for layer in manifest.layers:
        if layer.media_type == ARTIFACT_TYPES[fmt] and store.has_blob(layer.digest):
            return store.read_blob(layer.digest)
    return None
