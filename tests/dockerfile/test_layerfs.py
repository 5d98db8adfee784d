"""The merged view over unpacked layer directories: whiteouts, opaque dirs, symlinks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from distroless.dockerfile.layerfs import LayeredFS
from distroless.errors import BuildError
from tests.helpers import require_root


def _layers(tmp_path: Path) -> list[Path]:
    require_root()  # whiteouts are 0/0 character devices, opaque dirs a trusted.* xattr
    low, mid, top = (tmp_path / n for n in ("low", "mid", "top"))
    for d in (low / "a", low / "b", low / "keep", low / "usr/bin", mid / "a", top):
        d.mkdir(parents=True, exist_ok=True)
    (low / "a/x").write_text("low x")
    (low / "a/y").write_text("low y")
    (low / "b/f").write_text("low f")
    (low / "keep/k").write_text("k")
    (low / "usr/bin/tool").write_text("tool")
    os.symlink("usr/bin", low / "bin")
    os.symlink("/usr/bin/tool", low / "usr/bin/alias")
    os.setxattr(mid / "a", "trusted.overlay.opaque", b"y")  # hides low's a/x and a/y
    (mid / "a/z").write_text("mid z")
    os.mknod(top / "keep", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # deletes keep/
    (top / "b").write_text("b is a file now")
    os.symlink("../../..", top / "up")
    return [low, mid, top]


def test_lookup_listdir_and_deletions(tmp_path: Path) -> None:
    fs = LayeredFS(lambda: _layers(tmp_path))
    assert fs.listdir("/a") == ["z"]
    assert fs.lookup("/a/x") is None
    assert fs.lookup("/keep") is None and fs.lookup("/keep/k") is None
    node = fs.lookup("/b")
    assert node is not None and node.is_file and node.host.read_text() == "b is a file now"
    assert fs.lookup("/b/f") is None
    assert fs.listdir("/") == ["a", "b", "bin", "up", "usr"]
    assert fs.read_text("/a/z") == "mid z"


def test_symlinks_resolve_inside_the_image(tmp_path: Path) -> None:
    fs = LayeredFS(lambda: _layers(tmp_path))
    assert fs.resolve("/bin/alias") == "/usr/bin/tool"
    assert fs.read_text("/bin/alias") == "tool"
    assert fs.resolve("/up/up/a") == "/a"  # ".." never climbs above the image's root
    link = fs.lookup("/bin", follow=False)
    assert link is not None and link.is_symlink


def test_symlink_loops_are_an_error(tmp_path: Path) -> None:
    layer = tmp_path / "loop"
    layer.mkdir()
    os.symlink("b", layer / "a")
    os.symlink("a", layer / "b")
    with pytest.raises(BuildError, match="too many symbolic links"):
        LayeredFS(lambda: [layer]).lookup("/a")


def test_layers_are_produced_only_when_looked_into(tmp_path: Path) -> None:
    calls: list[int] = []

    def produce() -> list[Path]:
        calls.append(1)
        return []

    fs = LayeredFS(produce)
    assert calls == []
    assert fs.lookup("/anything") is None
    assert fs.lookup("/again") is None
    assert calls == [1]
