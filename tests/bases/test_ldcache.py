"""The ld.so.cache writer: glibc's name order, the file format, and what it records."""

from __future__ import annotations

import functools
import io
import itertools
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distroless import rootpath
from distroless.bases import ldcache
from distroless.bases.ldcache import (
    HEADER,
    MAGIC,
    CacheEntry,
    FileTree,
    cache_entries,
    libcmp,
    read_cache,
    write_cache,
)
from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType

HOST_LIBZ = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")
X8664 = 0x0303


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


@pytest.mark.parametrize(
    ("a", "b", "sign"),
    [
        ("libc.so.6", "libc.so.6", 0),
        ("libfoo.so.10", "libfoo.so.9", 1),  # digits compare as numbers
        ("libfoo.so.9", "libfoo.so.10", -1),
        ("lib2", "liba", 1),  # a digit sorts after any other character
        ("liba", "lib2", -1),
        ("libc", "libc.so", -1),
        ("libc.so", "libc", 1),
        ("libz.so.1", "liby.so.1", 1),
        ("lib007", "lib7", 0),
    ],
)
def test_libcmp_matches_glibc(a: str, b: str, sign: int) -> None:
    assert _sign(libcmp(a, b)) == sign


@given(st.lists(st.text("lib.so-0123456789xyz", min_size=1, max_size=12), max_size=30))
def test_libcmp_is_a_total_order(names: list[str]) -> None:
    ordered = sorted(names, key=functools.cmp_to_key(libcmp))
    for left, right in itertools.pairwise(ordered):
        assert libcmp(left, right) <= 0
        assert _sign(libcmp(left, right)) == -_sign(libcmp(right, left))


def _entries() -> list[CacheEntry]:
    return [
        CacheEntry("libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", X8664),
        CacheEntry("libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", X8664),
        CacheEntry("libfoo.so.10", "/usr/lib/libfoo.so.10", X8664),
        CacheEntry("libfoo.so.9", "/usr/lib/libfoo.so.9", X8664),
    ]


def test_write_layout_and_round_trip() -> None:
    data = write_cache(_entries())
    assert data.startswith(MAGIC)
    _m, nlibs, strings, flags, _p, ext, _u = HEADER.unpack_from(data)
    assert (nlibs, flags, ext) == (4, 2, 0)
    assert HEADER.size == 48 and len(data) == 48 + 4 * 24 + strings
    back = read_cache(data)
    # highest name first, as the loader's binary search expects
    assert [e.soname for e in back] == ["libz.so.1", "libfoo.so.10", "libfoo.so.9", "libc.so.6"]
    assert set(back) == set(_entries())
    key_offset = struct.unpack_from("<I", data, 48 + 4)[0]
    assert data[key_offset : key_offset + 10] == b"libz.so.1\0"  # offsets count from file start


def test_write_is_deterministic_whatever_the_input_order() -> None:
    assert write_cache(_entries()) == write_cache(list(reversed(_entries())))


def test_read_rejects_other_files() -> None:
    with pytest.raises(ArchiveError, match="glibc-ld.so.cache1.1"):
        read_cache(b"ld.so-1.7.0" + bytes(40))


def test_host_ldconfig_reads_the_cache(tmp_path: Path) -> None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not Path(ldconfig).exists():
        pytest.skip("no ldconfig on this host")
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(write_cache(_entries()))
    out = subprocess.run(
        [ldconfig, "-p", "-C", str(cache)], check=True, capture_output=True, text=True
    ).stdout
    assert out.splitlines()[0].startswith("4 libs found in cache")
    assert "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6" in out
    assert "\tlibfoo.so.10 (libc6,x86-64) => /usr/lib/libfoo.so.10" in out


def _file(path: str, data: bytes) -> Entry:
    return Entry.file(path, data)


def _tree(*entries: Entry) -> dict[str, Entry]:
    return {e.path: e for e in entries}


def test_file_tree_follows_links() -> None:
    tree = FileTree(
        _tree(
            Entry.symlink("lib", "usr/lib"),
            Entry.directory("usr/lib"),
            _file("usr/lib/x", b""),
            Entry.symlink("usr/lib/y", "/lib/x"),
            Entry.symlink("usr/lib/loop", "loop"),
        )
    )
    assert tree.resolve("lib/x") == "usr/lib/x"
    assert tree.resolve("/usr/lib/y") == "usr/lib/x"
    assert tree.resolve("usr/lib/../lib/x") == "usr/lib/x"
    assert tree.resolve("lib/missing") is None
    assert tree.resolve("usr/lib/loop") is None


def test_file_tree_resolves_through_the_one_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """No walk of its own: the tree answers the shared resolver's readlink questions."""
    asked: list[str] = []
    real = rootpath.resolve_in_root

    def spy(path: str, readlink: rootpath.ReadLink, **kwargs: bool) -> str:
        asked.append(path)
        return real(path, readlink, **kwargs)

    monkeypatch.setattr(ldcache, "resolve_in_root", spy)
    last = rootpath.MAX_SYMLINK_HOPS + 1
    links = [Entry.symlink(f"l{i}", f"l{i + 1}") for i in range(last)]
    tree = FileTree(_tree(*links, _file(f"l{last}", b"")))
    assert tree.resolve("l1") == f"l{last}"  # as many links as the kernel follows
    assert tree.resolve("l0") is None  # one more
    assert tree.resolve(f"/l9/../../l{last}") == f"l{last}"
    assert asked == ["l1", "l0", f"/l9/../../l{last}"]
    assert not hasattr(ldcache, "MAX_LINKS")


@pytest.mark.skipif(not HOST_LIBZ.exists(), reason="needs the host's x86-64 zlib")
def test_cache_entries_from_a_merged_usr_tree() -> None:
    libz = HOST_LIBZ.resolve().read_bytes()
    triplet = "usr/lib/x86_64-linux-gnu"
    tree = _tree(
        Entry.symlink("lib", "usr/lib"),
        Entry.directory(triplet),
        _file(f"{triplet}/libz.so.1.9.9", libz),
        Entry.symlink(f"{triplet}/libz.so.1", "libz.so.1.9.9"),
        Entry.symlink(f"{triplet}/libz.so", "libz.so.1"),
        _file(f"{triplet}/libnotelf.so.1", b"#!/bin/false\n"),
        _file(f"{triplet}/notalib.txt", libz),
        _file("etc/ld.so.conf.d/x86_64-linux-gnu.conf", b"# multiarch\n/lib/x86_64-linux-gnu\n"),
    )
    entries = cache_entries(tree, "amd64")
    assert entries == [CacheEntry("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", X8664)]


@pytest.mark.skipif(not HOST_LIBZ.exists(), reason="needs the host's x86-64 zlib")
def test_soname_without_a_link_is_not_recorded() -> None:
    libz = HOST_LIBZ.resolve().read_bytes()
    tree = _tree(_file("usr/lib/libz.so.1.9.9", libz))
    assert cache_entries(tree, "amd64") == []


def test_tree_entries_are_read_lazily() -> None:
    opened: list[str] = []

    def opener() -> io.BytesIO:
        opened.append("x")
        return io.BytesIO(b"not elf")

    entry = Entry("usr/lib/libx.so.1", EntryType.FILE, size=7, opener=opener)
    assert (
        cache_entries({entry.path: entry, "usr/share/a": _file("usr/share/a", b"")}, "amd64") == []
    )
    assert opened == ["x"]
