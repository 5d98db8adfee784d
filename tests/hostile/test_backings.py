"""One hostile tree, every backing that resolves names inside a root.

The same untrusted tree (absolute links to a host decoy, ``..`` climbs, links through
parents, loops) is laid out as each thing the tool resolves names in: a directory on disk
(build contexts, container roots, the runtime's ``-u`` and ``-v``), an overlay layer stack
(stage file systems), a flattened image view (``check``, ``sbom``), the ELF views, a layer
entry table (the ld.so.cache writer) and the layer applier.  Every backing must land each
probe on the same path inside the root, read the image's bytes there, and never the
host decoy's.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from distroless.bases.ldcache import FileTree
from distroless.dockerfile.context import BuildContext
from distroless.dockerfile.layerfs import LayeredFS
from distroless.elf import DirectoryView, FsViewAdapter
from distroless.elf.view import lookup as elf_lookup
from distroless.errors import DistrolessError
from distroless.layers.apply import apply_layer
from distroless.layers.build import write_layer
from distroless.layers.entry import Entry
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Descriptor, ImageConfig
from distroless.rootpath import host_path_in_root
from distroless.runtime.container import secure_join
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle

HOST_SECRET = b"HOST SECRET: must never be read"


@dataclass(frozen=True)
class Tree:
    """The hostile tree: where the host decoy is, and the image's entries."""

    decoy: Path  # an absolute host path outside every root
    entries: tuple[Entry, ...]

    @property
    def twin(self) -> str:
        """The decoy's path taken inside the image, where an honest resolver lands."""
        return str(self.decoy).lstrip("/")


def hostile_tree(tmp_path: Path) -> Tree:
    decoy = tmp_path / "host" / "secret"
    decoy.parent.mkdir()
    decoy.write_bytes(HOST_SECRET)
    twin = str(decoy).lstrip("/")
    parents = twin.split("/")[:-1]
    dirs = ["/".join(parents[: i + 1]) for i in range(len(parents))]
    entries = [
        *(Entry.directory(d) for d in ["etc", "lib", *dirs]),
        Entry.file(twin, b"twin inside the image"),
        Entry.file("etc/shadow", b"image shadow"),
        Entry.file("lib/libc.so.6", b"image libc"),
        Entry.symlink("abs", str(decoy)),  # an absolute link to the host decoy
        Entry.symlink("up", "../../../../../../../../" + twin),  # climbs far above the root
        Entry.symlink("hostdir", str(decoy.parent)),  # a linked host directory
        Entry.symlink("etc/passwd", "/etc/shadow"),  # absolute inside the image
        Entry.symlink("chain", "abs"),
        Entry.symlink("lib64", "/../../lib"),
        Entry.symlink("loop1", "loop2"),
        Entry.symlink("loop2", "loop1"),
    ]
    return Tree(decoy, tuple(entries))


#: probe -> the path (inside the root) it must resolve to, or None for a loop
PROBES: dict[str, str | None] = {
    "abs": "{twin}",
    "up": "{twin}",
    "hostdir/secret": "{twin}",
    "chain": "{twin}",
    "etc/passwd": "etc/shadow",
    "lib64/libc.so.6": "lib/libc.so.6",
    "../../etc/passwd": "etc/shadow",
    "loop1": None,
}


def content_of(tree: Tree, rel: str) -> bytes:
    for entry in tree.entries:
        if entry.path == rel:
            with entry.open() as fh:
                return fh.read()
    raise KeyError(rel)


# -- backings: each answers (resolved path inside the root, the bytes read there) ------------

Answer = tuple[str, bytes | None] | None
Backing = Callable[[Tree, Path], Callable[[str], Answer]]


def _materialise(tree: Tree, root: Path) -> Path:
    """The tree laid out on disk by the hardened applier (itself a backing under test)."""
    layer = io.BytesIO()
    write_layer(tree.entries, layer, "none")
    layer.seek(0)
    apply_layer(layer, root)
    return root


def _on_disk(root: Path, host: Path) -> Answer:
    rel = str(host.relative_to(root)) if host != root else ""
    return rel, host.read_bytes() if host.is_file() else None


def host_directory(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    root = _materialise(tree, tmp / "root")
    return lambda probe: _on_disk(root, host_path_in_root(root, probe))


def container_root(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    root = _materialise(tree, tmp / "root")
    return lambda probe: _on_disk(root, secure_join(root, probe))


def build_context(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    root = _materialise(tree, tmp / "context")
    context = BuildContext(root)

    def read(probe: str) -> Answer:
        (match,) = context.match(probe, "Dockerfile:1")
        return _on_disk(root, match.disk)

    return read


def stage_layers(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    layer = _materialise(tree, tmp / "layer")
    fs = LayeredFS(lambda: [layer])

    def read(probe: str) -> Answer:
        node = fs.lookup("/" + probe)
        if node is None:
            return None
        return node.path.lstrip("/"), node.host.read_bytes() if node.is_file else None

    return read


def elf_directory(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    root = _materialise(tree, tmp / "root")
    view = DirectoryView(root)

    def read(probe: str) -> Answer:
        found = elf_lookup(view, "/" + probe)
        if found is None:
            return None
        with view.open(found[0]) as fh:
            return found[0].lstrip("/"), fh.read()

    return read


def _image_view(tree: Tree) -> FileSystemView:
    blob = io.BytesIO()
    info = write_layer(tree.entries, blob, "gzip")
    data = blob.getvalue()
    config = ImageConfig(architecture="amd64", os="linux", diff_ids=(info.diff_id,))
    handle = ImageHandle(
        name="hostile:1",
        digest=sha256_bytes(config.to_bytes()),
        config=config,
        layers=(Descriptor(mt.OCI_LAYER_GZIP, info.digest, info.size),),
        open_layer=lambda _index: io.BytesIO(data),
    )
    return FileSystemView.from_image(handle)


def image_view(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    fs = _image_view(tree)

    def read(probe: str) -> Answer:
        resolved = fs.resolve(probe)
        if resolved is None:
            return None
        return resolved.lstrip("/"), fs.read_bytes(resolved)

    return read


def elf_image_view(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    view = FsViewAdapter(_image_view(tree))

    def read(probe: str) -> Answer:
        found = elf_lookup(view, "/" + probe)
        if found is None:
            return None
        with view.open(found[0]) as fh:
            return found[0].lstrip("/"), fh.read()

    return read


def entry_table(tree: Tree, tmp: Path) -> Callable[[str], Answer]:
    table = {e.path: e for e in tree.entries}
    files = FileTree(table)

    def read(probe: str) -> Answer:
        resolved = files.resolve(probe)
        if resolved is None:
            return None
        return resolved, content_of(tree, resolved)

    return read


BACKINGS: dict[str, Backing] = {
    "host-directory": host_directory,
    "container-root": container_root,
    "build-context": build_context,
    "stage-layers": stage_layers,
    "elf-directory": elf_directory,
    "image-view": image_view,
    "elf-image-view": elf_image_view,
    "ld-cache-entries": entry_table,
}


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    made = hostile_tree(tmp_path)
    yield made
    # the decoy is untouched whatever a backing did
    assert made.decoy.read_bytes() == HOST_SECRET


@pytest.mark.parametrize("backing", sorted(BACKINGS))
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_every_backing_resolves_inside_the_root(
    backing: str, probe: str, tree: Tree, tmp_path: Path
) -> None:
    read = BACKINGS[backing](tree, tmp_path)
    expected = PROBES[probe]
    try:
        answer = read(probe)
    except DistrolessError:
        answer = None
    if expected is None:
        assert answer is None or answer[1] is None, f"{backing} followed a link loop"
        return
    wanted = expected.format(twin=tree.twin)
    assert answer is not None, f"{backing} found nothing for {probe!r}"
    resolved, data = answer
    assert data != HOST_SECRET, f"{backing} read the host decoy through {probe!r}"
    assert resolved == wanted
    assert data == content_of(tree, wanted)


def test_the_applier_writes_through_hostile_parents_only_inside_the_root(
    tree: Tree, tmp_path: Path
) -> None:
    """A later layer writing under linked parents lands in the image, never on the host.

    The layer is written by hand without parent entries: a directory entry would replace
    the link (as every applier does), and the point is to walk through it.
    """
    root = _materialise(tree, tmp_path / "root")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, data in (("hostdir/planted", b"x"), ("abs", b"replaced link")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    layer.seek(0)
    apply_layer(layer, root)
    assert sorted(p.name for p in tree.decoy.parent.iterdir()) == ["secret"]
    assert (root / tree.twin).parent.joinpath("planted").read_bytes() == b"x"
    assert (root / "abs").read_bytes() == b"replaced link"
