"""The tool's own image as a CI step: run in the test engine with its defaults (no
``--privileged``, default capabilities and seccomp profile), it builds the Go example from a
mounted context and store with RUN steps under ``--isolation chroot``, and pushes it to the
test registry; the pushed image runs in docker.  ``run`` there refuses in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from distroless.dockerfile.executor import CHROOT_FALLBACK
from distroless.store import Store
from tests.helpers import Cli, DockerEngine
from tests.helpers.images import GO_BUILDER, copy_images
from tests.helpers.registry import Registry
from tests.helpers.tool_image import TOOL_IMAGE, tool_image_root

# the runner's store holds the Go builder, an image with a shell
pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-go"


def _runner_store(root: Path, go_builder_root: Path, golang_base_root: Path) -> Path:
    """What a CI runner's cache volume would hold: the builder and the base, nothing more."""
    store = Store(root)
    copy_images(go_builder_root, store, (GO_BUILDER,))
    bases = tuple(name for name, _ in Store(golang_base_root).refs() if "distroless/base" in name)
    copy_images(golang_base_root, store, bases)
    return root


def test_the_tool_image_builds_and_pushes_without_privileges(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    package_cache: Path,
    docker_engine: DockerEngine,
    registry: Registry,
    go_builder_root: Path,
    golang_base_root: Path,
) -> None:
    archive = tmp_path / "tool.tar"
    Cli(tool_image_root(tmp_path_factory, package_cache))("save", TOOL_IMAGE, "-o", archive).check()
    docker_engine.load(archive)
    store = _runner_store(tmp_path / "store", go_builder_root, golang_base_root)
    context = tmp_path / "hello-go"
    shutil.copytree(EXAMPLE, context, ignore=shutil.ignore_patterns("myapp"))
    ref = registry.ref("hello", "ci")
    volumes = ("-v", f"{store}:/var/lib/distroless", "-v", f"{context}:/workspace")
    built = docker_engine.run(
        "run", "--rm", "--network", "host", *volumes, TOOL_IMAGE, "build", "--push", "-t", ref, "."
    )
    assert built.stderr.count(CHROOT_FALLBACK) == 1, built.stderr
    docker_engine.run("pull", ref)
    ran = docker_engine.run_image(ref)
    assert ran.stdout == "Hello, Distroless World!\n"
    refused = docker_engine.run(
        "run", "--rm", "--network", "none", *volumes, TOOL_IMAGE, "run", "--rm", ref, check=False
    )
    assert refused.returncode == 10, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
