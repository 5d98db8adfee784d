"""deb822 paragraphs: streaming parse, case-insensitive lookup, byte-stable dump."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distroless.debian.deb822 import (
    Paragraph,
    dump,
    dump_paragraphs,
    iter_paragraphs,
    parse_paragraph,
    parse_paragraphs,
)
from distroless.errors import DebianError

STATUS_ENTRY = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12988
Maintainer: GNU Libc Maintainers <libc-maintainers@example.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Depends: libgcc-s1
Conffiles:
 /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 This package includes shared versions of the standard C library.
Homepage: https://www.gnu.org/software/libc/libc.html
"""

PACKAGES = """\
Package: a
Version: 1.0
Architecture: all

Package: b
Version: 2.0
Architecture: amd64
Depends: a (>= 1.0),
 c
\x20\t
Package: c
Version: 3
Architecture: amd64
"""


def test_lookup_is_case_insensitive_but_keeps_spelling() -> None:
    p = parse_paragraph(STATUS_ENTRY)
    assert p["package"] == p["Package"] == p["PACKAGE"] == "libc6"
    assert "multi-arch" in p
    assert "Nope" not in p
    assert p.get("nope") is None
    assert p.get("nope", "x") == "x"
    assert list(p)[:3] == ["Package", "Status", "Priority"]
    assert p.field_name("multi-arch") == "Multi-Arch"
    assert len(p) == 14
    with pytest.raises(KeyError):
        p["missing"]


def test_multiline_values_are_raw() -> None:
    p = parse_paragraph(STATUS_ENTRY)
    conffile = " /etc/ld.so.conf.d/x86_64-linux-gnu.conf d4e7a7b88a71b5ffd9e2644e71a0cfab"
    assert p["Conffiles"] == "\n" + conffile
    assert p["Description"].split("\n") == [
        "GNU C Library: Shared libraries",
        " Contains the standard libraries that are used by nearly all programs on",
        " the system.",
        " .",
        " This package includes shared versions of the standard C library.",
    ]
    assert p.first_line("Description") == "GNU C Library: Shared libraries"


def test_dump_is_byte_stable() -> None:
    p = parse_paragraph(STATUS_ENTRY)
    assert dump(p) == STATUS_ENTRY
    assert parse_paragraph(dump(p)) == p


def test_dump_normalises_spacing_after_colon_and_trailing_blanks() -> None:
    p = parse_paragraph("Package:foo  \nVersion:   1.0\t\nDescription: x  \n more  \n")
    assert dump(p) == "Package: foo\nVersion: 1.0\nDescription: x\n more\n"


def test_stream_several_paragraphs_with_line_numbers() -> None:
    paragraphs = list(iter_paragraphs(io.StringIO(PACKAGES), "Packages"))
    assert [p["Package"] for p in paragraphs] == ["a", "b", "c"]
    assert [p.line for p in paragraphs] == [1, 5, 11]
    assert paragraphs[1]["Depends"] == "a (>= 1.0),\n c"
    assert paragraphs[1].where() == "Packages:5"
    assert dump_paragraphs(paragraphs) == PACKAGES.replace("\x20\t\n", "\n")


def test_iterates_lazily() -> None:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for line in PACKAGES.splitlines(keepends=True):
            consumed += 1
            yield line
        raise AssertionError("the parser read past what was asked for")

    first = next(iter_paragraphs(lines()))
    assert first["Package"] == "a"
    assert consumed == 4  # up to and including the blank line ending paragraph one


def test_crlf_and_missing_final_newline() -> None:
    (p,) = parse_paragraphs("Package: a\r\nVersion: 1\r\n Second line")
    assert p["Version"] == "1\n Second line"


def test_empty_input_has_no_paragraphs() -> None:
    assert parse_paragraphs("") == []
    assert parse_paragraphs("\n\n   \n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Package: a\nno colon here\n", "Packages:2: expected 'Field: value'"),
        (" leading continuation\n", "Packages:1: continuation line outside a field"),
        ("Package: a\n\n continuation\n", "Packages:3: continuation line outside a field"),
        ("Package: a\npackage: b\n", "Packages:2: duplicate field 'package'"),
        ("Package: a\n# comment\n", "Packages:2: comment lines are not allowed"),
        ("Package: a\n-Bad: x\n", "Packages:2: invalid field name '-Bad'"),
        ("Package: a\nBad Name: x\n", "Packages:2: invalid field name 'Bad Name'"),
        ("Package: a\n: x\n", "Packages:2: invalid field name ''"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DebianError) as info:
        list(iter_paragraphs(io.StringIO(text), "Packages"))
    assert message in str(info.value)


def test_comments_where_allowed() -> None:
    text = "# header\nSource: x\n# inside\nBuild-Depends: a\n"
    (p,) = parse_paragraphs(text, allow_comments=True)
    assert dict(p) == {"Source": "x", "Build-Depends": "a"}


def test_parse_paragraph_wants_exactly_one() -> None:
    with pytest.raises(DebianError, match="control: expected one paragraph, found 2"):
        parse_paragraph("A: 1\n\nB: 2\n", "control")
    with pytest.raises(DebianError, match="found 0"):
        parse_paragraph("\n", "control")


def test_built_paragraph_and_replace() -> None:
    p = Paragraph([("Package", "x"), ("Version", "1")])
    assert dump(p) == "Package: x\nVersion: 1\n"
    q = p.replace(version="2", Multi_Arch="same", Package=None)
    assert dump(q) == "Version: 2\nMulti-Arch: same\n"
    assert dump(p) == "Package: x\nVersion: 1\n"  # the original is unchanged
    assert Paragraph({"A": "1"}) == Paragraph([("A", "1")])
    assert Paragraph({"A": "1"}) != Paragraph({"a": "1"})  # spelling is part of the bytes


@pytest.mark.parametrize(
    "fields",
    [
        [("Package", "a"), ("package", "b")],
        [("Bad:Name", "x")],
        [("#x", "1")],
        [("", "1")],
    ],
)
def test_built_paragraph_rejects_bad_fields(fields: list[tuple[str, str]]) -> None:
    with pytest.raises(DebianError):
        Paragraph(fields)


@pytest.mark.parametrize("value", ["a\n\n b", "a\nb", "a\n"])
def test_dump_refuses_values_that_would_not_parse_back(value: str) -> None:
    with pytest.raises(DebianError, match="'Description'"):
        dump(Paragraph([("Description", value)]))


_NAMES = st.from_regex(r"\A[A-Z][A-Za-z0-9-]{0,8}\Z")
_WORDS = st.text(alphabet="abc XYZ019.,:()<>|~+-", min_size=1, max_size=12).map(str.strip)
_VALUE = st.tuples(
    st.one_of(st.just(""), _WORDS.filter(bool)),
    st.lists(_WORDS.filter(bool).map(lambda w: " " + w), max_size=3),
).map(lambda t: "\n".join([t[0], *t[1]]) if t[1] else t[0])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_NAMES, _VALUE, min_size=1, max_size=6))
def test_dump_parse_round_trip(table: dict[str, str]) -> None:
    unique: dict[str, tuple[str, str]] = {}
    for name, value in table.items():
        unique.setdefault(name.lower(), (name, value))
    p = Paragraph(list(unique.values()))
    text = dump(p)
    again = parse_paragraph(text)
    assert again == p
    assert dump(again) == text
