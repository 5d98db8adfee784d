"""FROM resolution: store first, then the built-in bases, then a registry; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.dockerfile.resolve_base import BaseResolver, DistrolessBase, distroless_base
from distroless.errors import NotFoundError, RegistryError
from distroless.layers.entry import Entry
from distroless.oci.models import Descriptor, Platform
from distroless.reporter import RecordingReporter
from distroless.store import Store
from tests.dockerfile.executor_helpers import store_image

AMD64 = Platform("linux", "amd64")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("gcr.io/distroless/base", DistrolessBase("base", None, "latest")),
        ("gcr.io/distroless/base-debian12:nonroot", DistrolessBase("base", "debian12", "nonroot")),
        ("gcr.io/distroless/cc-debian13", DistrolessBase("cc", "debian13", "latest")),
        ("distroless/static:debug", DistrolessBase("static", None, "debug")),
        ("gcr.io/distroless/base-nossl", DistrolessBase("base-nossl", None, "latest")),
        ("golang:1.17", None),
        ("gcr.io/other/base", None),
        ("gcr.io/distroless/base@sha256:" + "a" * 64, None),
    ],
)
def test_distroless_names(image: str, expected: DistrolessBase | None) -> None:
    assert distroless_base(image) == expected


def test_store_first_then_builder_then_puller(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    calls: list[str] = []

    def builder(base: DistrolessBase, image: str, platform: Platform) -> Descriptor:
        calls.append(f"build {base.name}")
        return store_image(store, image, [[Entry.file("base", b"b")]])

    def puller(image: str, platform: Platform) -> Descriptor:
        calls.append(f"pull {image}")
        return store_image(store, image, [[Entry.file("pulled", b"p")]])

    store_image(store, "local:1", [[Entry.file("x", b"x")]])
    resolver = BaseResolver(store, base_builder=builder, puller=puller)
    assert resolver.resolve("local:1", AMD64, "Dockerfile:1").name == "local:1"
    resolver.resolve("gcr.io/distroless/base", AMD64, "Dockerfile:2")
    resolver.resolve("gcr.io/distroless/base", AMD64, "Dockerfile:3")  # remembered
    resolver.resolve("golang:1.17", AMD64, "Dockerfile:4")
    assert calls == ["build base", "pull golang:1.17"]


def test_a_failed_pull_names_the_image_and_the_ways_to_provide_it(tmp_path: Path) -> None:
    def puller(image: str, platform: Platform) -> Descriptor:
        raise RegistryError("the registry is unreachable (name resolution failed)")

    resolver = BaseResolver(Store(tmp_path / "store"), puller=puller)
    with pytest.raises(NotFoundError) as err:
        resolver.resolve("golang:1.17", AMD64, "Dockerfile:1")
    message = str(err.value)
    assert message.startswith("Dockerfile:1: golang:1.17 is not in the store")
    assert "distroless pull golang:1.17" in message and "distroless load" in message
    assert "[aliases]" in message


def test_an_alias_replaces_only_the_name_it_is_given_for_and_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store_image(store, "distroless/builder-go:1.24-debian13", [[Entry.file("go", b"g")]])
    pulled: list[str] = []

    def puller(image: str, platform: Platform) -> Descriptor:
        pulled.append(image)
        return store_image(store, image, [[Entry.file("pulled", b"p")]])

    aliases = {"golang:1.22": "distroless/builder-go:1.24-debian13"}
    reporter = RecordingReporter()
    resolver = BaseResolver(store, puller=puller, reporter=reporter, alias_for=aliases.get)
    got = resolver.resolve("golang:1.22", AMD64, "Dockerfile:1")
    assert got.name == "distroless/builder-go:1.24-debian13"
    assert pulled == []
    alias = "Dockerfile:1: golang:1.22 is an alias of distroless/builder-go:1.24-debian13"
    assert ("step", {"message": alias + " (config.toml [aliases])"}) in reporter.events
    resolver.resolve("golang:1.17", AMD64, "Dockerfile:2")  # no alias: a registry image
    assert pulled == ["golang:1.17"]
