"""The image as the verifiers see it: a name, a digest, a config and openable layers.

Checks, structure tests and SBOMs only need to read an image, never to change it, so they
depend on this small value rather than on the store; tests build one from blobs in a
temporary directory, the CLI builds one from :class:`~distroless.store.Store`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from distroless.oci.digest import Digest
from distroless.oci.models import Descriptor, ImageConfig, Platform

if TYPE_CHECKING:
    from distroless.store import Store


@dataclass(frozen=True)
class ImageHandle:
    """A single-platform image: ``open_layer(i)`` streams the (compressed) blob of layer i."""

    name: str
    digest: Digest
    config: ImageConfig
    layers: tuple[Descriptor, ...]
    open_layer: Callable[[int], BinaryIO]

    @property
    def tag(self) -> str | None:
        """The tag part of ``name`` (``debug-nonroot`` of ``a/b:debug-nonroot``), if any."""
        name = self.name.split("@", 1)[0]
        if name.startswith("sha256:"):
            return None  # the image was named by its digest
        last = name.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else None


def from_store(store: Store, name: str, platform: Platform | None = None) -> ImageHandle:
    """Describe image ``name`` of ``store``; layers are opened from its blobs on demand."""
    stored = store.load_image(name, platform)
    layers = stored.layers

    def open_layer(index: int) -> BinaryIO:
        return store.open_blob(layers[index].digest)

    return ImageHandle(
        name=stored.name,
        digest=stored.digest,
        config=stored.config,
        layers=layers,
        open_layer=open_layer,
    )
