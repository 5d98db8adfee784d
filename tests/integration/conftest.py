"""Fixtures for tests that drive real components (see tests/conftest.py for the engines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.bases.builders import build_builder
from distroless.debian.provider import PackageSource
from distroless.debian.sources import read_apt_sources
from distroless.store import Store
from tests.helpers import Cli, DockerEngine, require_root, require_tool, rootfs_tar
from tests.helpers.shared import made_once

GOLANG_SPEC = Path(__file__).resolve().parents[2] / "examples" / "golang" / "image.yaml"


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


@pytest.fixture(scope="session")
def golang_base_root(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    """A store with ``golang:1.17`` (examples/golang/image.yaml) and ``base:latest`` for
    amd64, both from Debian packages, made once for the run; a module builds in its own
    copy (:func:`tests.helpers.shared.copied_store`), never in this one."""
    require_root()
    require_tool("runc")

    def make(shared: Path) -> None:
        cli = Cli(shared / "store")
        env = {"DISTROLESS_CACHE": str(package_cache)}
        cli("build", "--spec", GOLANG_SPEC, "-t", "golang:1.17", env=env).check()
        cli("bases", "build", "base:latest", "--arch", "amd64", env=env).check()

    return made_once(tmp_path_factory, "golang-base", make) / "store"
