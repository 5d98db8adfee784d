"""The Debian packages a base image already holds, read from its ``status.d``.

Adding packages to a base resolves against these: what the base holds satisfies
dependencies, so only what is missing becomes a layer.  The base is read once per
manifest digest and process; a python3 base is a few tens of MB, read in well under a
second.
"""

from __future__ import annotations

import threading
from typing import BinaryIO

from distroless.debian.deb822 import parse_paragraphs
from distroless.debian.resolver import Package
from distroless.errors import DebianError, InputError
from distroless.store import Store, StoredImage
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle
from distroless.verify.packages import status_entries

_CACHE: dict[str, tuple[Package, ...]] = {}
_LOCK = threading.Lock()


def image_view(store: Store, image: StoredImage) -> FileSystemView:
    """The merged file system of a stored image, for reading a few files of it."""
    layers = image.layers

    def open_layer(index: int) -> BinaryIO:
        return store.open_blob(layers[index].digest)

    handle = ImageHandle(
        name=image.name,
        digest=image.digest,
        config=image.config,
        layers=layers,
        open_layer=open_layer,
    )
    return FileSystemView.from_image(handle)


def installed_packages(store: Store, image: StoredImage) -> tuple[Package, ...]:
    """Every package the image's ``status.d`` declares installed, sorted by name."""
    with _LOCK:
        found = _CACHE.get(image.digest)
    if found is not None:
        return found
    fs = image_view(store, image)
    entries = status_entries(fs)
    contents = fs.read_many(entries, limit=1 << 20)
    packages: dict[str, Package] = {}
    for path in entries:
        if path not in contents:
            continue
        try:
            paragraphs = parse_paragraphs(contents[path].decode("utf-8", "replace"), path)
            if not paragraphs:
                continue
            status = paragraphs[0].get("Status", "install ok installed").split()
            if "installed" not in status:
                continue
            package = Package.from_paragraph(paragraphs[0])
        except DebianError as exc:
            raise InputError(f"base image {image.name}: {exc}") from None
        packages[package.name] = package
    result = tuple(packages[name] for name in sorted(packages))
    with _LOCK:
        _CACHE[image.digest] = result
    return result
