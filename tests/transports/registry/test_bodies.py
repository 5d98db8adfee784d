"""Capped body reading: honest encoded bodies decode exactly, oversized ones are refused."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest

from distroless.errors import IntegrityError, RegistryError
from distroless.transports.registry.bodies import (
    iter_capped,
    printable,
    read_capped,
    read_prefix,
)

DATA = bytes(range(256)) * 4000  # a million bytes that compress well but not to nothing


class _Chunks(httpx.SyncByteStream):
    def __init__(self, data: bytes, size: int = 1000) -> None:
        self.data, self.size = data, size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.data), self.size):
            yield self.data[i : i + self.size]


def response(body: bytes, encoding: str | None = None, chunk: int = 1000) -> httpx.Response:
    headers = {"Content-Encoding": encoding} if encoding else {}
    return httpx.Response(200, headers=headers, stream=_Chunks(body, chunk))


def too_large() -> IntegrityError:
    return IntegrityError("too large")


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        (None, DATA),
        ("identity", DATA),
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("deflate", zlib.compress(DATA)),
        ("deflate", raw_deflate(DATA)),
    ],
)
def test_encoded_bodies_decode_exactly(encoding: str | None, body: bytes) -> None:
    for chunk in (1, 1000, 1 << 20):
        got = read_capped(response(body, encoding, chunk), len(DATA), too_large, "test")
        assert got == DATA


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_one_byte_over_the_limit_is_refused(encoding: str | None) -> None:
    body = gzip.compress(DATA) if encoding else DATA
    with pytest.raises(IntegrityError, match="too large"):
        read_capped(response(body, encoding), len(DATA) - 1, too_large, "test")


def test_decoded_pieces_stay_small() -> None:
    bomb = gzip.compress(bytes(64 << 20))
    pieces = iter_capped(response(bomb, "gzip", 1 << 20), 64 << 20, too_large, "test")
    assert max(len(p) for p in pieces) <= 256 * 1024


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    resp = httpx.Response(200, headers={"Content-Length": str(1 << 40)}, stream=_Chunks(b""))
    with pytest.raises(IntegrityError):
        next(iter_capped(resp, 100, too_large, "test"))


def test_unknown_or_broken_encodings_are_errors() -> None:
    with pytest.raises(RegistryError, match="Content-Encoding 'br'"):
        read_capped(response(DATA, "br"), len(DATA), too_large, "test")
    with pytest.raises(RegistryError, match="not valid gzip"):
        read_capped(response(b"not gzip at all", "gzip"), len(DATA), too_large, "test")


def test_error_prefix_is_bounded_and_never_fails() -> None:
    assert read_prefix(response(DATA), 10) == DATA[:10]
    assert read_prefix(response(gzip.compress(DATA), "gzip"), 300) == DATA[:300]
    assert read_prefix(response(b"garbage", "gzip")) == b""


def test_printable_makes_one_short_line() -> None:
    assert printable("a\nb\x1b[2J\u202ec") == "a?b?[2J?c"
    assert printable("x" * 500, 10) == "x" * 9 + "…"
