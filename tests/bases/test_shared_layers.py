"""Built-in bases from a cache shared between machines: a store that lacks a base builds it
from the shared cache's package layers and reads no .deb; what the cache lacks is made
after the .debs come.  The exchange here is a small fake of ``SharedCache``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from distroless.assemble.cache import (
    LAYER_ROOT,
    SharedKeyedCache,
    keyed_layers,
    missing_layers,
    shared_key,
)
from distroless.bases.build import BaseBuilder, BuiltBase
from distroless.bases.recipe import Recipes, load_models
from distroless.debian.lockfile import LockedPackage
from distroless.errors import RegistryError
from distroless.layers.layer import Layer
from distroless.store import Store
from tests.bases.fakes import FakeDebs

RECIPES = {
    "small.yaml": (
        "name: small\npackages: {debian13: [base-files, ca-certificates, libfake1]}\n"
        "env: {PATH: /usr/bin:/bin}\n"
    ),
}


@dataclass
class Exchange:
    """Another machine's store, as a shared cache offers it: every keyed layer there."""

    source: Store
    broken: bool = False
    fetched: list[str] = field(default_factory=list)

    def _layers(self) -> dict[str, Layer]:
        digests = [Layer.from_record(r) for _, r in self.source.roots(LAYER_ROOT)]
        return keyed_layers(self.source, [layer.descriptor.digest for layer in digests if layer])

    def get(self, key: str) -> Layer | None:
        return self._layers().get(key)

    def fetch(self, key: str, store: Store) -> Layer:
        if self.broken:
            raise RegistryError("the cache's registry went away")
        layer = self._layers()[key]
        with self.source.open_blob(layer.descriptor.digest) as fh:
            store.put_descriptor(layer.descriptor, fh)
        self.fetched.append(key)
        return layer


@dataclass
class CountingDebs:
    """FakeDebs that count what is fetched."""

    inner: FakeDebs
    fetched: list[str] = field(default_factory=list)

    def deb_paths(self, packages: Sequence[LockedPackage]) -> Mapping[str, Path]:
        self.fetched += [p.name for p in packages]
        return self.inner.deb_paths(packages)

    def planned_path(self, package: LockedPackage) -> Path:
        return self.inner.planned_path(package)


@pytest.fixture
def debs(tmp_path: Path) -> CountingDebs:
    return CountingDebs(FakeDebs(tmp_path / "debs"))


def _build(store: Store, debs: CountingDebs, exchange: Exchange | None = None) -> BuiltBase:
    recipe = Recipes(load_models(RECIPES)).get("small")
    cache = SharedKeyedCache(store, exchange) if exchange is not None else None
    builder = BaseBuilder(store, debs, debs.inner.lock(), shared=cache)
    built = builder.build(recipe, "latest", ["amd64"])
    if cache is not None and built.deferred:
        cache.fetch(built.deferred)
    return built


def test_a_base_comes_whole_from_the_shared_cache_without_a_deb(
    tmp_path: Path, debs: CountingDebs
) -> None:
    a = Store(tmp_path / "a")
    made = _build(a, debs)
    debs.fetched.clear()
    exchange = Exchange(a)
    b = Store(tmp_path / "b")
    built = _build(b, debs, exchange)
    assert built.descriptor == made.descriptor
    assert debs.fetched == []
    image = b.load_image(built.descriptor.digest)
    assert built.deferred == {layer.digest for layer in image.layers}
    assert sorted(exchange.fetched) == sorted(shared_key(k) for k, _ in b.roots(LAYER_ROOT))
    assert missing_layers(b, built.descriptor) == frozenset()
    assert b.fsck() == []


def test_an_image_with_deferred_layers_is_not_tagged(tmp_path: Path, debs: CountingDebs) -> None:
    a = Store(tmp_path / "a")
    _build(a, debs)
    b = Store(tmp_path / "b")
    recipe = Recipes(load_models(RECIPES)).get("small")
    cache = SharedKeyedCache(b, Exchange(a))
    built = BaseBuilder(b, debs, debs.inner.lock(), shared=cache).build(recipe, "latest", ["amd64"])
    assert built.deferred and built.refs
    assert b.refs() == []  # tagged by whoever fetches its layers, once they are in
    assert b.fsck() == []


def test_a_layer_the_cache_lacks_is_made_after_the_debs_come(
    tmp_path: Path, debs: CountingDebs
) -> None:
    a = Store(tmp_path / "a")
    made = _build(a, debs)
    records = a.roots(LAYER_ROOT)
    first = next(key for key, _ in records if key.startswith("deb:"))
    a.drop_roots(LAYER_ROOT)  # the other machine kept all but one layer
    for key, recorded in records:
        if key != first:
            a.add_root(LAYER_ROOT, key, recorded)
    debs.fetched.clear()
    b = Store(tmp_path / "b")
    built = _build(b, debs, Exchange(a))
    assert built.descriptor == made.descriptor
    assert debs.fetched  # the lacking layer needed its .deb
    assert len(built.deferred) == len(records) - 1


def test_a_cache_that_fails_to_deliver_fails_the_fetch_and_adds_nothing(
    tmp_path: Path, debs: CountingDebs
) -> None:
    a = Store(tmp_path / "a")
    _build(a, debs)
    with pytest.raises(RegistryError, match="went away"):
        _build(Store(tmp_path / "b"), debs, Exchange(a, broken=True))
    assert Store(tmp_path / "b").refs() == []


def test_shared_keys_are_step_key_shaped_and_differ_from_the_local_keys() -> None:
    key = shared_key("deb:abc:usrmerge:gzip:0")
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert key != shared_key("deb:abc:usrmerge:gzip:1")


def test_the_shared_keyed_cache_prefers_the_store(tmp_path: Path, debs: CountingDebs) -> None:
    a = Store(tmp_path / "a")
    _build(a, debs)
    exchange = Exchange(a)
    cache = SharedKeyedCache(a, exchange)
    for key, _ in a.roots(LAYER_ROOT):
        assert cache.get(key) is not None
    assert cache.deferred == {} and exchange.fetched == []
