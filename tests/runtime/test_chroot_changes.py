"""``tree_changes``: a step's changes from before/after records, as an overlay's upper
directory would hold them (no root needed: the records are written by hand)."""

from __future__ import annotations

import stat

from distroless.runtime.chroot import _Seen, tree_changes

_DIR, _FILE = stat.S_IFDIR, stat.S_IFREG


def _d(ino: int, mtime: int = 1, mode: int = 0o755) -> _Seen:
    return _Seen(_DIR, mode, 0, 0, ino, 1, mtime)


def _f(ino: int, ctime: int = 1) -> _Seen:
    return _Seen(_FILE, 0o644, 0, 0, ino, ctime, 1)


BEFORE = {
    "a": _d(1),
    "a/f": _f(2),
    "a/g": _f(3),
    "d": _d(4),
    "d/e": _d(5),
    "d/e/x": _f(6),
    "thing": _f(7),
}


def test_nothing_changed_is_nothing() -> None:
    found = tree_changes(BEFORE, dict(BEFORE))
    assert (found.changed, found.deleted, found.opaque) == (set(), set(), set())


def test_a_written_file_counts_by_its_ctime_and_its_directory_by_its_mtime() -> None:
    after = {**BEFORE, "a/f": _f(2, ctime=2), "d": _d(4, mtime=2)}
    found = tree_changes(BEFORE, after)
    assert found.changed == {"a/f", "d"}
    assert found.deleted == set()


def test_a_deleted_tree_is_one_whiteout_at_its_top() -> None:
    after = {k: v for k, v in BEFORE.items() if not k.startswith("d/e")}
    found = tree_changes(BEFORE, after)
    assert found.deleted == {"d/e"}


def test_a_directory_made_again_is_opaque_and_all_below_it_is_new() -> None:
    after = {**{k: v for k, v in BEFORE.items() if not k.startswith("d")}, "d": _d(40)}
    after["d/new"] = _f(41)
    found = tree_changes(BEFORE, after)
    assert found.opaque == {"d"}
    assert found.changed == {"d", "d/new"}
    assert found.deleted == set()  # hidden by the opaque directory, no whiteouts


def test_a_directory_made_where_a_file_was_is_opaque() -> None:
    after = {**BEFORE, "thing": _d(8), "thing/inside": _f(9)}
    found = tree_changes(BEFORE, after)
    assert found.opaque == {"thing"}
    assert found.changed == {"thing", "thing/inside"}


def test_a_file_made_where_a_directory_was_replaces_the_tree() -> None:
    after = {k: v for k, v in BEFORE.items() if not k.startswith("d/")}
    after["d"] = _f(10)
    found = tree_changes(BEFORE, after)
    assert "d" in found.changed
    assert found.deleted == set()  # a file hides the names below it
    assert found.opaque == set()


def test_a_rename_is_a_whiteout_and_a_new_name() -> None:
    after = {k: v for k, v in BEFORE.items() if k != "a/g"}
    after["a/h"] = _f(3, ctime=2)
    found = tree_changes(BEFORE, after)
    assert found.deleted == {"a/g"}
    assert "a/h" in found.changed
