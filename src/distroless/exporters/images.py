"""The single-platform images an exported descriptor stands for."""

from __future__ import annotations

from distroless.oci import mediatypes as mt
from distroless.oci.models import Platform
from distroless.store import Store, StoredImage
from distroless.transports.attachments import is_attachment


def platform_images(store: Store, digest: str) -> list[tuple[Platform, StoredImage]]:
    """Each image of ``digest`` with its platform: one for a manifest, one per platform of
    an index (attachments such as SBOMs and attestations are not images and are skipped)."""
    desc = store.resolve(digest)
    if not mt.is_index(desc.media_type):
        image = store.load_image(digest)
        return [(image.config.platform, image)]
    out = []
    for entry in store.read_index(desc).manifests:
        if is_attachment(entry) or not mt.is_manifest(entry.media_type):
            continue
        if entry.platform is not None and entry.platform.os == "unknown":
            continue  # BuildKit's attestation manifests
        image = store.load_image(entry.digest)
        out.append((image.config.platform, image))
    return out


def platform_dir(platform: Platform) -> str:
    """``linux_amd64``, ``linux_arm_v7``: buildx's directory name for one platform."""
    return str(platform).replace("/", "_")
