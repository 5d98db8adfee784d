"""PEM armour (RFC 7468) as Go's ``encoding/pem`` writes and reads it.

Keys and CA bundles come in PEM; cosign and skopeo read them with Go's decoder, so what we
write matches its encoder byte for byte (64-column base64 lines, one ``\\n`` after each
line, no headers), and what we read is parsed as strictly as it parses: text between blocks
is ignored, a block whose base64 is broken or whose END label differs is an error.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

from distroless.errors import InputError

_LINE = 64
_BLOCK = re.compile(
    rb"-----BEGIN ([^\r\n-]*)-----[ \t]*\r?\n(.*?)-----END ([^\r\n-]*)-----",
    re.DOTALL,
)


@dataclass(frozen=True)
class PemBlock:
    """One armoured block: its label (``PUBLIC KEY``, ``CERTIFICATE``, ...) and its bytes."""

    label: str
    data: bytes


def encode(label: str, data: bytes) -> bytes:
    """``-----BEGIN LABEL-----``, the base64 of ``data`` in 64-column lines, ``-----END``."""
    text = base64.b64encode(data)
    lines = [text[i : i + _LINE] + b"\n" for i in range(0, len(text), _LINE)]
    head = f"-----BEGIN {label}-----\n".encode()
    tail = f"-----END {label}-----\n".encode()
    return head + b"".join(lines) + tail


def iter_blocks(data: bytes, *, source: str) -> Iterator[PemBlock]:
    """Every block of ``data`` in order; ``source`` names the input in error messages."""
    for match in _BLOCK.finditer(data):
        label = match.group(1).decode("ascii", "replace")
        end = match.group(3).decode("ascii", "replace")
        if end != label:
            raise InputError(f"{source}: PEM block BEGIN {label} ends with END {end}")
        body = match.group(2)
        if b":" in body.split(b"\n", 1)[0]:
            raise InputError(f"{source}: PEM block {label} has headers, which are not supported")
        try:
            raw = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{source}: PEM block {label} is not valid base64") from None
        yield PemBlock(label, raw)


def decode_first(data: bytes, *, source: str) -> PemBlock:
    """The first block of ``data``, as Go's ``pem.Decode`` takes it."""
    for block in iter_blocks(data, source=source):
        return block
    raise InputError(f"{source} is not PEM: no -----BEGIN ...----- block found")
