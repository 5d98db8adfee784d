"""``--iidfile`` and ``--metadata-file``: the build's identity, as docker and buildx write it.

The image id is what ``docker images`` shows: the config digest of a single-platform
image (docker 20.10+ with BuildKit, and buildx, write that), and the index digest for a
multi-platform build, which has no one config (buildx writes the index digest then).
The metadata file holds buildx's keys: ``containerimage.digest`` (the manifest or index
digest, what a registry addresses), ``containerimage.config.digest`` (single-platform
images only, as buildx), ``containerimage.descriptor`` and ``image.name`` (the ``-t``
names, fully qualified and comma-separated; absent without ``-t``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distroless.exporters.destination import write_destination
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor
from distroless.oci.reference import Reference
from distroless.store import Store


def image_id(store: Store, desc: Descriptor) -> str:
    """``docker build --iidfile``'s value for the image ``desc``."""
    if mt.is_index(desc.media_type):
        return str(desc.digest)
    return str(store.read_manifest(desc).config.digest)


def build_metadata(store: Store, desc: Descriptor, names: Sequence[str]) -> dict[str, Any]:
    """The JSON object ``--metadata-file`` holds (buildx's keys)."""
    plain = Descriptor(desc.media_type, desc.digest, desc.size, desc.annotations)
    out: dict[str, Any] = {
        "containerimage.digest": str(desc.digest),
        "containerimage.descriptor": plain.to_dict(),
    }
    if not mt.is_index(desc.media_type):
        out["containerimage.config.digest"] = image_id(store, desc)
    if names:
        out["image.name"] = ",".join(str(Reference.parse(n)) for n in names)
    return out


def write_iidfile(store: Store, desc: Descriptor, path: Path) -> None:
    write_destination(path, image_id(store, desc).encode())


def write_metadata_file(store: Store, desc: Descriptor, names: Sequence[str], path: Path) -> None:
    data = json.dumps(build_metadata(store, desc, names), indent=2, sort_keys=True)
    write_destination(path, (data + "\n").encode())
