"""Hypothesis strategies for structured-but-broken input, and the rule every parser keeps.

Random bytes rarely get past a parser's first check, so most inputs here start from a
valid skeleton and are then damaged the way real files get damaged: cut short, a byte
flipped, a span replaced by a huge number, a NUL or odd unicode, a span repeated.

The number of examples scales with ``DISTROLESS_FUZZ_EXAMPLES`` (a multiplier, default
1) so CI stays fast while a long local run can ask for many more cases.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from distroless.errors import DistrolessError

T = TypeVar("T")

SCALE = max(1, int(os.environ.get("DISTROLESS_FUZZ_EXAMPLES", "1") or "1"))


def fuzz_settings(examples: int) -> settings:
    """Bounded settings: ``examples`` times the scale from the environment, no deadline."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )


def result_or_error(fn: Callable[[], T]) -> T | DistrolessError:
    """Run ``fn``; a :class:`DistrolessError` is an accepted outcome, anything else fails."""
    try:
        return fn()
    except DistrolessError as exc:
        assert str(exc), "errors must carry a message"
        return exc


HUGE_NUMBERS = [
    b"99999999999999999999999999",
    b"-1",
    b"18446744073709551616",
    b"77777777777",
    b"1e400",
    b"NaN",
    b"0x7fffffff",
]
ODD_TEXT = [
    "\x00",
    "\ufeff",
    "\u202e",
    "\udcff",
    "\r",
    "\r\n",
    "\t",
    "\\",
    "$",
    "${",
    "\u0085",
    "\u2028",
    "ß",
    "İ",
    "𝔘",
    "\x7f",
    "'",
    '"',
    "`",
    "<<",
    ":",
    "[",
    "{",
    "#",
    "..",
    "/",
]

# An edit: (kind, position, length, count, payload); positions wrap around the input.
Op = tuple[str, int, int, int, bytes]
_pos = st.integers(0, 1 << 20)
_byte_payloads = st.one_of(
    st.binary(min_size=1, max_size=16),
    st.sampled_from([*HUGE_NUMBERS, b"\x00", b"\xff" * 8, b"/../", b"\n", b"\x80"]),
)
_ops: st.SearchStrategy[Op] = st.tuples(
    st.sampled_from(["truncate", "flip", "insert", "delete", "replace", "repeat"]),
    _pos,
    st.integers(1, 64),
    st.integers(1, 8),
    _byte_payloads,
)


def _apply_bytes(data: bytes, ops: Sequence[Op]) -> bytes:
    buf = bytearray(data)
    for kind, pos, length, count, payload in ops:
        at = pos % (len(buf) + 1)
        if kind == "truncate":
            del buf[at:]
        elif kind == "flip" and buf:
            buf[at % len(buf)] ^= payload[0] or 1
        elif kind == "insert":
            buf[at:at] = payload
        elif kind == "delete":
            del buf[at : at + length]
        elif kind == "replace":
            buf[at : at + length] = payload
        elif kind == "repeat":
            buf[at:at] = bytes(buf[at : at + length]) * count
    return bytes(buf)


def mutated_bytes(seeds: Sequence[bytes], max_ops: int = 4) -> st.SearchStrategy[bytes]:
    """One of ``seeds`` with up to ``max_ops`` damaging edits (possibly none)."""
    return st.builds(_apply_bytes, st.sampled_from(list(seeds)), st.lists(_ops, max_size=max_ops))


TextOp = tuple[str, int, int, int, str]
_text_payloads = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.text(min_size=1, max_size=8),
    st.sampled_from([n.decode() for n in HUGE_NUMBERS]),
)
_text_ops: st.SearchStrategy[TextOp] = st.tuples(
    st.sampled_from(["truncate", "insert", "insert", "delete", "repeat", "swapline"]),
    _pos,
    st.integers(1, 40),
    st.integers(1, 6),
    _text_payloads,
)


def _apply_text(text: str, ops: Sequence[TextOp]) -> str:
    for kind, pos, length, count, payload in ops:
        at = pos % (len(text) + 1)
        if kind == "truncate":
            text = text[:at]
        elif kind == "insert":
            text = text[:at] + payload + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + length :]
        elif kind == "repeat":
            text = text[:at] + text[at : at + length] * count + text[at:]
        elif kind == "swapline":
            lines = text.split("\n")
            i, j = pos % len(lines), (pos + length) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def mutated_text(seeds: Sequence[str], max_ops: int = 4) -> st.SearchStrategy[str]:
    """One of ``seeds`` with up to ``max_ops`` edits: cuts, odd unicode, huge numbers, repeats."""
    return st.builds(
        _apply_text, st.sampled_from(list(seeds)), st.lists(_text_ops, max_size=max_ops)
    )


_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True),
    st.text(max_size=10),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(doc))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


@st.composite
def _json_broken(draw: st.DrawFn, docs: Sequence[Any]) -> bytes:
    doc = draw(st.sampled_from(list(docs)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        doc = _replace(doc, path, draw(_json))
    return json.dumps(doc).encode()


def json_broken(docs: Sequence[Any]) -> st.SearchStrategy[bytes]:
    """One of the JSON ``docs`` with one to three nodes anywhere replaced by arbitrary JSON."""
    return _json_broken(docs)
