"""The flattened view: whiteouts, opaque directories, symlinks and on-demand contents."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless import rootpath
from distroless.errors import NotFoundError
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry, EntryType
from distroless.verify import fsview
from distroless.verify.fsview import FileSystemView
from tests.verify.fakeimage import make_image


def view(root: Path, *layers: list[Entry], compression: Compression = "gzip") -> FileSystemView:
    return FileSystemView.from_image(
        make_image(root, "test/fs:latest", list(layers), compression=compression)
    )


def test_whiteout_hides_lower_file_and_subtree(tmp_path: Path) -> None:
    fs = view(
        tmp_path,
        [
            Entry.file("etc/keep", b"k"),
            Entry.file("etc/gone", b"g"),
            Entry.file("opt/dir/a", b"a"),
            Entry.file("opt/dir/sub/b", b"b"),
        ],
        [Entry.whiteout("etc/gone"), Entry.whiteout("opt/dir")],
    )
    assert fs.exists("/etc/keep")
    assert not fs.exists("/etc/gone")
    assert not fs.exists("/opt/dir")
    assert not fs.exists("/opt/dir/sub/b")
    assert fs.listdir("/opt") == []


def test_opaque_directory_hides_lower_children_but_keeps_its_own(tmp_path: Path) -> None:
    fs = view(
        tmp_path,
        [Entry.file("srv/old1", b"1"), Entry.file("srv/deep/old2", b"2")],
        [Entry.opaque("srv"), Entry.file("srv/new", b"n")],
    )
    assert fs.listdir("/srv") == ["new"]
    assert fs.read_bytes("/srv/new") == b"n"


def test_upper_layer_file_replaces_lower_directory(tmp_path: Path) -> None:
    fs = view(
        tmp_path,
        [Entry.file("data/inner", b"x")],
        [Entry.file("data", b"now a file")],
    )
    node = fs.get("/data")
    assert node is not None and node.type is EntryType.FILE and node.layer == 1
    assert not fs.exists("/data/inner")


def test_symlinks_resolve_inside_the_image(tmp_path: Path) -> None:
    fs = view(
        tmp_path,
        [
            Entry.symlink("bin", "usr/bin"),
            Entry.file("usr/bin/tool", b"#!", mode=0o755),
            Entry.symlink("usr/bin/alias", "/bin/tool"),
            Entry.symlink("etc/escape", "../../../../usr/bin/tool"),
            Entry.symlink("loop1", "loop2"),
            Entry.symlink("loop2", "loop1"),
            Entry.symlink("dangling", "nowhere"),
        ],
    )
    assert fs.resolve("/bin/tool") == "/usr/bin/tool"
    assert fs.resolve("/bin/alias") == "/usr/bin/tool"
    assert fs.resolve("/etc/escape") == "/usr/bin/tool"
    assert fs.resolve("/loop1") is None
    assert fs.lookup("/dangling") is None
    link = fs.lookup("/dangling", follow=False)
    assert link is not None and link.is_symlink
    assert fs.read_bytes("/bin/alias") == b"#!"
    assert fs.resolve("/usr/bin/tool/below") is None


def test_resolution_is_the_one_resolver_with_the_kernel_refusals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = rootpath.resolve_in_root

    def spy(path: str, readlink: rootpath.ReadLink, **kwargs: bool) -> str:
        asked.append(path)
        return real(path, readlink, **kwargs)

    monkeypatch.setattr(fsview, "resolve_in_root", spy)
    hops = rootpath.MAX_SYMLINK_HOPS
    fs = view(
        tmp_path,
        [
            Entry.file("usr/bin/tool", b"#!", mode=0o755),
            Entry.symlink("tool", "usr/bin/tool"),
            *(Entry.symlink(f"l{i}", f"l{i + 1}") for i in range(hops)),
            Entry.symlink(f"l{hops}", "usr/bin"),
        ],
    )
    assert fs.resolve("/l1/tool") == "/usr/bin/tool"
    assert fs.resolve("/l0/tool") is None  # one hop more than the kernel follows
    assert fs.resolve("/usr/bin/tool/..") is None  # ENOTDIR, though ".." would leave it
    assert fs.resolve("/usr/bin/tool/../tool") is None
    assert fs.resolve("/tool/..") is None
    assert fs.resolve("/missing/../usr") is None  # ENOENT before the ".."
    assert fs.resolve("/usr/bin/nothing", follow_last=False) is None
    assert fs.resolve("/tool", follow_last=False) == "/tool"
    assert fs.resolve("/usr/../usr/bin/./tool") == "/usr/bin/tool"
    assert fs.resolve("/") == "/"
    assert len(asked) == 10


def test_contents_come_from_the_layer_that_last_wrote_them(tmp_path: Path) -> None:
    fs = view(
        tmp_path,
        [Entry.file("etc/motd", b"first")],
        [Entry.file("etc/other", b"o")],
        [Entry.file("etc/motd", b"second")],
        compression="zstd",
    )
    node = fs.get("/etc/motd")
    assert node is not None and node.layer == 2 and node.size == 6
    assert fs.read_bytes("/etc/motd") == b"second"
    assert fs.layer_stats[1][0] >= 1


def test_hardlink_reads_its_target_content(tmp_path: Path) -> None:
    fs = view(
        tmp_path,
        [
            Entry.file("usr/bin/a", b"shared", mode=0o755),
            Entry(path="usr/bin/b", type=EntryType.HARDLINK, linkname="usr/bin/a"),
        ],
    )
    node = fs.get("/usr/bin/b")
    assert node is not None and node.is_file and node.mode == 0o755
    assert fs.read_bytes("/usr/bin/b") == b"shared"


def test_reading_a_directory_or_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    fs = view(tmp_path, [Entry.file("etc/x", b"x")])
    with pytest.raises(NotFoundError, match="/etc is not a regular file"):
        fs.read_bytes("/etc")
    with pytest.raises(NotFoundError, match="/nope"):
        fs.read_bytes("/nope")


def test_parent_directories_are_implied_by_their_contents(tmp_path: Path) -> None:
    fs = view(tmp_path, [Entry.file("a/b/c", b"c")])
    node = fs.lookup("/a/b")
    assert node is not None and node.is_dir
    assert fs.listdir("/") == ["a"]


def test_read_many_streams_each_layer_once(tmp_path: Path) -> None:
    import dataclasses
    from typing import BinaryIO

    image = make_image(
        tmp_path,
        "test/many:latest",
        [
            [Entry.file(f"a/{i}", f"a{i}".encode()) for i in range(5)],
            [Entry.file(f"b/{i}", f"b{i}".encode()) for i in range(5)],
            [Entry.symlink("c", "a/1")],
        ],
    )
    opened: list[int] = []

    def counting(index: int) -> BinaryIO:
        opened.append(index)
        return image.open_layer(index)

    fs = FileSystemView.from_image(dataclasses.replace(image, open_layer=counting))
    opened.clear()
    wanted = [*(f"/a/{i}" for i in range(5)), "/b/3", "/c", "/a", "/missing"]
    got = fs.read_many(wanted)
    assert sorted(opened) == [0, 1]
    assert got == {**{f"/a/{i}": f"a{i}".encode() for i in range(5)}, "/b/3": b"b3", "/c": b"a1"}


def test_corrupt_layer_names_the_image_and_layer(tmp_path: Path) -> None:
    import dataclasses
    import io

    from distroless.errors import ArchiveError

    image = make_image(tmp_path, "test/bad:latest", [[Entry.file("a", b"a")]])
    broken = dataclasses.replace(image, open_layer=lambda i: io.BytesIO(b"\x1f\x8bnot gzip"))
    with pytest.raises(ArchiveError, match=r"test/bad:latest, layer 0 \(sha256:"):
        FileSystemView.from_image(broken)


def test_sbom_checksums_of_many_added_files_stream_their_layer_once(tmp_path: Path) -> None:
    import dataclasses
    import hashlib
    from typing import BinaryIO

    from distroless.verify.sbom import AddedFile, gather

    contents = {f"app/{i}": f"file {i}".encode() for i in range(50)}
    image = make_image(
        tmp_path, "test/added:latest", [[Entry.file(p, d) for p, d in contents.items()]]
    )
    opened: list[int] = []

    def counting(index: int) -> BinaryIO:
        opened.append(index)
        return image.open_layer(index)

    fs = FileSystemView.from_image(dataclasses.replace(image, open_layer=counting))
    opened.clear()
    added = [
        AddedFile(f"/{p}", "sha256:" + hashlib.sha256(d).hexdigest()) for p, d in contents.items()
    ]
    facts = gather(fs, added).files
    assert opened == [0]
    assert [f.path for f in facts] == sorted(f"/{p}" for p in contents)
