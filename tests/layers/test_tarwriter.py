from __future__ import annotations

import io
import random
import tarfile

import pytest

from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType
from distroless.layers.tarwriter import write_tar


def _tar(entries: list[Entry], sde: int = 0) -> bytes:
    buf = io.BytesIO()
    write_tar(entries, buf, source_date_epoch=sde)
    return buf.getvalue()


def _members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


def _raw_names(data: bytes) -> list[bytes]:
    """Names exactly as stored in the ustar headers (tarfile strips trailing slashes)."""
    names = []
    for offset in range(0, len(data), 512):
        block = data[offset : offset + 512]
        if block[257:262] == b"ustar":
            names.append(block[:100].rstrip(b"\0"))
    return names


SAMPLE = [
    Entry.file("usr/bin/app", b"binary", mode=0o755),
    Entry.file("etc/passwd", b"root:x:0:0::/root:/sbin/nologin\n"),
    Entry.symlink("bin", "usr/bin"),
    Entry.directory("tmp", mode=0o1777),
    Entry.file("usr/lib/a-b", b"x"),
    Entry.file("usr/lib/a/b", b"y"),
]


def test_any_input_order_gives_identical_bytes() -> None:
    expected = _tar(SAMPLE)
    rng = random.Random(7)
    for _ in range(5):
        shuffled = SAMPLE[:]
        rng.shuffle(shuffled)
        assert _tar(shuffled) == expected


def test_entries_sorted_bytewise_with_parents_first() -> None:
    names = [m.name for m in _members(_tar(SAMPLE))]
    assert names == sorted(names, key=lambda n: n.encode())
    for parent in ("usr", "usr/bin", "usr/lib", "usr/lib/a", "etc"):
        assert parent in names
    assert names.index("usr/lib/a") < names.index("usr/lib/a/b")


def test_missing_parents_are_root_owned_0755() -> None:
    members = {m.name: m for m in _members(_tar([Entry.file("a/b/c", b"", uid=7, gid=7)]))}
    for parent in ("a", "a/b"):
        assert members[parent].isdir()
        assert members[parent].mode == 0o755
        assert (members[parent].uid, members[parent].gid) == (0, 0)
    assert members["a/b/c"].uid == 7


def test_explicit_directory_metadata_is_kept() -> None:
    members = {m.name: m for m in _members(_tar([Entry.directory("tmp", mode=0o1777)]))}
    assert members["tmp"].mode == 0o1777


def test_names_have_no_dot_prefix_and_dirs_end_with_slash() -> None:
    raw = _raw_names(_tar([Entry.file("./a/b", b"z")]))
    assert raw == [b"a/", b"a/b"]


def test_duplicate_paths_last_one_wins() -> None:
    data = _tar([Entry.file("f", b"first"), Entry.file("/f", b"second!")])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["f"]
        extracted = tar.extractfile(members[0])
        assert extracted is not None
        assert extracted.read() == b"second!"


def test_mtime_clamped_to_source_date_epoch() -> None:
    entries = [
        Entry("old", EntryType.FILE, mtime=100),
        Entry("new", EntryType.FILE, mtime=2_000_000_000),
    ]
    members = {m.name: m for m in _members(_tar(entries, sde=1_000))}
    assert members["old"].mtime == 100
    assert members["new"].mtime == 1_000
    assert _tar(entries, sde=0) != _tar(entries, sde=1_000)


def test_ustar_headers_without_pax_for_plain_entries() -> None:
    data = _tar([Entry.file("etc/hostname", b"h\n")])
    assert b"PaxHeader" not in data
    for m in _members(data):
        assert m.pax_headers == {}
        assert (m.uname, m.gname) == ("", "")


@pytest.mark.parametrize(
    "entry",
    [
        Entry.file("d/" + "n" * 150, b""),
        Entry.file("caf\u00e9", b""),
        Entry.file("big-uid", b"", uid=1 << 30),
    ],
)
def test_pax_only_where_ustar_cannot_hold_it(entry: Entry) -> None:
    data = _tar([entry])
    assert b"PaxHeader" in data
    member = next(m for m in _members(data) if m.name == entry.path)
    assert member.uid == entry.uid


def test_no_atime_or_ctime_records() -> None:
    data = _tar([Entry.file("x" * 120, b"")])
    assert b"atime" not in data
    assert b"ctime" not in data


def test_content_shorter_than_size_is_an_error() -> None:
    lying = Entry("f", EntryType.FILE, size=10, opener=lambda: io.BytesIO(b"short"))
    with pytest.raises(ArchiveError, match=r"'f'.*5 of 10"):
        _tar([lying])


def test_content_longer_than_size_is_an_error() -> None:
    lying = Entry("f", EntryType.FILE, size=2, opener=lambda: io.BytesIO(b"longer"))
    with pytest.raises(ArchiveError, match=r"'f'.*longer"):
        _tar([lying])


def test_hardlink_sorting_before_its_target_swaps_roles() -> None:
    data = _tar(
        [
            Entry.file("z/target", b"content", mode=0o4755),
            Entry("a/link", EntryType.HARDLINK, linkname="z/target"),
        ]
    )
    members = {m.name: m for m in _members(data)}
    assert members["a/link"].isreg()
    assert members["a/link"].size == 7
    assert members["a/link"].mode == 0o4755
    assert members["z/target"].islnk()
    assert members["z/target"].linkname == "a/link"


def test_special_entries() -> None:
    entries = [
        Entry("dev/null", EntryType.CHAR, mode=0o666, devmajor=1, devminor=3),
        Entry("dev/sda", EntryType.BLOCK, mode=0o660, devmajor=8, devminor=0),
        Entry("run/fifo", EntryType.FIFO, mode=0o600),
        Entry.whiteout("etc/gone"),
        Entry.opaque("var/cache"),
        Entry("xattr", EntryType.FILE, xattrs={"user.b": "2", "user.a": "1"}),
    ]
    members = {m.name: m for m in _members(_tar(entries))}
    assert members["dev/null"].ischr()
    assert (members["dev/null"].devmajor, members["dev/null"].devminor) == (1, 3)
    assert members["dev/sda"].isblk()
    assert members["run/fifo"].isfifo()
    assert members["etc/.wh.gone"].isreg()
    assert members["var/cache/.wh..wh..opq"].size == 0
    assert members["xattr"].pax_headers == {"SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.b": "2"}


def test_entry_below_a_symlink_of_the_same_layer_is_refused() -> None:
    with pytest.raises(ArchiveError, match=r"'lib/x'.*symlink"):
        _tar([Entry.symlink("lib", "usr/lib"), Entry.file("lib/x", b"")])


def test_negative_source_date_epoch_is_refused() -> None:
    with pytest.raises(ArchiveError, match=r"negative"):
        _tar([], sde=-1)
