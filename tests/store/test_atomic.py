"""The one temp-file writer: random O_EXCL|O_NOFOLLOW names, fsync, rename."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from distroless.store.atomic import atomic_file


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
