"""Streaming iteration over a layer blob, bounded so a hostile layer cannot exhaust us.

Layers come from registries and tarballs we do not control.  ``tarfile`` would read a
PAX or GNU long-name header of any announced size into memory, and a small gzip can
inflate into billions of entries; :class:`Limits` caps both before the data is read.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import IO, BinaryIO, cast

from distroless.errors import ArchiveError, InputError
from distroless.layers.compress import DECOMPRESS_ERRORS, open_decompressed

#: The environment variable that sets :attr:`Limits.max_total_bytes` of one layer.
MAX_LAYER_BYTES_ENV = "DISTROLESS_MAX_LAYER_BYTES"
#: Content one layer may expand to by default.  The largest layers of real images (CUDA,
#: model-serving bases) stay below 10 GiB; a few hundred kilobytes of zstd can announce
#: and deliver far more than that, and every byte of it would land on the disk.
DEFAULT_MAX_LAYER_BYTES = 32 << 30


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one archive; the defaults are far above any real image.

    ``max_total_bytes`` defaults to what an archive of many layers (an image tarball) may
    hold; a single layer is held to :data:`DEFAULT_LAYER_LIMITS` (see :func:`layer_limits`).
    """

    max_entries: int = 2_000_000
    max_header_bytes: int = 1 << 20
    max_name_length: int = 4096
    max_total_bytes: int = 1 << 40


DEFAULT_LIMITS = Limits()
DEFAULT_LAYER_LIMITS = Limits(max_total_bytes=DEFAULT_MAX_LAYER_BYTES)

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, what: str) -> int:
    """``"34359738368"``, ``"32G"`` or ``"32GiB"`` as bytes (binary units)."""
    match = _SIZE_RE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise InputError(
            f"{what}: {text!r} is not a positive size in bytes (e.g. 34359738368 or 32GiB)"
        )
    unit = (match.group(2) or "")[:1].lower()
    return int(match.group(1)) * _UNITS[unit]


def layer_limits(environ: Mapping[str, str] | None = None) -> Limits:
    """The limits for unpacking layers: the defaults, with ``DISTROLESS_MAX_LAYER_BYTES``.

    Read when a layer is opened rather than at import, so the variable works for the
    command line and for library users alike, and a bad value is one clear error.
    """
    env = os.environ if environ is None else environ
    raw = env.get(MAX_LAYER_BYTES_ENV)
    if not raw:
        return DEFAULT_LAYER_LIMITS
    return replace(DEFAULT_LAYER_LIMITS, max_total_bytes=parse_size(raw, MAX_LAYER_BYTES_ENV))


_READ_ERRORS: tuple[type[BaseException], ...] = (tarfile.TarError, OSError, *DECOMPRESS_ERRORS)

_LONG_HEADER_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)


def bounded_tarinfo(limits: Limits) -> type[tarfile.TarInfo]:
    """A ``tarinfo`` class for :func:`tarfile.open` that refuses oversized PAX/GNU headers.

    Every tar reader of untrusted input (layers, .debs, image archives) passes it, since
    ``tarfile`` reads such a header whole into memory at whatever size it announces.
    """

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type in _LONG_HEADER_TYPES and self.size > limits.max_header_bytes:
                raise ArchiveError(
                    f"tar entry header of {self.size} bytes at offset {self.offset} exceeds "
                    f"the limit of {limits.max_header_bytes}"
                )
            return cast(tarfile.TarInfo, super()._proc_member(archive))  # type: ignore[misc]

    return BoundedTarInfo


class _EntryContent:
    """An entry's content stream that reports a corrupt layer as :class:`ArchiveError`.

    The caller reads content in its own frame, outside the iterator's error handling,
    so the translation has to travel with the stream.
    """

    def __init__(self, name: str, stream: IO[bytes]) -> None:
        self.name = name
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except _READ_ERRORS as exc:
            raise ArchiveError(
                f"layer is corrupt or truncated inside entry {self.name!r}: {exc}"
            ) from exc

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()


def iter_layer(
    fileobj: BinaryIO, *, limits: Limits | None = None
) -> Iterator[tuple[tarfile.TarInfo, BinaryIO | None]]:
    """Yield each member and, for regular files, a stream of its content.

    The content stream is only valid until the next member is requested (the layer is
    read strictly forwards).  gzip, zstd and plain tar are told apart by magic bytes.
    Malformed, truncated or oversized input raises :class:`ArchiveError`; without
    ``limits``, :func:`layer_limits` applies.
    """
    if limits is None:
        limits = layer_limits()
    try:
        stream = open_decompressed(fileobj)
        tar = tarfile.open(  # noqa: SIM115 - closed by the ``with`` below
            fileobj=cast(IO[bytes], stream),
            mode="r|",
            tarinfo=bounded_tarinfo(limits),
            encoding="utf-8",
            errors="surrogateescape",
        )
    except ArchiveError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveError(f"layer is not a readable tar: {exc}") from exc
    count = 0
    total = 0
    name = "<start>"
    try:
        with tar:
            while True:
                member = tar.next()
                if member is None:
                    return
                # tarfile remembers every member it has read; a forward-only reader needs
                # none of them, and a layer of millions of empty entries must not fill memory.
                tar.members.clear()  # type: ignore[attr-defined]
                name = member.name
                count += 1
                if count > limits.max_entries:
                    raise ArchiveError(f"layer has more than {limits.max_entries} entries")
                if len(name) > limits.max_name_length or len(member.linkname) > (
                    limits.max_name_length
                ):
                    raise ArchiveError(
                        f"layer entry {name[:80]!r}...: name longer than "
                        f"{limits.max_name_length} characters"
                    )
                if "\x00" in name or "\x00" in member.linkname:
                    raise ArchiveError(f"layer entry {name!r}: NUL byte in a name")
                total += max(member.size, 0)
                if total > limits.max_total_bytes:
                    raise ArchiveError(
                        f"layer content exceeds the limit of {limits.max_total_bytes} bytes "
                        f"at entry {name!r} (set {MAX_LAYER_BYTES_ENV} to raise it)"
                    )
                extracted = tar.extractfile(member) if member.isreg() else None
                content = None if extracted is None else _EntryContent(name, extracted)
                yield member, cast(BinaryIO | None, content)
    except ArchiveError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveError(f"layer is corrupt or truncated after entry {name!r}: {exc}") from exc
