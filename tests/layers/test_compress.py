from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zlib
from collections.abc import Callable

import pytest
from backports import zstd

from distroless.errors import ArchiveError
from distroless.layers.compress import (
    DECOMPRESS_ERRORS,
    FEED_CHUNK,
    Codec,
    CompressingWriter,
    Compression,
    check_compression,
    open_decompressed,
    open_decompressor,
)

DATA = os.urandom(FEED_CHUNK // 2) + b"compressible " * 100_000


def _compress(data: bytes, compression: Compression, step: int, level: int | None = None) -> bytes:
    out = io.BytesIO()
    writer = CompressingWriter(out, compression, level)
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
    writer.close()
    return out.getvalue()


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_round_trip(compression: Compression) -> None:
    blob = _compress(DATA, compression, 65536)
    assert open_decompressed(io.BytesIO(blob)).read() == DATA


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_output_does_not_depend_on_write_sizes(compression: Compression) -> None:
    blobs = {_compress(DATA, compression, step) for step in (101, 4096, 999_999, len(DATA))}
    assert len(blobs) == 1


def test_gzip_header_is_fixed() -> None:
    blob = _compress(b"abc", "gzip", 10)
    # magic, deflate, no flags (so no file name), mtime 0, xfl 0 at level 6, OS unknown
    assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    assert gzip.decompress(blob) == b"abc"


def test_gzip_level_changes_output_and_stays_valid() -> None:
    fast = _compress(DATA, "gzip", 65536, level=1)
    best = _compress(DATA, "gzip", 65536, level=9)
    assert fast != best
    assert fast[8] == 4 and best[8] == 2
    assert zlib.decompress(best, 31) == DATA


def test_zstd_is_one_frame_with_checksum() -> None:
    blob = _compress(DATA, "zstd", 65536)
    info = zstd.get_frame_info(blob)
    assert zstd.get_frame_size(blob) == len(blob)
    assert info.decompressed_size is None  # streamed: no content size recorded
    assert zstd.decompress(blob) == DATA


def test_open_decompressed_reads_a_non_seekable_stream() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self._data.read(min(len(buffer), 3))
            buffer[: len(chunk)] = chunk
            return len(chunk)

        def seekable(self) -> bool:
            return False

    for compression in ("gzip", "zstd", "none"):
        blob = _compress(b"hello layer", compression, 5)
        assert open_decompressed(Pipe(blob)).read() == b"hello layer"  # type: ignore[arg-type]


def test_tiny_plain_input() -> None:
    assert open_decompressed(io.BytesIO(b"ab")).read() == b"ab"
    assert open_decompressed(io.BytesIO(b"")).read() == b""


def test_unknown_compression_name() -> None:
    with pytest.raises(ArchiveError, match="'xz'"):
        check_compression("xz")
    with pytest.raises(ValueError, match="xz"):
        CompressingWriter(io.BytesIO(), "xz")  # type: ignore[arg-type]


_CODECS: dict[Codec, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "zstd": zstd.compress,
    "xz": lzma.compress,
    "bzip2": bz2.compress,
    "none": lambda data: data,
}


@pytest.mark.parametrize("codec", list(_CODECS))
def test_every_codec_opens_through_the_one_opener(codec: Codec) -> None:
    data = os.urandom(5000) * 3
    stream = open_decompressor(io.BytesIO(_CODECS[codec](data)), codec)
    assert stream.read() == data


@pytest.mark.parametrize("codec", [c for c in _CODECS if c != "none"])
def test_a_truncated_stream_raises_one_of_the_decompress_errors(codec: Codec) -> None:
    packed = _CODECS[codec](os.urandom(5000))
    with pytest.raises(DECOMPRESS_ERRORS):
        open_decompressor(io.BytesIO(packed[: len(packed) // 2]), codec).read()
