"""What the store and the caches beside it use on disk, and what ``prune`` may reclaim.

Five places hold data: the store's blobs (images, and the layer and build caches kept as
roots), the unpacked layers ``run`` and ``RUN`` use (``state/layers``), the caches of
``RUN --mount=type=cache`` (``state/build-mounts``), container state, and the package
cache (verified .debs, indices, wheels) under ``$DISTROLESS_CACHE``.  An unpacked layer is
worth keeping only while a tagged image uses it: the layer caches keep blobs, which unpack
again on demand.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from distroless.errors import DistrolessError
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor
from distroless.store.store import Store

#: What lives in the package cache, by subdirectory
PACKAGE_CACHE_DIRS = ("debs", "indices", "wheels", "toolbox")
_HEX_LEN = 64


@dataclass(frozen=True)
class Usage:
    """One place: how many things it holds, their size, and what ``prune`` would free.

    ``reclaimable`` is what plain ``prune`` frees; ``prune --all`` frees ``size`` of every
    place but the images.
    """

    name: str
    count: int
    size: int
    reclaimable: int
    path: str

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "count": self.count,
            "size": self.size,
            "reclaimable": self.reclaimable,
            "path": self.path,
        }


def tree_size(path: Path) -> int:
    """Bytes under ``path`` (regular files' sizes), never following a link."""
    total = 0
    try:
        top = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(top.st_mode):
        return top.st_size if stat.S_ISREG(top.st_mode) else 0
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(base, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _walk(store: Store, desc: Descriptor, seen: set[str]) -> None:
    if desc.digest in seen or not store.has_blob(desc.digest):
        return
    seen.add(desc.digest)
    try:
        if mt.is_index(desc.media_type):
            for child in store.read_index(desc).manifests:
                _walk(store, child, seen)
        elif mt.is_manifest(desc.media_type):
            manifest = store.read_manifest(desc)
            for child in (manifest.config, *manifest.layers):
                seen.add(child.digest)
    except DistrolessError:
        return  # an unreadable document is fsck's to report


def image_blobs(store: Store) -> set[str]:
    """Digests of the blobs that tagged images use (indexes, manifests, configs, layers)."""
    seen: set[str] = set()
    for _, desc in store.refs():
        _walk(store, desc, seen)
    return seen


def _blobs(store: Store) -> Iterator[tuple[str, int]]:
    directory = store.root / "blobs" / "sha256"
    if not directory.is_dir():
        return
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False):
            yield f"sha256:{entry.name}", entry.stat(follow_symlinks=False).st_size


def _unpacked(store: Store) -> Iterator[tuple[str, Path]]:
    root = store.root / "state" / "layers"
    if not root.is_dir():
        return
    for entry in os.scandir(root):
        if len(entry.name) == _HEX_LEN and entry.is_dir(follow_symlinks=False):
            yield f"sha256:{entry.name}", Path(entry.path)


def _children(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.is_dir() else []


def disk_usage(store: Store, package_cache: Path) -> list[Usage]:
    """The rows of ``distroless system df``."""
    used = image_blobs(store)
    live = set(store.reachable())
    images = cached = unreferenced = 0
    counts = [0, 0, 0]
    for digest, size in _blobs(store):
        if digest in used:
            images += size
            counts[0] += 1
        elif digest in live:
            cached += size
            counts[1] += 1
        else:
            unreferenced += size
            counts[2] += 1
    unpacked = [(d, tree_size(p)) for d, p in _unpacked(store)]
    state = store.root / "state"
    mounts = _children(state / "build-mounts" / "cache")
    containers = _children(state / "containers")
    package_dirs = [package_cache / name for name in PACKAGE_CACHE_DIRS]
    return [
        Usage("images", counts[0], images, 0, str(store.root / "blobs")),
        Usage("layer and build cache", counts[1], cached, 0, str(store.root / "blobs")),
        Usage("unreferenced blobs", counts[2], unreferenced, unreferenced, str(store.root)),
        Usage(
            "unpacked layers",
            len(unpacked),
            sum(s for _, s in unpacked),
            sum(s for d, s in unpacked if d not in used),
            str(state / "layers"),
        ),
        Usage(
            "RUN cache mounts",
            len(mounts),
            sum(tree_size(p) for p in mounts),
            0,
            str(state / "build-mounts"),
        ),
        Usage(
            "containers",
            len(containers),
            sum(tree_size(p) for p in containers),
            0,
            str(state / "containers"),
        ),
        Usage(
            "package cache",
            sum(len(_children(d / "sha256")) for d in package_dirs[:3])
            + len(_children(package_dirs[3])),
            sum(tree_size(d) for d in package_dirs),
            0,
            str(package_cache),
        ),
    ]


@dataclass(frozen=True)
class CacheClearing:
    run_mounts: int
    run_mount_bytes: int
    package_files: int
    package_bytes: int


#: what ``prune --all`` drops under ``state/`` besides cache mounts: records of earlier
#: builds' context stat (:mod:`distroless.warm`, :mod:`distroless.dockerfile.content_hashes`)
#: and of layers' SBOM scans (:mod:`distroless.verify.layer_scans`)
STAT_RECORD_DIRS = ("warm", "contenthash", "scans")


def clear_caches(store: Store, package_cache: Path) -> CacheClearing:
    """``prune --all``: the ``RUN --mount=type=cache`` directories and the package cache.

    Both are made or downloaded again on demand; neither is referenced by an image.  The
    build's stat records (warm records, context content hashes) go too: they only spare a
    later build some reading, and one per context directory ever built would pile up.
    """
    mounts = _children(store.root / "state" / "build-mounts" / "cache")
    mount_bytes = sum(tree_size(p) for p in mounts)
    for path in mounts:
        shutil.rmtree(path, ignore_errors=True)
    for records in STAT_RECORD_DIRS:
        shutil.rmtree(store.root / "state" / records, ignore_errors=True)
    files = 0
    freed = 0
    for name in PACKAGE_CACHE_DIRS:
        directory = package_cache / name
        if not directory.is_dir() or directory.is_symlink():
            continue
        for _base, _, names in os.walk(directory):
            files += len(names)
        freed += tree_size(directory)
        shutil.rmtree(directory, ignore_errors=True)
    return CacheClearing(len(mounts), mount_bytes, files, freed)
