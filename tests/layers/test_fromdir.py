from __future__ import annotations

import os
from pathlib import Path

import pytest

from distroless.errors import ArchiveError
from distroless.layers.entry import Entry, EntryType
from distroless.layers.fromdir import entries_from_directory


def _by_path(entries: list[Entry]) -> dict[str, Entry]:
    return {e.path: e for e in entries}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "sub" / "b.bin").write_bytes(b"\0" * 10)
    os.chmod(src / "sub" / "b.bin", 0o751)
    os.symlink("../a.txt", src / "sub" / "link")
    os.symlink("/nonexistent/outside", src / "dangling")
    os.link(src / "a.txt", src / "sub" / "hard")
    os.mkfifo(src / "fifo")
    return src


def test_walk_maps_tree_under_dest(tree: Path) -> None:
    entries = _by_path(list(entries_from_directory(tree, "/app")))
    assert set(entries) == {
        "app",
        "app/a.txt",
        "app/dangling",
        "app/fifo",
        "app/sub",
        "app/sub/b.bin",
        "app/sub/hard",
        "app/sub/link",
    }
    assert entries["app/sub/b.bin"].mode == 0o751
    assert entries["app/sub/b.bin"].size == 10
    assert entries["app/sub/link"].type is EntryType.SYMLINK
    assert entries["app/sub/link"].linkname == "../a.txt"
    assert entries["app/dangling"].linkname == "/nonexistent/outside"
    assert entries["app/fifo"].type is EntryType.FIFO
    assert entries["app/a.txt"].open().read() == b"alpha"


def test_hardlinks_become_link_entries(tree: Path) -> None:
    entries = _by_path(list(entries_from_directory(tree, "app")))
    assert entries["app/a.txt"].type is EntryType.FILE
    assert entries["app/sub/hard"].type is EntryType.HARDLINK
    assert entries["app/sub/hard"].linkname == "app/a.txt"


def test_root_dest_emits_no_root_entry(tree: Path) -> None:
    paths = [e.path for e in entries_from_directory(tree, "/")]
    assert "a.txt" in paths
    assert "sub/b.bin" in paths
    assert all(p for p in paths)


def test_overrides_apply_to_files_and_dirs_not_symlinks(tree: Path) -> None:
    entries = _by_path(list(entries_from_directory(tree, "/x", uid=65532, gid=65532, mode=0o700)))
    assert {(e.uid, e.gid) for e in entries.values()} == {(65532, 65532)}
    assert entries["x/a.txt"].mode == 0o700
    assert entries["x/sub"].mode == 0o700
    assert entries["x/sub/link"].mode == 0o777


def test_exclude_prunes_subtrees(tree: Path) -> None:
    seen: list[str] = []

    def exclude(rel: str) -> bool:
        seen.append(rel)
        return rel == "sub"

    paths = {e.path for e in entries_from_directory(tree, "/app", exclude=exclude)}
    assert "app/sub" not in paths
    assert not any(p.startswith("app/sub/") for p in paths)
    assert "sub/b.bin" not in seen


def test_single_file(tree: Path) -> None:
    (entry,) = list(entries_from_directory(tree / "a.txt", "/usr/share/a", mode=0o600))
    assert entry.path == "usr/share/a"
    assert entry.type is EntryType.FILE
    assert entry.mode == 0o600
    assert entry.open().read() == b"alpha"


def test_single_file_at_root_is_refused(tree: Path) -> None:
    with pytest.raises(ArchiveError, match=r"a.txt"):
        list(entries_from_directory(tree / "a.txt", "/"))


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=r"nope"):
        list(entries_from_directory(tmp_path / "nope", "/x"))


def test_content_is_opened_lazily(tree: Path) -> None:
    entries = _by_path(list(entries_from_directory(tree, "/app")))
    (tree / "a.txt").write_bytes(b"changed")  # same inode, new content
    assert entries["app/a.txt"].open().read() == b"changed"
    (tree / "sub" / "b.bin").unlink()
    with pytest.raises(ArchiveError, match=r"b.bin"):
        entries["app/sub/b.bin"].open()
