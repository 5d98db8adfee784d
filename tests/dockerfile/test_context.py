"""The build context: symlinks resolved inside it, .dockerignore on what is really read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from distroless.dockerfile.context import BuildContext, remove_copy
from distroless.dockerfile.ignore import DockerIgnore
from distroless.errors import BuildError
from distroless.store import Store
from tests.dockerfile.executor_helpers import build


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "keep").write_text("keep\n")
    (root / "dir" / "drop").write_text("drop\n")
    (root / "dir" / "sub" / "x").write_text("x\n")
    return root


def _context(root: Path, ignore: str = "") -> BuildContext:
    return BuildContext(root, DockerIgnore.parse(ignore))


def test_links_resolve_inside_the_context(ctx: Path) -> None:
    os.symlink("/dir/keep", ctx / "abs")
    os.symlink("../../../dir", ctx / "dir" / "sub" / "up")
    os.symlink("abs", ctx / "chain")
    context = _context(ctx)
    assert [(m.rel, m.resolved) for m in context.match("abs", "D:1")] == [("abs", "dir/keep")]
    assert context.match("chain", "D:1")[0].disk == ctx / "dir" / "keep"
    assert context.match("dir/sub/up/keep", "D:1")[0].resolved == "dir/keep"
    assert [m.rel for m in context.match("dir/sub/up/*", "D:1")] == [
        "dir/sub/up/drop",
        "dir/sub/up/keep",
        "dir/sub/up/sub",
    ]


def test_a_link_loop_is_one_error_naming_the_line(ctx: Path) -> None:
    os.symlink("b", ctx / "a")
    os.symlink("a", ctx / "b")
    with pytest.raises(BuildError, match=r"^D:7: too many symbolic links resolving 'a/f'"):
        _context(ctx).match("a/f", "D:7")


def test_exceptions_inside_an_ignored_directory_stay_visible(ctx: Path) -> None:
    os.symlink("dir/keep", ctx / "to-keep")
    os.symlink("dir/drop", ctx / "to-drop")
    context = _context(ctx, "dir\n!dir/keep\n")
    assert context.match("dir/keep", "D:1")[0].resolved == "dir/keep"
    assert context.match("to-keep", "D:1")[0].resolved == "dir/keep"
    for hidden in ("dir/drop", "to-drop", "dir/sub/x"):
        with pytest.raises(BuildError, match="not in the build context"):
            context.match(hidden, "D:1")


def test_an_ignored_link_hides_its_target_too(ctx: Path) -> None:
    os.symlink("dir", ctx / "dirlink")
    context = _context(ctx, "dirlink\n")
    with pytest.raises(BuildError, match="not in the build context"):
        context.match("dirlink/keep", "D:1")
    assert context.match("dir/keep", "D:1")  # the target by its own name is fine


def test_a_copy_is_re_run_when_what_a_link_points_to_changes(tmp_path: Path, ctx: Path) -> None:
    store = Store(tmp_path / "store")
    os.symlink("dir/keep", ctx / "link")
    dockerfile = "FROM scratch\nCOPY link /x\n"
    first = build(store, ctx, dockerfile)
    (ctx / "dir" / "keep").write_text("edited\n")
    second = build(store, ctx, dockerfile)
    assert second.executed("COPY") and second.files()["x"][1] == b"edited\n"
    assert first.result.descriptor.digest != second.result.descriptor.digest


def test_a_filtered_copy_links_files_and_its_removal_leaves_the_context_alone(
    tmp_path: Path, ctx: Path
) -> None:
    tool = ctx / "dir" / "sub" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o4755)
    os.symlink("/etc/shadow", ctx / "dir" / "link")
    (ctx / "dir" / "sub").chmod(0o555)
    context = _context(ctx, "dir/drop\n")
    match = context.match("dir", "D:1")[0]
    assert context.hides_below(match)
    view = tmp_path / "view"
    context.filtered_copy(match, view, link=True)
    assert sorted(os.listdir(view)) == ["keep", "link", "sub"]
    assert os.readlink(view / "link") == "/etc/shadow"
    assert os.stat(view / "sub" / "tool").st_ino == tool.stat().st_ino
    assert stat.S_IMODE(os.stat(view / "sub").st_mode) == 0o555
    remove_copy(view)
    assert not view.exists()
    assert stat.S_IMODE(tool.stat().st_mode) == 0o4755
    assert stat.S_IMODE((ctx / "dir" / "sub").stat().st_mode) == 0o555
    assert not _context(ctx, "other\n").hides_below(match)
