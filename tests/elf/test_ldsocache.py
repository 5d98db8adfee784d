"""Reading ld.so.cache in the three layouts ldconfig writes, and looking names up as ld.so does.

The files come from the host's real ``ldconfig`` (``-c new``, ``compat``, ``old`` over a
small root, with a ``glibc-hwcaps`` subdirectory) and from the project's own writer;
``ldconfig -p`` reading the same file is the reference for what each entry says.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given

from distroless.bases.ldcache import CacheEntry, write_cache
from distroless.elf import LOADERS, parse_ld_cache
from distroless.elf.ldsocache import CacheRecord, LdCache
from tests.elf.support import TRIPLET, require_gcc, shared
from tests.fuzz.mutate import fuzz_settings, mutated_bytes

AMD64 = LOADERS["amd64"]
ARM64 = LOADERS["arm64"]
I386 = LOADERS["i386"]


def _ldconfig() -> str:
    found = shutil.which("ldconfig") or "/sbin/ldconfig"
    if not Path(found).exists():
        pytest.skip("ldconfig is not installed")
    return found


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A root with libx in the system dir, in a glibc-hwcaps subdir, and liby in /opt/y."""
    require_gcc()
    root = tmp_path / "root"
    lib = root / "usr/lib" / TRIPLET
    shared(lib / "libx.so.1", "int x(void) { return 1; }\n")
    shared(lib / "glibc-hwcaps/x86-64-v2/libx.so.1", "int x(void) { return 2; }\n")
    shared(root / "opt/y/liby.so.1", "int y(void) { return 1; }\n")
    (root / "etc").mkdir()
    (root / "etc/ld.so.conf").write_text("/opt/y\n")
    return root


def _write(root: Path, layout: str) -> bytes:
    subprocess.run(
        [_ldconfig(), "-r", root, "-X", "-c", layout, "-C", f"/etc/{layout}.cache"],
        check=True,
        capture_output=True,
    )
    return (root / f"etc/{layout}.cache").read_bytes()


def _listing(root: Path, layout: str) -> list[tuple[str, str]]:
    out = subprocess.run(
        [_ldconfig(), "-p", "-C", root / f"etc/{layout}.cache"],
        check=True,
        capture_output=True,
        text=True,
        errors="replace",  # the compat layout's hwcap field is printed as raw bytes
    ).stdout
    return re.findall(r"^\t(\S+) \(.*\) => (\S+)$", out, re.MULTILINE)


@pytest.mark.parametrize("layout", ["new", "compat", "old"])
def test_what_ldconfig_writes_reads_back(tree: Path, layout: str) -> None:
    data = _write(tree, layout)
    cache = parse_ld_cache(data, AMD64)
    assert cache is not None
    assert cache.new_format is (layout != "old")
    assert [(r.key, r.value) for r in cache.records] == _listing(tree, layout)
    assert cache.lookup("liby.so.1", AMD64) == "/opt/y/liby.so.1"
    assert cache.lookup("libnone.so.1", AMD64) is None
    plain = f"/usr/lib/{TRIPLET}/libx.so.1"
    hwcaps = f"/usr/lib/{TRIPLET}/glibc-hwcaps/x86-64-v2/libx.so.1"
    if layout == "old":
        # the old layout has no hwcap field: the subdirectory's entry comes first and wins
        assert cache.lookup("libx.so.1", AMD64) == hwcaps
    elif layout == "compat":
        # the names of the hwcaps section are read from the start of the file, where the
        # old layout sits: the loader (and ldconfig -p) see no usable name
        assert cache.hwcaps_names != ("x86-64-v2",)
        assert cache.lookup("libx.so.1", AMD64, ("x86-64-v3", "x86-64-v2")) == plain
    else:
        assert cache.hwcaps_names == ("x86-64-v2",)
        assert cache.lookup("libx.so.1", AMD64) == plain
        assert cache.lookup("libx.so.1", AMD64, ("x86-64-v3", "x86-64-v2")) == hwcaps
        assert cache.lookup("libx.so.1", AMD64, ("x86-64-v3",)) == plain
    # another machine's loader takes none of these x86-64 entries
    assert cache.lookup("liby.so.1", ARM64) is None


def test_the_projects_writer_is_read_with_each_machines_flags() -> None:
    data = write_cache(
        [
            CacheEntry("libz.so.1", "/usr/lib/aarch64-linux-gnu/libz.so.1", 0x0A03),
            CacheEntry("libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", 0x0303),
            CacheEntry("liba.so.1", "/usr/lib/liba.so.1", 0x0303),
        ]
    )
    cache = parse_ld_cache(data, AMD64)
    assert cache is not None
    assert cache.lookup("libz.so.1", AMD64) == "/usr/lib/x86_64-linux-gnu/libz.so.1"
    assert cache.lookup("libz.so.1", ARM64) == "/usr/lib/aarch64-linux-gnu/libz.so.1"
    assert cache.lookup("liba.so.1", AMD64) == "/usr/lib/liba.so.1"
    assert cache.lookup("liba.so.1", I386) is None


def test_the_wrong_byte_order_is_ignored_and_unset_is_accepted() -> None:
    data = bytearray(write_cache([CacheEntry("liba.so.1", "/a/liba.so.1", 0x0403)]))
    s390x = LOADERS["s390x"]
    assert parse_ld_cache(bytes(data), s390x) is None  # declared little endian
    data[28] = 0  # the flags byte: no byte order stated
    assert parse_ld_cache(bytes(data), AMD64) is not None
    data[28] = 1  # "invalid"
    assert parse_ld_cache(bytes(data), AMD64) is None


def test_garbage_and_truncation_give_no_cache() -> None:
    good = write_cache([CacheEntry("liba.so.1", "/a/liba.so.1", 0x0303)])
    assert parse_ld_cache(b"", AMD64) is None
    assert parse_ld_cache(b"not a cache at all" * 4, AMD64) is None
    assert parse_ld_cache(good[:60], AMD64) is None  # fewer entries than announced
    header = bytearray(good)
    struct.pack_into("<I", header, 20, 10**6)  # nlibs
    assert parse_ld_cache(bytes(header), AMD64) is None


def test_the_lookup_is_a_binary_search_like_the_loaders() -> None:
    """Entries out of order are missed exactly as ld.so misses them."""
    names = ["libz.so.1", "liby.so.1", "libx.so.1", "libb.so.1", "liba.so.1"]
    ordered = LdCache(tuple(CacheRecord(0x0303, n, f"/l/{n}") for n in names), True)
    assert [ordered.lookup(n, AMD64) for n in names] == [f"/l/{n}" for n in names]
    shuffled = LdCache(tuple(CacheRecord(0x0303, n, f"/l/{n}") for n in reversed(names)), True)
    found = [shuffled.lookup(n, AMD64) for n in names]
    assert found.count(None) >= 3
    broken = LdCache((CacheRecord(0x0303, None, "/l/x"),), True)  # a key outside the strings
    assert broken.lookup("libx.so.1", AMD64) is None


def test_the_first_usable_entry_wins_unless_a_better_hwcaps_one_follows() -> None:
    ext = (1 << 62) | 0
    records = (
        CacheRecord(0x0303, "libq.so.1", "/hw/libq.so.1", ext),
        CacheRecord(0x0A03, "libq.so.1", "/arm/libq.so.1"),
        CacheRecord(0x0303, "libq.so.1", "/plain/libq.so.1"),
        CacheRecord(0x0303, "libq.so.1", "/later/libq.so.1"),
    )
    cache = LdCache(records, True, ("x86-64-v3",))
    assert cache.lookup("libq.so.1", AMD64) == "/plain/libq.so.1"
    assert cache.lookup("libq.so.1", AMD64, ("x86-64-v3",)) == "/hw/libq.so.1"
    assert cache.lookup("libq.so.1", ARM64) == "/arm/libq.so.1"
    legacy = LdCache((CacheRecord(0x0303, "libq.so.1", "/tls/libq.so.1", 1 << 3),), True)
    assert legacy.lookup("libq.so.1", AMD64) is None  # legacy hwcaps: gone since glibc 2.37


CACHE_SEEDS = [
    write_cache([CacheEntry(f"lib{c}.so.1", f"/usr/lib/lib{c}.so.1", 0x0303) for c in "abcdef"]),
    b"ld.so-1.7.0\0"
    + struct.pack("<I", 2)
    + struct.pack("<iII", 0x0303, 0, 10) * 2
    + b"liba.so.1\0/a\0",
]


@fuzz_settings(300)
@given(mutated_bytes(CACHE_SEEDS))
def test_damaged_caches_are_read_or_ignored(data: bytes) -> None:
    cache = parse_ld_cache(data, AMD64)
    if cache is not None:
        for name in ("liba.so.1", "libc.so.1", "libzz.so.9", ""):
            found = cache.lookup(name, AMD64, ("x86-64-v3",))
            assert found is None or isinstance(found, str)
