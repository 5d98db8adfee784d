"""Deterministic layer compression, and the one decompressor opener on the way back in.

Two runs over the same uncompressed bytes must give the same compressed bytes, or a
rebuilt image gets a new digest for nothing.  Three things can break that and are pinned
here: the gzip header (mtime, file name and OS byte are written by hand, always the
same), the compression level (fixed per call, never the library's moving default), and the
way input is fed to the compressor (always re-cut into fixed-size chunks, so the output
cannot depend on how the caller happened to split its writes).  zstd runs single-threaded
for the same reason: worker threads cut the input wherever they are scheduled.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import zlib
from typing import BinaryIO, Literal, Protocol, cast

from backports import zstd

from distroless.errors import ArchiveError
from distroless.oci.digest import Writable

Compression = Literal["gzip", "zstd", "none"]
COMPRESSIONS: tuple[Compression, ...] = ("gzip", "zstd", "none")
#: what a stream read back may be compressed with: a layer's compressions, and the xz and
#: bzip2 of Debian's indices, packages and the archives ``ADD`` unpacks
Codec = Literal["gzip", "zstd", "xz", "bzip2", "none"]

# zlib level 6 is the knee of the speed/size curve.  On a mixed 200 MB tree (see
# bench/bench_layering.py) level 9 ran about five times slower for 1% smaller output, and
# level 1, while two to three times faster on an idle machine, gave 7% larger layers.  A
# layer is compressed once (it is cached by content) but downloaded many times, so the
# middle wins; 6 is also the default of Go's and Python's gzip, the layers users pull today.
DEFAULT_GZIP_LEVEL = 6
# zstd's own default: faster than gzip -6 and smaller, the level registries expect.
DEFAULT_ZSTD_LEVEL = 3

FEED_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# OS byte 255 ("unknown"): zlib would write the build host's OS, which is not an input.
_GZIP_OS_UNKNOWN = 255


class _Encoder(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _GzipEncoder:
    """Single-member gzip with a fixed header, built on raw deflate."""

    def __init__(self, level: int) -> None:
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8)
        self._crc = 0
        self._size = 0
        xfl = 2 if level == 9 else 4 if level == 1 else 0
        self._header: bytes | None = (
            GZIP_MAGIC + b"\x08\x00" + b"\x00\x00\x00\x00" + bytes([xfl, _GZIP_OS_UNKNOWN])
        )

    def _take_header(self) -> bytes:
        header, self._header = self._header, None
        return header or b""

    def compress(self, data: bytes) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        return self._take_header() + self._deflate.compress(data)

    def finish(self) -> bytes:
        tail = self._deflate.flush(zlib.Z_FINISH)
        trailer = struct.pack("<II", self._crc & 0xFFFFFFFF, self._size & 0xFFFFFFFF)
        return self._take_header() + tail + trailer


class _ZstdEncoder:
    def __init__(self, level: int) -> None:
        self._zstd = zstd.ZstdCompressor(
            options={
                zstd.CompressionParameter.compression_level: level,
                zstd.CompressionParameter.checksum_flag: 1,
                zstd.CompressionParameter.content_size_flag: 0,
                zstd.CompressionParameter.nb_workers: 0,
            }
        )

    def compress(self, data: bytes) -> bytes:
        return bytes(self._zstd.compress(data))

    def finish(self) -> bytes:
        return bytes(self._zstd.flush(zstd.ZstdCompressor.FLUSH_FRAME))


class CompressingWriter:
    """Write-only file object that compresses into ``sink``; :meth:`close` finishes the stream.

    ``close`` does not close ``sink``: the caller owns it (it may be a hashing wrapper
    around a temporary file in the store).
    """

    def __init__(self, sink: Writable, compression: Compression, level: int | None = None) -> None:
        self._sink = sink
        self.compression = compression
        self._encoder: _Encoder | None
        if compression == "gzip":
            self.level: int | None = DEFAULT_GZIP_LEVEL if level is None else level
            self._encoder = _GzipEncoder(self.level)
        elif compression == "zstd":
            self.level = DEFAULT_ZSTD_LEVEL if level is None else level
            self._encoder = _ZstdEncoder(self.level)
        elif compression == "none":
            self.level = None
            self._encoder = None
        else:
            raise ValueError(f"unknown compression {compression!r}")
        self._pending = bytearray()
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed CompressingWriter")
        n = len(data)
        if self._encoder is None:
            self._sink.write(bytes(data))
            return n
        self._pending += data
        if len(self._pending) >= FEED_CHUNK:
            whole = len(self._pending) - len(self._pending) % FEED_CHUNK
            with memoryview(self._pending) as view:  # released even if the sink fails
                for start in range(0, whole, FEED_CHUNK):
                    out = self._encoder.compress(bytes(view[start : start + FEED_CHUNK]))
                    if out:
                        self._sink.write(out)
            del self._pending[:whole]
        return n

    def flush(self) -> None:
        """Nothing is forced out early: a mid-stream flush would change the bytes."""

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._encoder is None:
            return
        out = self._encoder.compress(bytes(self._pending)) if self._pending else b""
        self._pending.clear()
        self._sink.write(out + self._encoder.finish())

    def __enter__(self) -> CompressingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()


class _Prefixed(io.RawIOBase):
    """Replays the few sniffed bytes, then reads on from the original stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_up_to(fileobj: BinaryIO, n: int) -> bytes:
    """``n`` bytes of ``fileobj``, fewer only at its end: a decompressor's ``read`` may
    return less than asked before the end."""
    data = b""
    while len(data) < n:
        chunk = fileobj.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def detect_compression(head: bytes) -> Compression:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def open_decompressor(raw: BinaryIO, codec: Codec) -> BinaryIO:
    """A streaming reader of ``raw`` decompressed with ``codec``: the one place a
    compressed stream is opened, whoever decided the codec (magic bytes, a file name)."""
    if codec == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    if codec == "zstd":
        return cast(BinaryIO, zstd.ZstdFile(raw, mode="rb"))
    if codec == "xz":
        return cast(BinaryIO, lzma.LZMAFile(raw, mode="rb"))
    if codec == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(raw, mode="rb"))
    return raw


def open_decompressed(fileobj: BinaryIO) -> BinaryIO:
    """A streaming reader of ``fileobj``'s content, gunzipped or unzstd'ed by magic bytes.

    Only ``read`` is used on ``fileobj``, so pipes and HTTP bodies work; the layer's
    media type is not trusted because registries and archives mislabel layers.
    """
    head = read_up_to(fileobj, 4)
    raw = io.BufferedReader(_Prefixed(head, fileobj), buffer_size=1 << 16)
    return open_decompressor(raw, detect_compression(head))


#: what a decompressor raises on a damaged stream (bzip2 raises OSError and EOFError)
DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error,
    gzip.BadGzipFile,
    EOFError,
    zstd.ZstdError,
    lzma.LZMAError,
)


def check_compression(value: str) -> Compression:
    """Validate a user-supplied compression name at the boundary."""
    if value not in COMPRESSIONS:
        raise ArchiveError(f"unknown layer compression {value!r}: use gzip, zstd or none")
    return value
