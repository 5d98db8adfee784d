"""Reading what a registry sends, with a ceiling: no answer can fill our memory.

A registry is untrusted input.  Documents (error bodies, token answers, manifests) are read
whole but only up to a limit that no honest registry comes near; blob streams are cut at
the size their descriptor declares.  We always ask for ``identity`` encoding; a
``Content-Encoding`` the server applies anyway is decoded here in bounded steps, so a small
gzip bomb is refused once its output passes the limit instead of expanding in memory.
Text a registry sends that ends up in an error message passes :func:`printable` first, so
an error stays one line and cannot drive the user's terminal.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

import httpx

from distroless.errors import DistrolessError, RegistryError

ERROR_LIMIT = 64 * 1024  # an error body is only read for its first message
TOKEN_LIMIT = 1 << 20  # token answers are JSON with one JWT: a few kilobytes
DOCUMENT_LIMIT = 4 << 20  # manifests and indexes: the distribution spec's own ceiling
_PIECE = 256 * 1024  # the most one decoding step may produce


def printable(text: str, limit: int = 200) -> str:
    """``text`` on one line, without control characters, at most ``limit`` characters."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


class _Inflater:
    """A gzip or deflate decoder that never produces more than :data:`_PIECE` at once."""

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        self._d = zlib.decompressobj(zlib.MAX_WBITS if self._deflate else zlib.MAX_WBITS | 16)
        # "deflate" is often sent raw, without its zlib header: until the first output the
        # input is kept, to be decoded again as raw deflate if the header proves wrong.
        self._head: bytearray | None = bytearray() if self._deflate else None

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._head is not None:
            self._head += data
        while not self._d.eof:
            try:
                out = self._d.decompress(data, _PIECE)
            except zlib.error:
                if self._head is None:
                    raise
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                data, self._head = bytes(self._head), None
                continue
            if out or (self._head is not None and len(self._head) > _PIECE):
                self._head = None
            data = self._d.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < _PIECE:
                return  # input used up and nothing held back: wait for the next chunk


def _decoder(resp: httpx.Response, what: str) -> Callable[[bytes], Iterable[bytes]] | None:
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater("gzip" if encoding == "x-gzip" else encoding).feed
    raise RegistryError(
        f"{what}: the registry sent Content-Encoding {printable(encoding, 40)!r}, "
        "which is not supported (identity was asked for)"
    )


def _pieces(resp: httpx.Response, what: str) -> Iterator[bytes]:
    if resp.is_stream_consumed:
        # Built in memory (a test transport) and so decoded already; a response that came
        # over a connection is always streamed, and read only here.
        yield resp.content
        return
    feed = _decoder(resp, what)
    for raw in resp.iter_raw():
        if feed is None:
            yield raw
            continue
        try:
            yield from feed(raw)
        except zlib.error:
            raise RegistryError(
                f"{what}: the body is not valid {resp.headers['content-encoding']}"
            ) from None


def iter_capped(
    resp: httpx.Response, limit: int, too_large: Callable[[], DistrolessError], what: str
) -> Iterator[bytes]:
    """The decoded body in pieces; ``too_large()`` is raised before byte ``limit + 1``."""
    declared = resp.headers.get("content-length", "")
    if "content-encoding" not in resp.headers and declared.isdigit() and int(declared) > limit:
        raise too_large()
    produced = 0
    for piece in _pieces(resp, what):
        produced += len(piece)
        if produced > limit:
            raise too_large()
        yield piece


def read_capped(
    resp: httpx.Response, limit: int, too_large: Callable[[], DistrolessError], what: str
) -> bytes:
    """The whole decoded body, refused with ``too_large()`` beyond ``limit`` bytes."""
    return b"".join(iter_capped(resp, limit, too_large, what))


def read_prefix(resp: httpx.Response, limit: int = ERROR_LIMIT) -> bytes:
    """At most ``limit`` bytes from the start of a body (an error's); the rest is never read.

    Whatever goes wrong while reading it only shortens the prefix: the caller is already
    reporting a failure and must report that one.
    """
    buf = bytearray()
    try:
        for piece in _pieces(resp, "an error answer"):
            buf += piece[: limit - len(buf)]
            if len(buf) >= limit:
                break
    except (httpx.HTTPError, httpx.StreamError, RegistryError):
        pass
    return bytes(buf)
