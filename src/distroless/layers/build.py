"""One streaming pass from entries to a finished layer blob and its two digests.

A layer has two identities: ``digest`` (of the compressed blob, what manifests and
registries address) and ``diff_id`` (of the uncompressed tar, what the image config's
``rootfs`` lists).  Both are computed while the bytes flow, tar -> hash -> compressor ->
hash -> sink, so no layer is ever held in memory or read twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from distroless.layers.compress import CompressingWriter, Compression, check_compression
from distroless.layers.entry import Entry
from distroless.layers.tarwriter import write_tar
from distroless.oci.digest import Digest, HashingWriter, Writable
from distroless.oci.mediatypes import layer_type_for


@dataclass(frozen=True)
class LayerInfo:
    """What writing one layer blob measured.

    Invariants: ``digest`` and ``size`` are of the blob as written (compressed);
    ``diff_id`` and ``uncompressed_size`` are of the tar inside it, and equal the former
    when ``compression`` is ``"none"``.  The same entries and settings give the same values.
    """

    digest: Digest
    diff_id: Digest
    size: int
    uncompressed_size: int
    compression: str


def write_layer(
    entries: Iterable[Entry],
    sink: Writable,
    compression: Compression = "gzip",
    *,
    source_date_epoch: int = 0,
    level: int | None = None,
) -> LayerInfo:
    """Write the layer blob for ``entries`` to ``sink`` and describe it.

    ``sink`` is neither flushed nor closed; the store does that as part of its atomic
    write.  With ``compression="none"`` digest and diff_id are equal.
    """
    check_compression(compression)
    if compression == "none":  # one hash serves both: the blob is the tar
        tar_bytes = blob = HashingWriter(sink)
        write_tar(entries, tar_bytes, source_date_epoch=source_date_epoch)
    else:
        blob = HashingWriter(sink)
        compressor = CompressingWriter(blob, compression, level)
        tar_bytes = HashingWriter(compressor)
        write_tar(entries, tar_bytes, source_date_epoch=source_date_epoch)
        compressor.close()
    return LayerInfo(
        digest=blob.digest,
        diff_id=tar_bytes.digest,
        size=blob.size,
        uncompressed_size=tar_bytes.size,
        compression=compression,
    )


def media_type(info: LayerInfo, family: str = "oci") -> str:
    """The layer media type for ``info`` in the manifest family ``"oci"`` or ``"docker"``."""
    return layer_type_for(family, info.compression)
