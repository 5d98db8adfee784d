"""FROM resolution: store first, then the built-in bases, then a registry; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.dockerfile.resolve_base import (
    BaseResolver,
    DistrolessBase,
    PolicyCheck,
    distroless_base,
)
from distroless.errors import NotFoundError, PolicyError, RegistryError
from distroless.layers.entry import Entry
from distroless.oci.models import Descriptor, Platform
from distroless.reporter import RecordingReporter
from distroless.store import Store
from tests.helpers.images import store_image

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


def _refusing(refuse: set[str], calls: list[tuple[str, bool]]) -> PolicyCheck:
    def check(image: str, descriptor: Descriptor, built_locally: bool) -> object:
        calls.append((image, built_locally))
        if image in refuse and not built_locally:
            raise PolicyError(f"image {image} ({descriptor.digest[:19]}) is refused by policy")
        return None

    return check


def test_the_policy_sees_store_and_recipe_images_and_is_one_line_naming_the_step(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    builder_desc = store_image(store, "golang:1.17", [[Entry.file("go", b"go")]])

    def builder(base: DistrolessBase, image: str, platform: Platform) -> Descriptor:
        return store_image(store, image, [[Entry.file("base", b"b")]])

    calls: list[tuple[str, bool]] = []
    resolver = BaseResolver(store, base_builder=builder, policy=_refusing({"golang:1.17"}, calls))
    resolver.resolve("gcr.io/distroless/base", AMD64, "Dockerfile:9")
    with pytest.raises(PolicyError) as err:
        resolver.resolve("golang:1.17", AMD64, "Dockerfile:1", role="copy-from")
    assert str(err.value) == (
        f"Dockerfile:1: image golang:1.17 ({builder_desc.digest[:19]}) is refused by policy"
    )
    assert calls == [("gcr.io/distroless/base", True), ("golang:1.17", False)]
    assert [(u.name, u.source, u.role) for u in resolver.used] == [
        ("gcr.io/distroless/base", "recipe", "base")
    ]


def test_used_images_are_named_by_the_digest_their_name_resolves_to(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    desc = store_image(store, "golang:1.17", [[Entry.file("go", b"go")]])
    resolver = BaseResolver(store)
    resolver.resolve("golang:1.17", AMD64, "Dockerfile:1")
    resolver.resolve("golang:1.17", AMD64, "Dockerfile:5", role="copy-from")  # remembered
    (used,) = resolver.used
    assert (used.descriptor.digest, used.role, used.source) == (desc.digest, "base", "store")


def test_an_unsigned_builtin_base_in_the_store_is_built_again_from_its_recipe(
    tmp_path: Path,
) -> None:
    """The recipe's image is verified by Debian's keyring, so the policy exempts it."""
    store = Store(tmp_path / "store")
    loaded = store_image(store, "gcr.io/distroless/base", [[Entry.file("loaded", b"l")]])
    built: list[str] = []

    def builder(base: DistrolessBase, image: str, platform: Platform) -> Descriptor:
        built.append(image)
        return store_image(store, image, [[Entry.file("base", b"b")]])

    calls: list[tuple[str, bool]] = []
    resolver = BaseResolver(
        store, base_builder=builder, policy=_refusing({"gcr.io/distroless/base"}, calls)
    )
    found = resolver.resolve("gcr.io/distroless/base", AMD64, "Dockerfile:1")
    assert built == ["gcr.io/distroless/base"] and found.digest != loaded.digest
    assert calls == [("gcr.io/distroless/base", False), ("gcr.io/distroless/base", True)]
    assert resolver.used[0].source == "recipe"


def test_a_pull_refused_by_policy_stays_a_policy_error(tmp_path: Path) -> None:
    def puller(image: str, platform: Platform) -> Descriptor:
        raise PolicyError(f"image {image} is refused by policy 'golang:*'")

    calls: list[tuple[str, bool]] = []
    resolver = BaseResolver(
        Store(tmp_path / "store"), puller=puller, policy=_refusing(set(), calls)
    )
    with pytest.raises(PolicyError, match=r"^Dockerfile:1: image golang:1.17 is refused"):
        resolver.resolve("golang:1.17", AMD64, "Dockerfile:1")
    assert calls == []  # the pull itself holds a pulled image to the policy


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
    # provenance names the image the build read, the alias's target
    assert [u.name for u in resolver.used] == [
        "distroless/builder-go:1.24-debian13",
        "golang:1.17",
    ]


def test_the_policy_holds_the_image_an_alias_names(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store_image(store, "distroless/builder-go:1.24-debian13", [[Entry.file("go", b"g")]])
    calls: list[tuple[str, bool]] = []
    refuse = {"distroless/builder-go:1.24-debian13"}
    aliases = {"golang:1.22": "distroless/builder-go:1.24-debian13"}
    resolver = BaseResolver(store, alias_for=aliases.get, policy=_refusing(refuse, calls))
    with pytest.raises(PolicyError, match=r"^Dockerfile:1: image distroless/builder-go"):
        resolver.resolve("golang:1.22", AMD64, "Dockerfile:1")
    assert calls == [("distroless/builder-go:1.24-debian13", False)]
