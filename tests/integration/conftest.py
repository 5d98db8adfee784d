"""Fixtures for tests that drive real components (see tests/conftest.py for the engines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.bases.builders import build_builder
from distroless.debian.provider import PackageSource
from distroless.debian.sources import read_apt_sources
from distroless.store import Store
from tests.helpers import DockerEngine, rootfs_tar
from tests.helpers.shared import made_once


@pytest.fixture(scope="session")
def hello_rootfs(tmp_path_factory: pytest.TempPathFactory, hello_go_binary: Path) -> Path:
    """A rootfs tar holding only ``/hello`` (the static Go binary), for ``docker import``."""
    out = tmp_path_factory.mktemp("rootfs") / "hello-rootfs.tar"
    return rootfs_tar(out, {"hello": hello_go_binary})


@pytest.fixture(scope="session")
def hello_image(docker_engine: DockerEngine, hello_rootfs: Path) -> str:
    """``distroless-test/hello:latest`` imported into the session engine, entrypoint ``/hello``."""
    return docker_engine.import_rootfs(
        hello_rootfs, "distroless-test/hello:latest", 'ENTRYPOINT ["/hello"]'
    )


@pytest.fixture(scope="session")
def go_builder_root(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    """A store holding the Go builder (``tests.helpers.images.GO_BUILDER``) for amd64,
    built once for the run, whichever worker asks first (it takes minutes: Go's packages are
    large); a module copies it into its own store with
    :func:`tests.helpers.images.copy_images`."""
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")

    def make(shared: Path) -> None:
        source = PackageSource(package_cache)
        try:
            build_builder(Store(shared / "store"), "builder-go", source, archs=("amd64",))
        finally:
            source.close()

    return made_once(tmp_path_factory, "go-builder", make) / "store"
