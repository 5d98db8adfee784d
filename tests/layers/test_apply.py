from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from distroless.errors import ArchiveError
from distroless.layers.apply import apply_layer, apply_layers
from distroless.layers.build import write_layer
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry, EntryType
from tests.helpers.rawtar import Member, tar_of


def _layer(entries: list[Entry], compression: Compression = "gzip") -> BinaryIO:
    sink = io.BytesIO()
    write_layer(entries, sink, compression)
    sink.seek(0)
    return sink


def _opener(entries: list[Entry]) -> Callable[[], BinaryIO]:
    return lambda: _layer(entries)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return tmp_path / "rootfs"


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_files_links_modes_and_mtimes(rootfs: Path, compression: Compression) -> None:
    entries = [
        Entry("usr/bin/su", EntryType.FILE, mode=0o4755, size=3, mtime=0, opener=_bytes(b"elf")),
        Entry.symlink("bin", "usr/bin"),
        Entry("usr/bin/su2", EntryType.HARDLINK, linkname="usr/bin/su"),
        Entry.directory("tmp", mode=0o1777),
        Entry("home/nonroot", EntryType.DIR, mode=0o700, uid=65532, gid=65532),
        Entry("run/fifo", EntryType.FIFO, mode=0o640),
    ]
    apply_layer(_layer(entries, compression), rootfs)
    su = rootfs / "usr/bin/su"
    assert su.read_bytes() == b"elf"
    assert stat.S_IMODE(su.stat().st_mode) == 0o4755
    assert su.stat().st_mtime == 0
    assert os.readlink(rootfs / "bin") == "usr/bin"
    assert (rootfs / "usr/bin/su2").stat().st_ino == su.stat().st_ino
    assert stat.S_IMODE((rootfs / "tmp").stat().st_mode) == 0o1777
    assert (rootfs / "tmp").stat().st_mtime == 0
    assert stat.S_ISFIFO((rootfs / "run/fifo").lstat().st_mode)
    home = (rootfs / "home/nonroot").stat()
    if os.geteuid() == 0:
        assert (home.st_uid, home.st_gid) == (65532, 65532)


def _bytes(data: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(data)


def test_upper_layer_replaces_and_merges(rootfs: Path) -> None:
    lower = [Entry.file("etc/a", b"lower"), Entry.file("etc/b", b"keep"), Entry.file("x", b"")]
    upper = [Entry.file("etc/a", b"upper"), Entry.directory("x")]
    apply_layers([_opener(lower), _opener(upper)], rootfs)
    assert (rootfs / "etc/a").read_bytes() == b"upper"
    assert (rootfs / "etc/b").read_bytes() == b"keep"
    assert (rootfs / "x").is_dir()


def test_whiteout_deletes_lower_path(rootfs: Path) -> None:
    lower = [
        Entry.file("etc/gone", b""),
        Entry.file("var/lib/dir/f", b""),
        Entry.file("etc/k", b""),
    ]
    upper = [Entry.whiteout("etc/gone"), Entry.whiteout("var/lib/dir")]
    apply_layers([_opener(lower), _opener(upper)], rootfs)
    assert not (rootfs / "etc/gone").exists()
    assert not (rootfs / "var/lib/dir").exists()
    assert (rootfs / "etc/k").exists()
    assert not any(".wh." in p for p in _tree(rootfs))


def test_whiteout_does_not_remove_same_layer_content(rootfs: Path) -> None:
    # "+x" sorts before ".wh.+x", so the file is written before its own whiteout is seen.
    layer = [Entry.file("d/+x", b"mine"), Entry.whiteout("d/+x")]
    apply_layer(_layer(layer), rootfs)
    assert (rootfs / "d/+x").read_bytes() == b"mine"


def test_opaque_empties_lower_content_but_keeps_this_layer(rootfs: Path) -> None:
    lower = [
        Entry.file("var/cache/old", b""),
        Entry.file("var/cache/sub/old", b""),
        Entry.file("var/cache/sub/replaced", b"lower"),
        Entry.file("var/other", b""),
    ]
    # "+new" sorts before the marker, so order of entries in the tar must not matter.
    upper = [
        Entry.opaque("var/cache"),
        Entry.file("var/cache/+new", b""),
        Entry.file("var/cache/sub/replaced", b"upper"),
        Entry.file("var/cache/zz", b""),
    ]
    apply_layers([_opener(lower), _opener(upper)], rootfs)
    assert _tree(rootfs / "var/cache") == {"+new", "sub", "sub/replaced", "zz"}
    assert (rootfs / "var/cache/sub/replaced").read_bytes() == b"upper"
    assert (rootfs / "var/other").exists()


def test_dotdot_entry_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "root"
    with pytest.raises(ArchiveError, match=r"'\.\./evil'"):
        apply_layer(io.BytesIO(tar_of([Member("../evil", data=b"x")])), target)
    assert not (tmp_path / "evil").exists()
    assert _tree(target) == set()


def test_nested_dotdot_entry_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "root"
    with pytest.raises(ArchiveError, match=r"a/\.\./\.\./evil"):
        apply_layer(io.BytesIO(tar_of([Member("a/../../evil", data=b"x")])), target)
    assert not (tmp_path / "evil").exists()


def test_absolute_entry_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "root"
    before = Path("/etc/passwd").read_bytes()
    with pytest.raises(ArchiveError, match=r"'/etc/passwd'.*absolute"):
        apply_layer(io.BytesIO(tar_of([Member("/etc/passwd", data=b"pwned::0:0\n")])), target)
    assert Path("/etc/passwd").read_bytes() == before
    assert not (target / "etc/passwd").exists()


@pytest.mark.parametrize("link", ["../../outside", "{outside}"])
def test_file_through_symlink_out_of_root_stays_inside(tmp_path: Path, link: str) -> None:
    target = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    linkname = link.format(outside=outside)
    blob = tar_of(
        [
            Member("escape", type=tarfile.SYMTYPE, linkname=linkname),
            Member("escape/pwned", data=b"x"),
        ]
    )
    apply_layer(io.BytesIO(blob), target)
    assert list(outside.iterdir()) == []
    # Resolved as the container sees it: the link is followed inside the root only.
    landed = [p for p in target.rglob("pwned") if p.is_file()]
    assert len(landed) == 1
    assert os.path.realpath(landed[0]).startswith(str(target.resolve()) + "/")


def test_symlink_from_lower_layer_is_not_followed_out(tmp_path: Path) -> None:
    target = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = tar_of([Member("etc", type=tarfile.SYMTYPE, linkname=str(outside))])
    upper = tar_of([Member("etc/passwd", data=b"x")])
    apply_layers([lambda: io.BytesIO(lower), lambda: io.BytesIO(upper)], target)
    assert list(outside.iterdir()) == []


def test_file_replacing_a_symlink_does_not_write_through_it(tmp_path: Path) -> None:
    target = tmp_path / "root"
    victim = tmp_path / "victim"
    victim.write_bytes(b"safe")
    blob = tar_of(
        [
            Member("f", type=tarfile.SYMTYPE, linkname=str(victim)),
            Member("f", data=b"overwritten"),
        ]
    )
    apply_layer(io.BytesIO(blob), target)
    assert victim.read_bytes() == b"safe"
    assert (target / "f").read_bytes() == b"overwritten"
    assert not (target / "f").is_symlink()


def test_hardlink_out_of_root_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "root"
    secret = tmp_path / "secret"
    secret.write_bytes(b"s")
    for linkname in ("../secret", str(secret)):
        blob = tar_of([Member("stolen", type=tarfile.LNKTYPE, linkname=linkname)])
        with pytest.raises(ArchiveError, match=r"'stolen'"):
            apply_layer(io.BytesIO(blob), target)
    assert not (target / "stolen").exists()
    assert secret.stat().st_nlink == 1


def test_hardlink_through_symlink_stays_inside(tmp_path: Path) -> None:
    target = tmp_path / "root"
    secret = tmp_path / "secret"
    secret.write_bytes(b"s")
    blob = tar_of(
        [
            Member("up", type=tarfile.SYMTYPE, linkname=".."),
            Member("stolen", type=tarfile.LNKTYPE, linkname="up/secret"),
        ]
    )
    with pytest.raises(ArchiveError, match=r"'stolen'.*missing"):
        apply_layer(io.BytesIO(blob), target)
    assert secret.stat().st_nlink == 1


def test_whiteout_cannot_reach_outside(tmp_path: Path) -> None:
    target = tmp_path / "root"
    keep = tmp_path / "keep"
    keep.write_bytes(b"k")
    blob = tar_of([Member("up", type=tarfile.SYMTYPE, linkname=".."), Member("up/.wh.keep")])
    apply_layer(io.BytesIO(blob), target)
    assert keep.exists()
    with pytest.raises(ArchiveError, match=r"'a/\.wh\.\.' is a whiteout of '\.', which names no"):
        apply_layer(io.BytesIO(tar_of([Member("a/.wh..")])), target)


def test_symlink_loop_is_an_error(rootfs: Path) -> None:
    blob = tar_of([Member("loop", type=tarfile.SYMTYPE, linkname="loop"), Member("loop/f")])
    with pytest.raises(ArchiveError, match=r"'loop/f'.*too many symlinks"):
        apply_layer(io.BytesIO(blob), rootfs)


def test_file_as_parent_is_an_error(rootfs: Path) -> None:
    blob = tar_of([Member("a", data=b""), Member("a/b", data=b"")])
    with pytest.raises(ArchiveError, match=r"'a/b'.*not a directory"):
        apply_layer(io.BytesIO(blob), rootfs)


def test_devices_only_as_root(rootfs: Path) -> None:
    blob = tar_of([Member("dev/null", type=tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)])
    apply_layer(io.BytesIO(blob), rootfs)
    node = rootfs / "dev/null"
    if os.geteuid() == 0 and node.exists():
        st = node.lstat()
        assert stat.S_ISCHR(st.st_mode)
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3)
    elif os.geteuid() != 0:
        assert not node.exists()


def test_corrupt_layer_names_the_problem(rootfs: Path) -> None:
    good = _layer([Entry.file("big", os.urandom(200_000))]).read()
    with pytest.raises(ArchiveError, match=r"corrupt or truncated"):
        apply_layer(io.BytesIO(good[: len(good) // 2]), rootfs)


def test_preserve_owner_false_keeps_current_owner(rootfs: Path) -> None:
    entries = [Entry.file("f", b"x", uid=65532, gid=65532, mode=0o2755)]
    apply_layer(_layer(entries), rootfs, preserve_owner=False)
    st = (rootfs / "f").stat()
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    assert stat.S_IMODE(st.st_mode) == 0o2755


def test_aufs_metadata_entries_are_ignored(rootfs: Path) -> None:
    blob = tar_of(
        [
            Member(".wh..wh.plnk", type=tarfile.DIRTYPE),
            Member(".wh..wh.plnk/123.456", data=b"0"),
            Member("a", data=b"1"),
        ]
    )
    apply_layer(io.BytesIO(blob), rootfs)
    assert _tree(rootfs) == {"a"}
