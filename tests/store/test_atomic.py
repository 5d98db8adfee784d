"""The one temp-file writer: random O_EXCL|O_NOFOLLOW names, fsync, rename."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from distroless.store.atomic import atomic_file, publish_dir, publish_file


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"decoy")
    out = tmp_path / "out.tar"
    out.symlink_to(decoy)
    with atomic_file(out) as fh:
        fh.write(b"new")
    assert not out.is_symlink() and out.read_bytes() == b"new"
    assert decoy.read_bytes() == b"decoy"


def test_a_failed_producer_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.tar"
    with pytest.raises(RuntimeError, match="producer"), atomic_file(out) as fh:
        fh.write(b"half")
        raise RuntimeError("producer failed")
    assert os.listdir(tmp_path) == []


def test_the_mode_follows_the_umask_unless_given(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        with atomic_file(tmp_path / "a") as fh:
            fh.write(b"a")
        with atomic_file(tmp_path / "b", 0o600) as fh:
            fh.write(b"b")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(tmp_path / "b").st_mode) == 0o600


def test_a_finished_file_is_published_under_its_final_name(tmp_path: Path) -> None:
    partial = tmp_path / "x.deb.partial"
    partial.write_bytes(b"deb")
    final = tmp_path / "debs" / "x.deb"
    publish_file(partial, final)
    assert final.read_bytes() == b"deb" and not partial.exists()


def test_a_link_at_a_partial_name_is_not_published(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"decoy")
    partial = tmp_path / "x.partial"
    partial.symlink_to(decoy)
    with pytest.raises(OSError):
        publish_file(partial, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_a_directory_published_first_is_kept(tmp_path: Path) -> None:
    first, second, final = tmp_path / "a", tmp_path / "b", tmp_path / "final"
    for d, text in ((first, "first"), (second, "second")):
        d.mkdir()
        (d / "f").write_text(text)
    assert publish_dir(first, final)
    assert not publish_dir(second, final)
    assert (final / "f").read_text() == "first" and (second / "f").read_text() == "second"
