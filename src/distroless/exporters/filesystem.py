"""``type=local`` and ``type=tar``: the image's final file system, not the image.

The layers are applied bottom to top by the project's hardened applier
(:mod:`distroless.layers.apply`), whiteouts and opaque directories included, into a fresh
staging directory beside the destination, so an entry can resolve nothing outside it and
a whiteout can only ever delete what a lower layer of the same image wrote.  ``local``
then moves the staged tree into ``dest``; like BuildKit it merges with what ``dest``
already holds (files it does not write are left alone) and gives the files to the user
running the command, as buildx's receiver does.  ``tar`` writes the staged tree as one
deterministic tar, owners kept from the layers.

For an index each platform goes into its own ``linux_amd64/``-style subdirectory (or tar
prefix), as buildx does for a multi-platform build.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from distroless.exporters.images import platform_dir, platform_images
from distroless.layers.apply import apply_layers
from distroless.layers.fromdir import entries_from_directory
from distroless.layers.tarwriter import write_tar
from distroless.store import Store, StoredImage


def _flatten(store: Store, image: StoredImage, target: Path, *, preserve_owner: bool) -> None:
    openers = [functools.partial(store.open_blob, layer.digest) for layer in image.layers]
    apply_layers(openers, target, preserve_owner=preserve_owner)


@contextlib.contextmanager
def _staging(beside: Path) -> Iterator[Path]:
    """A private directory on ``beside``'s file system, removed afterwards."""
    beside.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".distroless-out-", dir=beside))
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _staged_tree(store: Store, digest: str, staged: Path, *, preserve_owner: bool) -> None:
    images = platform_images(store, digest)
    if len(images) == 1:
        _flatten(store, images[0][1], staged, preserve_owner=preserve_owner)
        return
    for platform, image in images:
        _flatten(store, image, staged / platform_dir(platform), preserve_owner=preserve_owner)


def export_local(store: Store, digest: str, dest: Path) -> None:
    """Write image ``digest``'s file system under the directory ``dest`` (trusted: the
    user's)."""
    dest = Path(os.path.abspath(dest))
    with _staging(dest.parent) as staged:
        root = staged / "root"
        _staged_tree(store, digest, root, preserve_owner=False)
        if not os.path.lexists(dest):
            os.rename(root, dest)
            return
        _merge(str(root), str(dest))


def _merge(src: str, dst: str) -> None:
    """Move the staged tree ``src`` into the existing real directory ``dst``.

    Only real directories of ``dst`` are descended into (``lstat``), so a symlink that
    is already there, or one the image brings, never leads the move elsewhere; anything
    else in the way is replaced, as BuildKit's receiver replaces it.
    """
    st = os.lstat(src)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in sorted(os.listdir(src)):
        source, target = os.path.join(src, name), os.path.join(dst, name)
        incoming = os.lstat(source)
        try:
            present = os.lstat(target)
        except FileNotFoundError:
            os.rename(source, target)
            continue
        if stat.S_ISDIR(incoming.st_mode) and stat.S_ISDIR(present.st_mode):
            _merge(source, target)
            continue
        if stat.S_ISDIR(present.st_mode):
            shutil.rmtree(target)
        os.rename(source, target)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def export_tar(store: Store, digest: str, out: IO[bytes], *, scratch: Path) -> None:
    """Write image ``digest``'s file system as one tar to ``out``; ``scratch`` is a
    directory to stage it in (on a file system with room for it)."""
    with _staging(scratch) as staged:
        root = staged / "root"
        root.mkdir()
        _staged_tree(store, digest, root, preserve_owner=True)
        entries = entries_from_directory(root, "/", include_root=False)
        write_tar(entries, out)
