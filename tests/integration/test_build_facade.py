"""``FROM gcr.io/distroless/base`` through the library facade alone: the base is built from
its recipe with packages from the Debian archive, and the image gets its SBOM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distroless.build import BasesRequest, DockerfileRequest, build_base_images, build_image
from distroless.debian.sources import read_apt_sources
from distroless.oci.models import Platform
from distroless.reporter import RecordingReporter
from distroless.store import Store
from distroless.verify.attach import attached_sbom

pytestmark = [pytest.mark.integration, pytest.mark.network]

AMD64 = Platform("linux", "amd64")


def test_from_distroless_base_builds_the_base_and_attaches_the_sbom(
    tmp_path: Path, package_cache: Path
) -> None:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text(
        'FROM gcr.io/distroless/base\nCOPY hello.txt /hello.txt\nCMD ["/hello.txt"]\n'
    )
    store = Store(tmp_path / "store")
    reporter = RecordingReporter()
    request = DockerfileRequest(
        context, tags=("app:1",), platform=AMD64, package_cache=package_cache
    )
    outcome = build_image(store, request, reporter)

    sources = [d["source"] for kind, d in reporter.events if kind == "base"]
    assert sources == ["recipe"]
    base = store.load_image("gcr.io/distroless/base:latest", AMD64)
    image = store.load_image("app:1", AMD64)
    assert image.digest == outcome.descriptor.digest
    assert image.layers[:-1] == base.layers and len(base.layers) == 10
    assert image.config.config.user == "0" and image.config.config.cmd == ("/hello.txt",)

    assert len(outcome.sboms) == 1
    data = attached_sbom(store, outcome.descriptor.digest)
    assert data is not None
    doc = json.loads(data)
    packages = {p["name"] for p in doc["packages"]}
    assert {"libc6", "libssl3t64", "libzstd1", "zlib1g", "base-files"} <= packages
    assert [f["fileName"] for f in doc["files"]] == ["./hello.txt"]

    # the same base as `distroless bases build base:latest --arch amd64` makes
    other = Store(tmp_path / "bases")
    bases = BasesRequest(package_cache, names=("base:latest",), archs=("amd64",))
    (built,) = build_base_images(other, bases)
    assert built.descriptor.digest == base.digest
    assert built.refs[0] == "distroless/base:latest"
