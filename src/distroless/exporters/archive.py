"""``type=oci`` and ``type=docker``: the image as a tarball, written by ``save``'s writer.

``oci`` is an OCI image layout tar (what ``skopeo inspect oci-archive:`` reads); ``docker``
is what ``docker save`` writes and ``docker load`` accepts.  The names recorded are the
output's ``name=`` or else the build's ``-t`` names; an OCI layout records one name (a
reader such as skopeo wants a layout of one image), a docker archive all of them.  The
image's attachments (SBOM, provenance) stay in the store: ``distroless save`` or ``push``
carries them.
"""

from __future__ import annotations

from typing import IO, BinaryIO, cast

from distroless.oci.models import Descriptor
from distroless.store import Store
from distroless.transports import tarball


def export_archive(
    store: Store, desc: Descriptor, names: tuple[str, ...], out: IO[bytes], fmt: tarball.Format
) -> None:
    """Write image ``desc`` to ``out`` under ``names`` (by digest when there are none)."""
    chosen = list(names[:1] if fmt == "oci" else names) or [str(desc.digest)]
    tarball.save_images(
        store, [(name, desc) for name in chosen], cast(BinaryIO, out), fmt, attachments=False
    )
