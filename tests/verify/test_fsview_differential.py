"""The in-memory view agrees with really unpacking and merging the layers.

Random layer stacks (files, directories, symlinks, whiteouts, opaque directories, owners
and special mode bits) are read by :class:`FileSystemView` and, independently, unpacked by
the runtime's layer cache and merged on disk the way a container's root is.  Both must
describe the same tree.  Needs root (the unpacker creates whiteout devices and owners).
"""

from __future__ import annotations

import itertools
import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distroless.layers.entry import Entry, EntryType
from distroless.runtime.rootfs import LayerCache, merge_copy
from distroless.store import Store
from distroless.verify.fsview import FileSystemView
from tests.helpers.require import require_root
from tests.verify.fakeimage import make_image

pytestmark = pytest.mark.integration

NAMES = ["a", "b", "c"]
PATHS = ["/".join(parts) for depth in (1, 2, 3) for parts in itertools.product(NAMES, repeat=depth)]


@st.composite
def layer(draw: st.DrawFn) -> list[Entry]:
    chosen = draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=6, unique=True))
    # a path and one of its ancestors in one layer: the ancestor becomes a directory
    entries: list[Entry] = []
    taken: set[str] = set()
    for path in sorted(chosen, key=lambda p: (p.count("/"), p)):
        if any(path.startswith(t + "/") for t in taken if not t.endswith("/")):
            continue
        kind = draw(st.sampled_from(["file", "dir", "link", "whiteout", "opaque"]))
        has_children = any(p.startswith(path + "/") for p in chosen)
        uid = draw(st.sampled_from([0, 65532]))
        if has_children or kind in ("dir", "opaque"):
            mode = draw(st.sampled_from([0o755, 0o700, 0o1777]))
            entries.append(Entry.directory(path, mode=mode, uid=uid, gid=uid))
            if kind == "opaque":
                entries.append(Entry.opaque(path))
        elif kind == "file":
            mode = draw(st.sampled_from([0o644, 0o755, 0o4755, 0o2755, 0o600]))
            data = draw(st.binary(max_size=20))
            entries.append(Entry.file(path, data, mode=mode, uid=uid, gid=uid))
        elif kind == "link":
            target = draw(st.sampled_from(["a", "/b/c", "../x", "c/a"]))
            entries.append(Entry.symlink(path, target, uid=uid, gid=uid))
        else:
            entries.append(Entry.whiteout(path))
            taken.add(path)  # nothing below a path this layer deletes
            continue
        taken.add(path if kind == "file" else path + "/")
    return entries


def describe_view(fs: FileSystemView) -> dict[str, tuple[str, int, int, int, str]]:
    out = {}
    for node in fs.nodes():
        if node.path == "/":
            continue
        kind = {EntryType.FILE: "f", EntryType.DIR: "d", EntryType.SYMLINK: "l"}[node.type]
        data = fs.read_bytes(node.path).hex() if node.is_file else node.linkname
        out[node.path] = (kind, node.mode, node.uid, node.gid, data)
    return out


def describe_disk(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st_ = full.lstat()
            path = "/" + str(full.relative_to(root))
            if stat.S_ISLNK(st_.st_mode):
                out[path] = ("l", 0o777, st_.st_uid, st_.st_gid, os.readlink(full))
            elif stat.S_ISDIR(st_.st_mode):
                out[path] = ("d", stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid, "")
            else:
                data = full.read_bytes().hex()
                out[path] = ("f", stat.S_IMODE(st_.st_mode), st_.st_uid, st_.st_gid, data)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(layer(), min_size=1, max_size=4))
def test_view_matches_unpacked_and_merged_layers(layers: list[list[Entry]]) -> None:
    require_root()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        image = make_image(root / "store", "t/diff:latest", layers)
        cache = LayerCache(root / "layers")
        store = Store(root / "store")
        lowers = cache.ensure_all([d.digest for d in image.layers], store)
        merged = root / "merged"
        merged.mkdir()
        merge_copy(lowers, merged)
        assert describe_view(FileSystemView.from_image(image)) == describe_disk(merged)
