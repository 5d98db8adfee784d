"""The closure resolver agrees with the real loader on every ELF of real trees.

For each ELF the loader that owns the tree traces it (``LD_TRACE_LOADED_OBJECTS=1`` and
``LD_VERBOSE=1``, run inside the tree under ``chroot``), and the resolver's answer must
be the same: every object and the path it loads from, everything not found, every symbol
version and whether it is met.  The trees are the host's own programs and libraries, and
the python3 and cc bases this project builds (Debian 13 and 12), read for the resolver
through the flattened image view that ``check`` uses and for the loader from the image
unpacked into a temporary directory.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from distroless.bases.build import build_bases
from distroless.bases.locks import read_lock
from distroless.bases.recipe import Recipes
from distroless.debian.provider import PackageSource
from distroless.debian.sources import read_apt_sources
from distroless.elf import LOADERS, ClosureResolver, DirectoryView, FsViewAdapter, LoaderConfig
from distroless.layers.apply import apply_layers
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store
from tests.elf.differential import agreement, elf_files
from tests.elf.support import host_hwcaps, host_platform
from tests.helpers import require, require_root

AMD64 = LOADERS["amd64"]
#: the host's programs: their closures reach the libraries, which the bases cover one by one
HOST_TREES = ("/usr/bin", "/usr/sbin")


def test_every_host_elf_resolves_as_the_host_loader_says(tmp_path: Path) -> None:
    require_root()
    require(Path(AMD64.interpreter).exists(), "the host has no x86-64 glibc loader")
    view = DirectoryView(Path("/"))
    paths = elf_files(view, [t for t in HOST_TREES if Path(t).is_dir()], AMD64)
    config = LoaderConfig(hwcaps=host_hwcaps(), at_platform=host_platform(tmp_path))
    report = agreement(Path("/"), ClosureResolver(view, config), paths)
    print(f"host: {report.checked} ELFs, {report.versions_checked} version needs compared")
    assert report.checked > 100
    assert report.disagreements == []


class _Bases:
    """The bases of each distro, built once per module on first use."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        self.stores: dict[str, tuple[Store, dict[str, str]]] = {}

    def image(self, distro: str, base: str) -> tuple[Store, str]:
        """The store holding ``base`` of ``distro`` and the name it is stored under."""
        if distro not in self.stores:
            recipes = Recipes.builtin()
            names = [n for n in ("cc", "python3") if n in recipes.names_for(distro)]
            store = Store(self.root / distro)
            source = PackageSource(self.cache)
            try:
                built = build_bases(
                    store,
                    source,
                    [recipes.get(n, distro) for n in names],
                    [(n, ("latest",)) for n in names],
                    read_lock(recipes, distro),
                    archs=("amd64",),
                )
            finally:
                source.close()
            self.stores[distro] = (store, {b.name: b.refs[0] for b in built})
        store, refs = self.stores[distro]
        return store, refs[base]


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> _Bases:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    return _Bases(tmp_path_factory.mktemp("elf-bases"), package_cache)


@pytest.mark.network
@pytest.mark.parametrize(
    ("distro", "base"),
    [("debian13", "cc"), ("debian13", "python3"), ("debian12", "cc"), ("debian12", "python3")],
)
def test_every_base_elf_resolves_as_the_images_loader_says(
    bases: _Bases, distro: str, base: str, tmp_path: Path
) -> None:
    require_root()
    store, name = bases.image(distro, base)
    image = from_store(store, name, Platform("linux", "amd64"))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    apply_layers([partial(image.open_layer, i) for i in range(len(image.layers))], rootfs)
    view = FsViewAdapter(FileSystemView.from_image(image))
    container = image.config.config
    config = LoaderConfig.from_env(
        container.env,
        cwd=container.working_dir or "/",
        expected=("amd64", None),
        hwcaps=host_hwcaps(),
    )
    paths = elf_files(view, ["/"], AMD64)
    report = agreement(rootfs, ClosureResolver(view, config), paths)
    print(f"{distro} {base}: {report.checked} ELFs, {report.versions_checked} version needs")
    assert report.checked > (100 if base == "python3" else 10)
    assert report.disagreements == []
    # the image view and the unpacked tree give the same closures
    on_disk = ClosureResolver(DirectoryView(rootfs), config).closures(paths)
    in_image = ClosureResolver(view, config).closures(paths)
    assert [c.libraries() for c in on_disk] == [c.libraries() for c in in_image]
    assert [c.versions for c in on_disk] == [c.versions for c in in_image]
    for program in container.entrypoint or (f"/usr/lib/{AMD64.triplet}/libstdc++.so.6",):
        closure = ClosureResolver(view, config).closure(program)
        assert closure.ok, closure
