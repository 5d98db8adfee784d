"""Fixtures for tests that drive real components (see tests/conftest.py for the engines)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DockerEngine, rootfs_tar


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
