from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from distroless.errors import ArchiveError
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry
from distroless.layers.reader import Limits, iter_layer
from tests.helpers.rawtar import Member, tar_of


def test_iterates_members_and_content() -> None:
    sink = io.BytesIO()
    write_layer([Entry.file("a/b", b"data"), Entry.symlink("c", "a/b")], sink, "zstd")
    sink.seek(0)
    seen = {}
    for member, content in iter_layer(sink):
        seen[member.name] = content.read() if content is not None else member.type
    assert seen == {"a": tarfile.DIRTYPE, "a/b": b"data", "c": tarfile.SYMTYPE}


def test_too_many_entries() -> None:
    blob = tar_of([Member(f"f{i}") for i in range(5)])
    with pytest.raises(ArchiveError, match=r"more than 3 entries"):
        list(iter_layer(io.BytesIO(blob), limits=Limits(max_entries=3)))


def test_oversized_pax_header_is_refused_before_reading_it() -> None:
    blob = tar_of([Member("f", pax={"comment": "x" * 5000})])
    with pytest.raises(ArchiveError, match=r"header of .* exceeds"):
        list(iter_layer(io.BytesIO(blob), limits=Limits(max_header_bytes=1024)))


def test_total_size_limit() -> None:
    blob = tar_of([Member("a", data=b"x" * 600), Member("b", data=b"y" * 600)])
    with pytest.raises(ArchiveError, match=r"exceeds the limit of 1000"):
        list(iter_layer(io.BytesIO(blob), limits=Limits(max_total_bytes=1000)))


def test_long_names_limit() -> None:
    blob = tar_of([Member("d/" + "n" * 300)])
    with pytest.raises(ArchiveError, match=r"longer than 200"):
        list(iter_layer(io.BytesIO(blob), limits=Limits(max_name_length=200)))


def test_truncated_layer() -> None:
    blob = gzip.compress(tar_of([Member("a", data=os.urandom(50_000))]))
    with pytest.raises(ArchiveError, match=r"corrupt or truncated"):
        for _, content in iter_layer(io.BytesIO(blob[: len(blob) // 2])):
            if content is not None:
                content.read()


def test_garbage() -> None:
    with pytest.raises(ArchiveError):
        list(iter_layer(io.BytesIO(b"\x1f\x8bnot gzip at all" * 40)))
    with pytest.raises(ArchiveError):
        list(iter_layer(io.BytesIO(b"plain garbage that is not a tar header" * 40)))
