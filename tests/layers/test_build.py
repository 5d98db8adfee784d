from __future__ import annotations

import hashlib
import io

import pytest

from distroless.layers.build import LayerInfo, media_type, write_layer
from distroless.layers.compress import Compression, open_decompressed
from distroless.layers.entry import Entry
from distroless.oci import mediatypes

ENTRIES = [
    Entry.file("app/main.py", b"print('hi')\n" * 1000, mode=0o755),
    Entry.file("app/data.bin", bytes(range(256)) * 100),
    Entry.symlink("usr/bin/app", "/app/main.py"),
]


def _layer(compression: Compression) -> tuple[LayerInfo, bytes]:
    sink = io.BytesIO()
    info = write_layer(ENTRIES, sink, compression)
    return info, sink.getvalue()


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_digest_and_diff_id_match_hashlib(compression: Compression) -> None:
    info, blob = _layer(compression)
    tar = open_decompressed(io.BytesIO(blob)).read()
    assert info.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert info.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert info.size == len(blob)
    assert info.uncompressed_size == len(tar)
    assert info.compression == compression


def test_diff_id_is_independent_of_compression() -> None:
    ids = {_layer(c)[0].diff_id for c in ("gzip", "zstd", "none")}
    assert len(ids) == 1
    plain, _ = _layer("none")
    assert plain.digest == plain.diff_id


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_two_runs_same_digest(compression: Compression) -> None:
    first, blob1 = _layer(compression)
    second, blob2 = _layer(compression)
    assert first == second
    assert blob1 == blob2
    assert first.digest != first.diff_id


def test_media_types() -> None:
    gz, _ = _layer("gzip")
    zs, _ = _layer("zstd")
    assert media_type(gz) == mediatypes.OCI_LAYER_GZIP
    assert media_type(gz, "docker") == mediatypes.DOCKER_LAYER_GZIP
    assert media_type(zs) == mediatypes.OCI_LAYER_ZSTD
    with pytest.raises(ValueError, match="zstd"):
        media_type(zs, "docker")
