from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from distroless.errors import ArchiveError
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry, EntryType
from distroless.runtime.rootfs import LayerCache, merge_copy
from distroless.runtime.unpack import OPAQUE_XATTR, unpack_layer
from tests.helpers.require import require_root


def _layer(entries: list[Entry], compression: str = "gzip") -> io.BytesIO:
    buf = io.BytesIO()
    write_layer(entries, buf, compression)  # type: ignore[arg-type]
    buf.seek(0)
    return buf


def _raw_tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_unpack_files_links_and_metadata(tmp_path: Path, compression: str) -> None:
    require_root()
    entries = [
        Entry.file("usr/bin/app", b"binary", mode=0o4755, uid=7, gid=8),
        Entry.symlink("usr/bin/alias", "app"),
        Entry(path="usr/bin/hard", type=EntryType.HARDLINK, linkname="usr/bin/app"),
        Entry.directory("home/user", mode=0o700, uid=1000, gid=1000),
    ]
    unpack_layer(_layer(entries, compression), tmp_path)
    app = tmp_path / "usr/bin/app"
    st = os.lstat(app)
    assert app.read_bytes() == b"binary"
    assert stat.S_IMODE(st.st_mode) == 0o4755  # setuid survives the chown
    assert (st.st_uid, st.st_gid) == (7, 8)
    assert os.readlink(tmp_path / "usr/bin/alias") == "app"
    assert os.lstat(tmp_path / "usr/bin/hard").st_ino == st.st_ino
    home = os.lstat(tmp_path / "home/user")
    assert (stat.S_IMODE(home.st_mode), home.st_uid) == (0o700, 1000)


def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    require_root()
    entries = [Entry.whiteout("etc/gone"), Entry.directory("var/cache"), Entry.opaque("var/cache")]
    unpack_layer(_layer(entries), tmp_path)
    assert _is_whiteout(tmp_path / "etc/gone")
    assert not (tmp_path / "etc/.wh.gone").exists()
    assert os.getxattr(tmp_path / "var/cache", OPAQUE_XATTR) == b"y"
    assert not (tmp_path / "var/cache/.wh..wh..opq").exists()


def test_dotdot_entries_stay_inside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.mkdir()
    evil = tarfile.TarInfo("../../evil")
    unpack_layer(_raw_tar([(evil, b"x")]), target)
    assert not (tmp_path / "evil").exists()
    assert (target / "evil").read_bytes() == b"x"


def test_writing_through_a_symlinked_parent_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "t"
    target.mkdir()
    link = tarfile.TarInfo("sub")
    link.type = tarfile.SYMTYPE
    link.linkname = str(outside)
    through = tarfile.TarInfo("sub/file")
    with pytest.raises(ArchiveError, match="not a directory"):
        unpack_layer(_raw_tar([(link, b""), (through, b"pwned")]), target)
    assert list(outside.iterdir()) == []


def test_hardlink_to_missing_target_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("a")
    link.type = tarfile.LNKTYPE
    link.linkname = "/etc/shadow"
    with pytest.raises(ArchiveError, match="hard link"):
        unpack_layer(_raw_tar([(link, b"")]), tmp_path)


def test_corrupt_layer_is_an_archive_error(tmp_path: Path) -> None:
    data = _layer([Entry.file("a", b"x" * 1000)]).getvalue()
    with pytest.raises(ArchiveError):
        unpack_layer(io.BytesIO(data[: len(data) // 2]), tmp_path)


class _Blobs:
    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.opened = 0

    def open_blob(self, digest: str) -> io.BytesIO:
        self.opened += 1
        return io.BytesIO(self.blobs[digest])


def test_layer_cache_unpacks_once_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    good = "sha256:" + "a" * 64
    bad = "sha256:" + "b" * 64
    blobs = _Blobs({good: _layer([Entry.file("x", b"1")]).getvalue(), bad: b"\x1f\x8bgarbage"})
    cache = LayerCache(tmp_path / "layers")
    first = cache.ensure(good, blobs)
    assert (first / "x").read_bytes() == b"1"
    assert cache.ensure(good, blobs) == first
    assert blobs.opened == 1
    with pytest.raises(ArchiveError):
        cache.ensure(bad, blobs)
    assert sorted(p.name for p in (tmp_path / "layers").iterdir()) == ["a" * 64]


def test_merge_copy_applies_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    require_root()
    low, high, out = tmp_path / "low", tmp_path / "high", tmp_path / "out"
    for d in (low, high, out):
        d.mkdir()
    unpack_layer(
        _layer([Entry.file("keep", b"k"), Entry.file("gone", b"g"), Entry.file("d/old", b"o"),
                Entry.file("over", b"1")]),
        low,
    )  # fmt: skip
    unpack_layer(
        _layer([Entry.whiteout("gone"), Entry.directory("d"), Entry.opaque("d"),
                Entry.file("d/new", b"n"), Entry.file("over", b"2", mode=0o600)]),
        high,
    )  # fmt: skip
    merge_copy([low, high], out)
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert names == ["d", "d/new", "keep", "over"]
    assert (out / "over").read_bytes() == b"2"
    assert stat.S_IMODE(os.lstat(out / "over").st_mode) == 0o600


def test_layer_cache_prune_keeps_only_wanted_layers(tmp_path: Path) -> None:
    keep, drop = "sha256:" + "c" * 64, "sha256:" + "d" * 64
    layer = _layer([Entry.file("x", b"1")]).getvalue()
    cache = LayerCache(tmp_path / "layers")
    blobs = _Blobs({keep: layer, drop: layer})
    cache.ensure(keep, blobs)
    cache.ensure(drop, blobs)
    (tmp_path / "layers" / ".tmp-partial").mkdir()
    assert cache.prune([keep]) == 2
    assert [p.name for p in (tmp_path / "layers").iterdir()] == ["c" * 64]


def test_limits_bound_a_hostile_layer(tmp_path: Path) -> None:
    from distroless.layers.reader import Limits

    layer = _layer([Entry.file("a", b"1"), Entry.file("b", b"2")])
    with pytest.raises(ArchiveError, match="more than 1 entries"):
        unpack_layer(layer, tmp_path, what="layer L", limits=Limits(max_entries=1))
