"""PEM armour as Go writes and reads it."""

from __future__ import annotations

import base64

import pytest

from distroless import pem
from distroless.errors import InputError


def test_encode_wraps_at_64_like_go() -> None:
    data = bytes(range(100))
    text = pem.encode("PUBLIC KEY", data).decode()
    lines = text.splitlines()
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    assert lines[-1] == "-----END PUBLIC KEY-----"
    assert [len(x) for x in lines[1:-1]] == [64, 64, 8]  # 136 base64 characters
    assert text.endswith("-----\n")
    assert base64.b64decode("".join(lines[1:-1])) == data


def test_round_trip_and_text_between_blocks() -> None:
    bundle = b"# comment\n" + pem.encode("A", b"one") + b"junk\r\n" + pem.encode("B", b"two")
    blocks = list(pem.iter_blocks(bundle, source="bundle"))
    assert [(b.label, b.data) for b in blocks] == [("A", b"one"), ("B", b"two")]
    assert pem.decode_first(bundle, source="bundle").label == "A"
    crlf = pem.encode("C", b"x" * 80).replace(b"\n", b"\r\n")
    assert pem.decode_first(crlf, source="c").data == b"x" * 80


def test_errors_name_the_source() -> None:
    with pytest.raises(InputError, match="key.pub is not PEM"):
        pem.decode_first(b"nothing", source="key.pub")
    with pytest.raises(InputError, match="BEGIN A ends with END B"):
        pem.decode_first(b"-----BEGIN A-----\nAAAA\n-----END B-----\n", source="f")
    with pytest.raises(InputError, match="headers"):
        pem.decode_first(
            b"-----BEGIN A-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END A-----\n", source="f"
        )
    with pytest.raises(InputError, match="not valid base64"):
        pem.decode_first(b"-----BEGIN A-----\nA*AA\n-----END A-----\n", source="f")
