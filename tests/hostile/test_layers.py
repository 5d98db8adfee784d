"""Hostile layers: every escape is refused naming the entry, or contained inside the target."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import stat
import tarfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from distroless.errors import ArchiveError
from distroless.layers.apply import apply_layer
from distroless.layers.entry import Entry, EntryType
from distroless.layers.reader import Limits, iter_layer
from distroless.runtime.unpack import unpack_layer
from distroless.verify.fsview import FileSystemView
from tests.fuzz.archives import compress
from tests.helpers.rawtar import Member, tar_of
from tests.verify.fakeimage import make_image


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """``tmp/root`` is the target; ``tmp/outside/keep`` must never change."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep").write_bytes(b"keep")
    (tmp_path / "root").mkdir()
    return tmp_path


def _untouched(sandbox: Path) -> None:
    assert sorted(os.listdir(sandbox)) == ["outside", "root"]
    assert os.listdir(sandbox / "outside") == ["keep"]
    assert (sandbox / "outside" / "keep").read_bytes() == b"keep"


def _apply(sandbox: Path, members: list[Member], limits: Limits | None = None) -> None:
    blob = io.BytesIO(tar_of(members))
    if limits is None:
        apply_layer(blob, sandbox / "root")
    else:
        apply_layer(blob, sandbox / "root", limits=limits)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../outside/evil", "climbs out of the root"),
        ("a/../../outside/evil", "climbs out of the root"),
        ("/outside/evil", "absolute path"),
        ("/etc/passwd", "absolute path"),
    ],
)
def test_path_escapes_are_refused(sandbox: Path, name: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message) as info:
        _apply(sandbox, [Member(name, data=b"pwned")])
    assert repr(name) in str(info.value)
    _untouched(sandbox)


def test_write_through_a_symlink_stays_inside(sandbox: Path) -> None:
    _apply(
        sandbox,
        [
            Member("up", tarfile.SYMTYPE, linkname="../../outside"),
            Member("abs", tarfile.SYMTYPE, linkname="/../outside"),
            Member("up/evil", data=b"a"),
            Member("abs/evil2", data=b"b"),
        ],
    )
    _untouched(sandbox)
    # ``..`` stops at the root: both links lead to root/outside, created inside the target.
    assert (sandbox / "root" / "outside" / "evil").read_bytes() == b"a"
    assert (sandbox / "root" / "outside" / "evil2").read_bytes() == b"b"


def test_existing_symlink_is_replaced_not_followed(sandbox: Path) -> None:
    os.symlink(sandbox / "outside" / "keep", sandbox / "root" / "file")
    _apply(sandbox, [Member("file", data=b"new")])
    _untouched(sandbox)
    path = sandbox / "root" / "file"
    assert not path.is_symlink()
    assert path.read_bytes() == b"new"


def test_symlink_loop_is_refused(sandbox: Path) -> None:
    with pytest.raises(ArchiveError, match=r"'a/x': too many symlinks"):
        _apply(
            sandbox,
            [
                Member("a", tarfile.SYMTYPE, linkname="b"),
                Member("b", tarfile.SYMTYPE, linkname="a"),
                Member("a/x", data=b"x"),
            ],
        )
    _untouched(sandbox)


def test_self_referencing_symlink_is_refused(sandbox: Path) -> None:
    with pytest.raises(ArchiveError, match="too many symlinks"):
        _apply(sandbox, [Member("s", tarfile.SYMTYPE, linkname="s/s"), Member("s/x")])
    _untouched(sandbox)


@pytest.mark.parametrize(
    ("linkname", "message"),
    [
        ("../outside/keep", "climbs out of the root"),
        ("/etc/passwd", "absolute path"),
        ("esc/keep", "is missing"),
        ("missing", "is missing"),
        ("dir", "is a directory"),
    ],
)
def test_hardlinks_out_of_the_root_are_refused(sandbox: Path, linkname: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message) as info:
        _apply(
            sandbox,
            [
                Member("esc", tarfile.SYMTYPE, linkname="../outside"),
                Member("dir", tarfile.DIRTYPE),
                Member("h", tarfile.LNKTYPE, linkname=linkname),
            ],
        )
    assert "'h'" in str(info.value)
    _untouched(sandbox)


def test_hardlink_cannot_reach_outside_through_a_symlinked_parent(sandbox: Path) -> None:
    os.symlink(sandbox / "outside", sandbox / "root" / "host")
    with pytest.raises(ArchiveError, match="is missing"):
        _apply(sandbox, [Member("h", tarfile.LNKTYPE, linkname="host/keep")])
    _untouched(sandbox)
    assert os.stat(sandbox / "outside" / "keep").st_nlink == 1


def test_device_nodes_are_contained(sandbox: Path) -> None:
    _apply(
        sandbox,
        [
            Member("up", tarfile.SYMTYPE, linkname="../.."),
            Member("up/dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
            Member("up/dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660),
        ],
    )
    _untouched(sandbox)
    created = sandbox / "root" / "dev"
    for name in ("null", "sda"):
        path = created / name
        if os.geteuid() == 0 and path.exists():
            mode = os.lstat(path).st_mode
            assert stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else:
            assert not path.exists()  # unprivileged: skipped, never a regular file


def test_setuid_bits_are_kept_only_as_metadata(sandbox: Path) -> None:
    _apply(sandbox, [Member("bin", data=b"x", mode=0o4755)])
    assert stat.S_IMODE(os.lstat(sandbox / "root" / "bin").st_mode) == 0o4755


def test_whiteout_cannot_delete_outside(sandbox: Path) -> None:
    for name in (".wh..", "up/.wh.keep", "../.wh.outside"):
        members = [Member("up", tarfile.SYMTYPE, linkname="../outside"), Member(name)]
        expect = pytest.raises(ArchiveError) if ".." in name else contextlib.nullcontext()
        with expect:
            _apply(sandbox, members)
        _untouched(sandbox)


def _raw_header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


@pytest.mark.parametrize("kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE, tarfile.XGLTYPE])
def test_huge_announced_headers_are_refused_before_reading(kind: bytes) -> None:
    blob = _raw_header("././@LongLink", kind, 8 << 30) + b"\0" * 1024
    with pytest.raises(ArchiveError, match=r"header of 8589934592 bytes .* exceeds"):
        list(iter_layer(io.BytesIO(blob)))


def test_compressed_pax_header_bomb_is_refused() -> None:
    # 16 MiB of PAX comment compresses to ~16 KiB; tarfile would read it whole.
    blob = compress(tar_of([Member("f", pax={"comment": "x" * (16 << 20)})]), "gz")
    assert len(blob) < 1 << 18
    with pytest.raises(ArchiveError, match="exceeds the limit of 1048576"):
        list(iter_layer(io.BytesIO(blob)))


def test_long_names_are_refused() -> None:
    blob = tar_of([Member("d/" * 2100 + "f")])
    with pytest.raises(ArchiveError, match="name longer than 4096"):
        list(iter_layer(io.BytesIO(blob)))


def _zero_bomb(size: int) -> bytes:
    """A gzip layer whose single file of ``size`` zero bytes compresses about 1000x."""
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        info = tarfile.TarInfo("bomb")
        info.size = size

        class Zeros(io.RawIOBase):
            left = size

            def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
                n = min(len(buf), self.left)
                buf[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, Zeros())
    return out.getvalue()


def test_decompression_bomb_is_refused_by_the_limit(sandbox: Path) -> None:
    blob = _zero_bomb(64 << 20)
    assert len(blob) * 500 < 64 << 20  # really a bomb: more than 500x
    limits = Limits(max_total_bytes=len(blob) * 10)
    with pytest.raises(ArchiveError, match=r"content exceeds the limit of \d+ bytes"):
        apply_layer(io.BytesIO(blob), sandbox / "root", limits=limits)
    assert not (sandbox / "root" / "bomb").exists()  # refused before a byte was written
    _untouched(sandbox)


def test_too_many_entries_are_refused() -> None:
    blob = compress(tar_of([Member(f"f{i}") for i in range(50)]), "zst")
    with pytest.raises(ArchiveError, match="more than 10 entries"):
        list(iter_layer(io.BytesIO(blob), limits=Limits(max_entries=10)))


def test_reading_a_bomb_within_the_limit_keeps_memory_bounded() -> None:
    blob = _zero_bomb(48 << 20)
    tracemalloc.start()
    try:
        seen = 0
        for _member, content in iter_layer(io.BytesIO(blob)):
            assert content is not None
            while chunk := content.read(1 << 16):
                seen += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 48 << 20
    assert peak < 8 << 20, f"peak {peak} bytes while streaming a 48 MiB entry"


def test_many_entries_do_not_accumulate_in_memory() -> None:
    headers = []
    for i in range(40_000):
        info = tarfile.TarInfo(f"d/{i:08d}")
        info.mtime = 0
        headers.append(info.tobuf(format=tarfile.USTAR_FORMAT))
    blob = compress(b"".join(headers) + bytes(1024), "gz")
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_layer(io.BytesIO(blob)))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert peak < 4 << 20, f"peak {peak} bytes for 40000 empty entries"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("uid", 1 << 40, "out-of-range owner"),
        ("gid", -5, "out-of-range owner"),
        ("devmajor", 1 << 40, "out-of-range device number"),
        ("devminor", 1 << 40, "out-of-range device number"),
    ],
)
def test_out_of_range_numbers_are_refused_before_creating(
    sandbox: Path, field: str, value: int, message: str
) -> None:
    info = tarfile.TarInfo("dev/x")
    info.type = tarfile.CHRTYPE
    setattr(info, field, value)
    blob = info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024)
    with pytest.raises(ArchiveError, match=rf"'dev/x' has an {message}"):
        apply_layer(io.BytesIO(blob), sandbox / "root")
    assert not (sandbox / "root" / "dev" / "x").exists()
    _untouched(sandbox)


# -- whiteouts that name no file ---------------------------------------------------------

HOSTILE_WHITEOUTS = [".wh..", ".wh...", ".wh.", "d/.wh..", "d/.wh..."]


def _hostile_whiteout(name: str) -> bytes:
    return tar_of(
        [Member("d", tarfile.DIRTYPE, mode=0o755), Member("d/f", data=b"f"), Member(name)]
    )


def _refused(name: str) -> pytest.RaisesExc[ArchiveError]:
    return pytest.raises(ArchiveError, match=re.escape(repr(name)) + " is a whiteout of")


@pytest.mark.parametrize("name", HOSTILE_WHITEOUTS)
def test_hostile_whiteouts_refuse_the_layer_in_apply_layer(sandbox: Path, name: str) -> None:
    with _refused(name):
        apply_layer(io.BytesIO(_hostile_whiteout(name)), sandbox / "root")
    _untouched(sandbox)


@pytest.mark.parametrize("name", HOSTILE_WHITEOUTS)
def test_hostile_whiteouts_refuse_the_layer_in_the_cache_unpacker(sandbox: Path, name: str) -> None:
    # the target sits beside the decoys as an unpack directory sits beside cached layers
    with _refused(name):
        unpack_layer(io.BytesIO(_hostile_whiteout(name)), sandbox / "root")
    _untouched(sandbox)


@pytest.mark.parametrize("name", HOSTILE_WHITEOUTS)
def test_hostile_whiteouts_refuse_the_layer_in_the_flattened_view(
    tmp_path: Path, name: str
) -> None:
    lower = [Entry.file("etc/passwd", b"root:x:0:0::/:/bin/sh\n"), Entry.directory("d")]
    image = make_image(tmp_path, "hostile/whiteout:1", [lower, [Entry(name, EntryType.FILE)]])
    with _refused(name):
        FileSystemView.from_image(image)


# -- deferred work must not follow a parent that a later entry made a symlink ------------


def _replaced_parent(sandbox: Path, *children: Member) -> list[Member]:
    """``d`` is a directory for ``children``, then the same layer turns it into a link out."""
    outside = sandbox / "outside"
    return [
        Member("d", tarfile.DIRTYPE),
        *children,
        Member("d", tarfile.SYMTYPE, linkname=str(outside)),
    ]


Applier = Callable[[BinaryIO, Path], object]
APPLIERS: dict[str, Applier] = {"apply_layer": apply_layer, "unpack_layer": unpack_layer}


@pytest.mark.parametrize("applier", APPLIERS.values(), ids=APPLIERS.keys())
def test_directory_modes_and_times_are_not_set_through_a_replaced_parent(
    sandbox: Path, applier: Applier
) -> None:
    decoy = sandbox / "outside" / "sub"
    decoy.mkdir()
    os.chmod(decoy, 0o755)
    os.utime(decoy, (1000, 1000))
    blob = tar_of(_replaced_parent(sandbox, Member("d/sub", tarfile.DIRTYPE, mode=0o000)))
    applier(io.BytesIO(blob), sandbox / "root")
    assert stat.S_IMODE(os.lstat(decoy).st_mode) == 0o755
    assert os.lstat(decoy).st_mtime == 1000
    assert os.readlink(sandbox / "root" / "d") == str(sandbox / "outside")


@pytest.mark.parametrize("applier", APPLIERS.values(), ids=APPLIERS.keys())
def test_an_opaque_directory_does_not_empty_a_host_directory_through_a_replaced_parent(
    sandbox: Path, applier: Applier
) -> None:
    applier(
        io.BytesIO(tar_of(_replaced_parent(sandbox, Member("d/.wh..wh..opq")))), sandbox / "root"
    )
    _untouched(sandbox)
