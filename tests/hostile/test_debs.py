"""Hostile .deb files: refused with an error naming the member, nothing left behind."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from distroless.debian.deb import deb_entries, read_control
from distroless.errors import ArchiveError
from distroless.layers.reader import Limits
from tests.fuzz.archives import CONTROL, DATA_MEMBERS, ar_of, compress, deb_of
from tests.helpers.rawtar import Member, tar_of


def _entries(tmp_path: Path, blob: bytes, limits: Limits | None = None) -> list[str]:
    path = tmp_path / "evil.deb"
    path.write_bytes(blob)
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    try:
        if limits is None:
            return [e.path for e in deb_entries(path, merged_usr=True, spool_dir=spool)]
        return [e.path for e in deb_entries(path, merged_usr=True, spool_dir=spool, limits=limits)]
    finally:
        assert os.listdir(spool) == []  # anonymous spool files only, never left behind


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (Member("./../../etc/passwd", data=b"x"), r"'\./\.\./\.\./etc/passwd' escapes the root"),
        (Member("./usr/../../x", data=b"x"), "escapes the root"),
        (Member("/etc/passwd", data=b"x"), None),
        (Member("./dev/sda", tarfile.BLKTYPE, devmajor=8), r"refuses device node '\./dev/sda'"),
        (Member("./dev/mem", tarfile.CHRTYPE, devmajor=1, devminor=1), "refuses device node"),
        (Member("./h", tarfile.LNKTYPE, linkname="../../etc/shadow"), "hard link './h' escapes"),
        (Member("./h", tarfile.LNKTYPE, linkname="/etc/shadow"), "points outside the package"),
        (Member("./h", tarfile.LNKTYPE, linkname="./usr"), "points outside the package"),
        (Member("./bin/tool", data=b"again"), "appears twice"),
        (Member("./var/lib/dpkg/status.d/pkg", data=b"x"), "ships its own"),
    ],
)
def test_hostile_data_members(tmp_path: Path, member: Member, message: str | None) -> None:
    blob = deb_of([*DATA_MEMBERS, member])
    if message is None:
        # An absolute name is normalised into the package root (dpkg does the same).
        assert "etc/passwd" in _entries(tmp_path, blob)
        return
    with pytest.raises(ArchiveError, match=message) as info:
        _entries(tmp_path, blob)
    assert str(tmp_path / "evil.deb") in str(info.value)


def test_symlink_loops_are_kept_as_links_not_followed(tmp_path: Path) -> None:
    blob = deb_of(
        [
            *DATA_MEMBERS,
            Member("./a", tarfile.SYMTYPE, linkname="b"),
            Member("./b", tarfile.SYMTYPE, linkname="a"),
            Member("./out", tarfile.SYMTYPE, linkname="../../../../etc/shadow"),
        ]
    )
    paths = _entries(tmp_path, blob)
    assert {"a", "b", "out"} <= set(paths)


@pytest.mark.parametrize("size", [b"9999999999", b"4294967296", b"-5", b"12abc", b""])
def test_lying_ar_member_sizes(tmp_path: Path, size: bytes) -> None:
    blob = ar_of(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", compress(tar_of([Member("./control", data=CONTROL)]), "gz")),
        ],
        sizes={"control.tar.gz": size},
    )
    with pytest.raises(ArchiveError, match=r"'control\.tar\.gz'") as info:
        _entries(tmp_path, blob)
    assert "evil.deb" in str(info.value)


def test_huge_control_pax_header_is_refused(tmp_path: Path) -> None:
    control_tar = tar_of([Member("./control", data=CONTROL, pax={"comment": "x" * (8 << 20)})])
    blob = ar_of(
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", compress(control_tar, "xz")),
            ("data.tar.xz", compress(tar_of(DATA_MEMBERS), "xz")),
        ]
    )
    assert len(blob) < 1 << 16
    with pytest.raises(ArchiveError, match=r"control archive: tar entry header of \d+ bytes"):
        _entries(tmp_path, blob)
    path = tmp_path / "evil.deb"
    with pytest.raises(ArchiveError, match="exceeds the limit"):
        read_control(path)


def test_huge_data_longname_is_refused(tmp_path: Path) -> None:
    blob = deb_of([*DATA_MEMBERS, Member("./" + "n/" * 3000 + "f")], fmt=tarfile.GNU_FORMAT)
    with pytest.raises(ArchiveError, match="name longer than 4096|exceeds the limit"):
        _entries(tmp_path, blob, Limits(max_header_bytes=4096))


def test_data_decompression_bomb_is_refused(tmp_path: Path) -> None:
    zeros = Member("./usr/share/zeros", data=bytes(32 << 20))
    blob = deb_of([*DATA_MEMBERS, zeros], data_compression="xz")
    assert len(blob) < (32 << 20) // 1000  # a >1000x bomb
    with pytest.raises(ArchiveError, match=r"data archive is larger than 1048576 bytes"):
        _entries(tmp_path, blob, Limits(max_total_bytes=1 << 20))


def test_too_many_data_entries_are_refused(tmp_path: Path) -> None:
    many = [Member(f"./usr/f{i}") for i in range(100)]
    with pytest.raises(ArchiveError, match="more than 50 entries"):
        _entries(tmp_path, deb_of([*DATA_MEMBERS, *many]), Limits(max_entries=50))


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"!<arch>\n",
        b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n",
        ar_of([("debian-binary", b"3.0\n")]),
        ar_of([("debian-binary", b"2.0\n"), ("data.tar.rar", b"x")]),
        ar_of([("debian-binary", b"2.0\n"), ("control.tar.gz", b"\x1f\x8bnot gzip")]),
        ar_of([("debian-binary", b"2.0\n"), ("control.tar.zst", b"\x28\xb5\x2f\xfd" * 4)]),
    ],
)
def test_malformed_debs(tmp_path: Path, blob: bytes) -> None:
    with pytest.raises(ArchiveError, match="evil.deb"):
        _entries(tmp_path, blob)
