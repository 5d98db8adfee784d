"""The loader table against Debian's own ``ld.so`` of several architectures.

An image of ``base-files`` and ``libc6`` is built for each architecture; in each, the
interpreter the table names exists, its binary holds the system directories and the
``$LIB`` value the table gives (glibc keeps them as NUL-separated strings), and every ELF
of the image resolves with the loader the resolver picks for it, through the flattened
image view.  An x86-64 program dropped into the unpacked arm64 tree finds no interpreter
and is reported as the wrong architecture.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import pytest

from distroless.elf import (
    LOADERS,
    ClosureResolver,
    DirectoryView,
    FsViewAdapter,
    LoaderConfig,
    lookup,
)
from distroless.layers.apply import apply_layers
from distroless.store import Store
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import ImageHandle, from_store
from tests.elf.differential import elf_files
from tests.helpers import Cli

pytestmark = [pytest.mark.network]
ARCHS = ("amd64", "arm64", "armhf", "i386", "riscv64")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> dict[str, ImageHandle]:
    root = tmp_path_factory.mktemp("elf-loaders")
    spec = root / "image.yaml"
    spec.write_text(f"packages: [base-files, libc6]\narchs: [{', '.join(ARCHS)}]\n")
    cli = Cli(root / "store")
    env = {"DISTROLESS_CACHE": str(package_cache)}
    cli("build", "--spec", spec, "-t", "libc:all", "--no-sbom", env=env).check()
    store = Store(root / "store")
    out = {}
    for platform in store.platforms("libc:all"):
        image = from_store(store, "libc:all", platform)
        out[platform.debian_arch()] = image
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_the_table_matches_debians_loader(images: dict[str, ImageHandle], arch: str) -> None:
    loader = LOADERS[arch]
    image = images[arch]
    view = FsViewAdapter(FileSystemView.from_image(image))
    found = lookup(view, loader.interpreter)
    assert found is not None, f"{loader.interpreter} is not in the {arch} image"
    with view.open(found[0]) as stream:
        binary = stream.read()
    system_dirs = b"\0".join(d.encode() for d in loader.system_dirs) + b"\0"
    assert system_dirs in binary
    assert b"\0" + loader.dst_lib.encode() + b"\0" in binary
    assert f"self-identifies as: {loader.interpreter}".encode() in binary

    expected = (loader.oci_arch, loader.oci_variant)
    resolver = ClosureResolver(view, LoaderConfig(expected=expected))
    paths = elf_files(view, ["/usr/lib"], loader)
    assert len(paths) > 10
    for closure in resolver.closures(paths):
        assert closure.loader is loader, closure.root
        assert closure.ok, closure
        assert closure.rejected == ()
    libc = resolver.closure(f"/lib/{loader.triplet}/libc.so.6")
    versions = {v.version for v in libc.versions}
    assert "GLIBC_PRIVATE" in versions and libc.unmet_versions == ()


def test_an_x86_64_program_in_the_arm64_tree(
    images: dict[str, ImageHandle], tmp_path: Path
) -> None:
    image = images["arm64"]
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    apply_layers([partial(image.open_layer, i) for i in range(len(image.layers))], rootfs)
    shutil.copy2("/usr/bin/true", rootfs / "usr/bin/amd64-true")
    resolver = ClosureResolver(DirectoryView(rootfs), LoaderConfig(expected=("arm64", None)))
    closure = resolver.closure("/usr/bin/amd64-true")
    assert closure.platform_mismatch == "amd64 binary, but the image is arm64"
    assert closure.interpreter_error == "interpreter /lib64/ld-linux-x86-64.so.2 does not exist"
    assert not closure.ok
    native = resolver.closure("/usr/lib/aarch64-linux-gnu/libc.so.6")
    assert native.ok and native.loader is LOADERS["arm64"]
