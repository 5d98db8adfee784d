"""The resolver over the flattened image view of ``check``: same answers as on disk, each
layer read once per round, whiteouts and hard links honoured, links kept inside the image."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import pytest

from distroless.elf import ClosureResolver, DirectoryView, FsViewAdapter, LoaderConfig
from distroless.layers.entry import Entry, EntryType
from distroless.layers.fromdir import entries_from_directory
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle
from tests.elf.support import TRIPLET, gcc, mini_root, require_gcc, shared
from tests.verify.fakeimage import make_image

LIBDIR = f"usr/lib/{TRIPLET}"
N_LIBS = 6


def _layer(root: Path) -> list[Entry]:
    return list(entries_from_directory(root, "/"))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """A base tree (loader, libc) and an application tree (a program and its libraries)."""
    require_gcc()
    base = mini_root(tmp_path / "base")
    app = tmp_path / "app"
    libs = []
    for i in range(N_LIBS):
        libs.append(
            str(
                shared(app / "opt/app/lib" / f"libp{i}.so.1", f"int p{i}(void) {{ return {i}; }}\n")
            )
        )
    calls = " + ".join(f"p{i}()" for i in range(N_LIBS))
    decls = "".join(f"int p{i}(void);\n" for i in range(N_LIBS))
    gcc(
        app / "opt/app/bin/app",
        f"{decls}int main(void) {{ return {calls}; }}\n",
        *libs,
        "-Wl,-rpath,$ORIGIN/../lib",
    )
    return base, app


def _counting(image: ImageHandle) -> tuple[ImageHandle, Counter[int]]:
    opened: Counter[int] = Counter()

    def open_layer(index: int) -> BinaryIO:
        opened[index] += 1
        return image.open_layer(index)

    return replace(image, open_layer=open_layer), opened


def test_the_image_view_answers_as_the_unpacked_tree(
    tmp_path: Path, trees: tuple[Path, Path]
) -> None:
    base, app = trees
    image = make_image(tmp_path / "store", "app:1", [_layer(base), _layer(app)])
    merged = tmp_path / "merged"
    shutil.copytree(base, merged, symlinks=True)
    shutil.copytree(app, merged, symlinks=True, dirs_exist_ok=True)
    counted, opened = _counting(image)
    in_image = ClosureResolver(FsViewAdapter(FileSystemView.from_image(counted))).closure(
        "/opt/app/bin/app"
    )
    on_disk = ClosureResolver(DirectoryView(merged)).closure("/opt/app/bin/app")
    assert in_image.ok
    assert in_image.libraries() == on_disk.libraries()
    assert in_image.versions == on_disk.versions
    assert len(in_image.objects) == N_LIBS + 3
    # from_image reads each layer once; the closure then reads the app layer once for the
    # program and once for its libraries, never once per library
    assert opened[1] <= 3 < N_LIBS + 1


def test_whiteouts_and_hard_links(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    base, app = trees
    top = [
        Entry("opt/app/lib/.wh.libp0.so.1", EntryType.FILE),
        Entry("opt/app/lib/libp1.so.1", EntryType.HARDLINK, linkname="opt/app/lib/libp2.so.1"),
    ]
    image = make_image(tmp_path / "store", "app:2", [_layer(base), _layer(app), top])
    view = FsViewAdapter(FileSystemView.from_image(image))
    closure = ClosureResolver(view).closure("/opt/app/bin/app")
    assert [d.name for d in closure.missing] == ["libp0.so.1"]
    p1 = next(d for d in closure.dependencies if d.name == "libp1.so.1")
    p2 = next(d for d in closure.dependencies if d.name == "libp2.so.1")
    # the hard link is the same file as its target: the loader maps it once
    assert p1.real_path == "/opt/app/lib/libp1.so.1"
    assert p2.real_path == p1.real_path
    assert view.stat("/opt/app/lib/libp1.so.1") == view.stat("/opt/app/lib/libp2.so.1")


def test_a_link_out_of_the_image_stays_in_it(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    base, app = trees
    decoy = shared(tmp_path / "decoy" / "libp3.so.1", "int p3(void) { return 3; }\n")
    top = [
        Entry("opt/app/lib/libp3.so.1", EntryType.SYMLINK, linkname=str(decoy)),
        Entry("opt/app/lib/libp4.so.1", EntryType.SYMLINK, linkname="../" * 30 + str(decoy)[1:]),
    ]
    image = make_image(tmp_path / "store", "app:3", [_layer(base), _layer(app), top])
    closure = ClosureResolver(FsViewAdapter(FileSystemView.from_image(image))).closure(
        "/opt/app/bin/app"
    )
    assert [d.name for d in closure.missing] == ["libp3.so.1", "libp4.so.1"]


def test_the_images_env_and_platform(tmp_path: Path, trees: tuple[Path, Path]) -> None:
    base, app = trees
    moved = tmp_path / "moved"
    (moved / "srv/lib").mkdir(parents=True)
    shutil.move(app / "opt/app/lib/libp5.so.1", moved / "srv/lib/libp5.so.1")
    image = make_image(tmp_path / "store", "app:4", [_layer(base), _layer(app), _layer(moved)])
    view = FsViewAdapter(FileSystemView.from_image(image))
    missing = ClosureResolver(view).closure("/opt/app/bin/app")
    assert [d.name for d in missing.missing] == ["libp5.so.1"]
    env = ("PATH=/usr/bin", "LD_LIBRARY_PATH=/srv/lib")
    config = LoaderConfig.from_env(env, expected=(image.config.architecture, None))
    found = ClosureResolver(view, config).closure("/opt/app/bin/app")
    assert found.ok
    assert found.libraries()["libp5.so.1"] == "/srv/lib/libp5.so.1"
