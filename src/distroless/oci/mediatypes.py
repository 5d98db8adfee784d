"""Media types of the OCI and Docker v2 families, and which family each belongs to.

A manifest must not mix families (an OCI manifest listing Docker layer types confuses
some registries), so conversions go through :func:`layer_type_for`.
"""

from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})

_LAYER_BY_COMPRESSION: dict[tuple[str, str], str] = {
    ("oci", "none"): OCI_LAYER,
    ("oci", "gzip"): OCI_LAYER_GZIP,
    ("oci", "zstd"): OCI_LAYER_ZSTD,
    ("docker", "none"): DOCKER_LAYER,
    ("docker", "gzip"): DOCKER_LAYER_GZIP,
}


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def family_of(media_type: str) -> str:
    """``"oci"`` or ``"docker"``."""
    return "docker" if media_type.startswith("application/vnd.docker.") else "oci"


def compression_of(media_type: str) -> str:
    """``"gzip"``, ``"zstd"`` or ``"none"`` for a layer media type."""
    if media_type.endswith("gzip"):
        return "gzip"
    if media_type.endswith("zstd"):
        return "zstd"
    return "none"


def layer_type_for(family: str, compression: str) -> str:
    try:
        return _LAYER_BY_COMPRESSION[(family, compression)]
    except KeyError:
        raise ValueError(f"no {family} layer media type for compression {compression!r}") from None
