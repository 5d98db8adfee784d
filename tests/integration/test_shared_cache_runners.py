"""Two CI runners share the README's Go example through a registry cache, the second
starting from nothing: an empty store, an empty package cache, a Debian mirror that does
not answer.  Runner A builds (the Go builder and the distroless base made from Debian
packages), exports with ``mode=max`` and pushes the image; runner B, with ``--cache-from``
only, runs no RUN, makes both bases from the cache's layers without one .deb, and the
registry's access log shows that no blob of the builder stage was sent to it; the digest
is A's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from distroless.build import DockerfileRequest, build_image
from distroless.dockerfile.cache_flags import parse_cache_from, parse_cache_to
from distroless.registry_config import UserConfig
from distroless.reporter import RecordingReporter
from distroless.store import Store
from tests.helpers import Cli
from tests.helpers.images import GO_BUILDER
from tests.helpers.registry import blob_bytes_served, free_port
from tests.helpers.registry import registry as start_registry
from tests.helpers.shared import copied_store

# runner A's store holds the Go builder, an image with a shell
pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello-go"


def _build(root: Path, context: Path, **fields: Any) -> tuple[RecordingReporter, str]:
    reporter = RecordingReporter()
    request = DockerfileRequest(context=context, sbom=False, config=UserConfig(), **fields)
    return reporter, build_image(Store(root), request, reporter).descriptor.digest


def _ran(reporter: RecordingReporter) -> list[str]:
    return [
        str(d.get("instruction"))
        for kind, d in reporter.events
        if kind == "step" and d.get("instruction") in ("RUN", "COPY") and not d["cached"]
    ]


def test_a_runner_from_nothing_builds_the_readme_example_from_the_cache(
    tmp_path: Path, go_builder_root: Path, package_cache: Path
) -> None:
    context = tmp_path / "hello-go"
    shutil.copytree(EXAMPLE, context, ignore=shutil.ignore_patterns("myapp"))
    a_root = copied_store(go_builder_root, tmp_path / "runner-a")
    with start_registry(tmp_path / "registry", access_log=True) as reg:
        cache = reg.ref("cache/hello-go", "main")
        _, a_digest = _build(
            a_root,
            context,
            tags=("my-distroless-app",),
            package_cache=package_cache,
            cache_to=parse_cache_to(f"type=registry,ref={cache},mode=max"),
        )
        pushed = Cli(a_root)("push", "my-distroless-app", reg.ref("hello-go", "ci"), "--json")
        assert pushed.check().json()["digest"] == a_digest  # type: ignore[index]
        before = blob_bytes_served(reg)
        (tmp_path / "no-debs").mkdir()
        b_events, b_digest = _build(
            tmp_path / "runner-b",
            context,
            package_cache=tmp_path / "no-debs",
            mirror=f"http://127.0.0.1:{free_port()}",
            cache_from=(parse_cache_from(f"type=registry,ref={cache}"),),
        )
        served = {d for d, n in blob_bytes_served(reg).items() if n > before.get(d, 0)}

    assert b_digest == a_digest
    assert _ran(b_events) == []
    assert [d for k, d in b_events.events if k == "warning"] == []
    assert not any((tmp_path / "no-debs").rglob("*.deb"))
    a_store, b_store = Store(a_root), Store(tmp_path / "runner-b")
    final = {layer.digest for layer in b_store.load_image(b_digest).layers}
    builder = {layer.digest for layer in a_store.load_image(GO_BUILDER).layers} - final
    steps = {r.digest for _, r in a_store.roots("build-cache")} - final
    assert builder and steps
    assert not (builder | steps) & served, "runner B was sent a builder-stage blob"
    assert final <= served
    # the builder stays untagged in B, its layers never came; the base is whole and tagged
    names = {name for name, _ in b_store.refs()}
    assert GO_BUILDER not in names and "gcr.io/distroless/base:latest" in names
    assert b_store.fsck() == []
