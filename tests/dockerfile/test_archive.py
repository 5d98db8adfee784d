"""ADD's archives as layer entries, without an engine (tests/dockerfile/test_docker_parity.py
checks the same semantics against BuildKit)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tarfile
from pathlib import Path

import pytest
from backports import zstd

from distroless.dockerfile.archive import archive_kind
from distroless.errors import BuildError
from distroless.layers.entry import Entry, EntryType
from distroless.store import Store
from tests.dockerfile.executor_helpers import build
from tests.helpers.images import store_image
from tests.helpers.rawtar import Member, tar_of


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    return root


def _add(  # type: ignore[no-untyped-def]
    store: Store,
    ctx: Path,
    members: list[Member],
    dest: str = "/x/",
    base: str = "scratch",
    fmt: int = tarfile.GNU_FORMAT,  # base-256 numbers, to say what PAX cannot
):
    (ctx / "a.tar").write_bytes(tar_of(members, fmt))
    return build(store, ctx, f"FROM {base}\nADD a.tar {dest}\n")


def test_what_counts_as_an_archive(tmp_path: Path) -> None:
    plain = tar_of([Member("f", data=b"x")])
    cases = {
        "plain": (plain, "none"),
        "gz": (gzip.compress(plain), "gzip"),
        "bz2": (bz2.compress(plain), "bzip2"),
        "xz": (lzma.compress(plain), "xz"),
        "zst": (bytes(zstd.compress(plain)), None),  # docker copies zstd files as they are
        "empty": (tar_of([]), None),
        "text": (b"just text\n" * 100, None),
        "bad-gzip": (b"\x1f\x8b" + b"\x00" * 100, None),
    }
    for name, (data, kind) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert archive_kind(path) == kind, name


def test_members_follow_the_images_own_links_under_the_destination(store: Store, ctx: Path) -> None:
    store_image(
        store,
        "merged:latest",
        [
            [
                Entry("usr", EntryType.DIR, mode=0o750, uid=3, gid=3),
                Entry.directory("usr/lib"),
                Entry("lib", EntryType.SYMLINK, mode=0o777, linkname="usr/lib"),
            ]
        ],
    )
    built = _add(store, ctx, [Member("lib/libx.so", data=b"elf")], dest="/", base="merged")
    layer = built.layers()[-1]
    assert layer["usr/lib/libx.so"][1] == b"elf"
    assert "lib" not in layer  # the image's link is kept, not shadowed by a directory
    assert (layer["usr"][0].mode, layer["usr"][0].uid) == (0o750, 3)  # parents keep theirs


def test_an_archive_directory_replaces_an_image_link(store: Store, ctx: Path) -> None:
    store_image(
        store,
        "linked:latest",
        [[Entry.directory("real"), Entry("lnk", EntryType.SYMLINK, linkname="real")]],
    )
    built = _add(
        store,
        ctx,
        [Member("lnk", tarfile.DIRTYPE, mode=0o700), Member("lnk/f", data=b"f")],
        dest="/",
        base="linked",
    )
    layer = built.layers()[-1]
    assert layer["lnk"][0].isdir() and layer["lnk/f"][1] == b"f"
    assert "real/f" not in layer


def test_hardlinks_share_an_inode_and_its_last_metadata(store: Store, ctx: Path) -> None:
    files = _add(
        store,
        ctx,
        [
            Member("f", data=b"data", mode=0o600, uid=1),
            Member("g", tarfile.LNKTYPE, linkname="f", mode=0o644, uid=2),
            Member("h", tarfile.LNKTYPE, linkname="g", mode=0o640, uid=3),
        ],
    ).files()
    holder, links = files["x/f"], [files["x/g"], files["x/h"]]
    assert holder[1] == b"data" and all(info.islnk() for info, _ in links)
    assert {(info.mode, info.uid) for info, _ in [holder, *links]} == {(0o640, 3)}


def test_a_replaced_directory_takes_its_subtree_with_it(store: Store, ctx: Path) -> None:
    deep = "/".join("d" * 1500)  # 1500 levels: no recursion limit in the way
    files = _add(
        store,
        ctx,
        [Member(f"top/{deep}/leaf", data=b"leaf"), Member("top", data=b"now a file")],
    ).files()
    assert files["x/top"][1] == b"now a file"
    assert not any(k.startswith("x/top/") for k in files)


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([Member("dir/.wh.victim")], "whiteout name"),
        ([Member(".wh..wh..opq")], "whiteout name"),
        ([Member("f", uid=1 << 40)], "out-of-range owner"),
        (
            [Member("dev", tarfile.CHRTYPE, devmajor=1 << 30, devminor=1)],
            "out-of-range device number",
        ),
        ([Member("s", tarfile.GNUTYPE_SPARSE)], "sparse file"),
        (
            [
                Member("a", tarfile.SYMTYPE, linkname="b"),
                Member("b", tarfile.SYMTYPE, linkname="a"),
                Member("a/f", data=b"x"),
            ],
            "too many symbolic links",
        ),
        ([Member("g", tarfile.LNKTYPE, linkname="missing")], "does not hold"),
    ],
)
def test_members_a_layer_cannot_hold_are_refused_naming_them(
    store: Store, ctx: Path, members: list[Member], problem: str
) -> None:
    with pytest.raises(BuildError, match=rf"/Dockerfile:2: ADD a.tar: member '.*' .*{problem}"):
        _add(store, ctx, members)


def test_a_corrupt_archive_is_one_clear_error(store: Store, ctx: Path) -> None:
    data = gzip.compress(tar_of([Member("f", data=b"x" * 100_000)]))
    (ctx / "a.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BuildError, match=r"/Dockerfile:2: ADD a.tar.gz: .*corrupt"):
        build(store, ctx, "FROM scratch\nADD a.tar.gz /x/\n")


def test_plain_archives_are_read_in_place_and_compressed_ones_spooled_privately(
    store: Store, ctx: Path
) -> None:
    plain = tar_of([Member("big", data=os.urandom(300_000)), Member("small", data=b"s")])
    (ctx / "p.tar").write_bytes(plain)
    (ctx / "c.tar.xz").write_bytes(lzma.compress(plain))
    files = build(store, ctx, "FROM scratch\nADD p.tar /p/\nADD c.tar.xz /c/\n").files()
    assert files["p/big"][1] == files["c/big"][1] and files["c/small"][1] == b"s"
    assert os.listdir(store.root / "state" / "build-scratch") == []
