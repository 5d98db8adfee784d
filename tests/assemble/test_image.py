"""The one assembly path: layers into the store, keyed layers found again, images written."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.dockerfile.executor_helpers import build, write_context

from distroless.assemble.cache import KeyedLayerCache
from distroless.assemble.image import (
    LayerSource,
    add_layer,
    assemble,
    image_layers,
    layer_cache_key,
    store_layer,
    write_image,
)
from distroless.assemble.spec_build import build_spec
from distroless.errors import BuildError
from distroless.layers.compress import Compression
from distroless.layers.entry import Entry
from distroless.layers.layer import DIFF_ID, Layer, manifest_descriptor
from distroless.oci import mediatypes as mt
from distroless.oci.models import ContainerConfig, Descriptor, ImageConfig, Manifest, Platform
from distroless.reporter import RecordingReporter
from distroless.spec import load_spec
from distroless.store import Store

AMD64 = Platform("linux", "amd64")
NOTE = "org.example.note"


def _source(key: str | None = "k", data: bytes = b"x") -> LayerSource:
    return LayerSource("test layer", lambda: [Entry.file("f", data)], cache_key=key)


def _docker_typed_base(store: Store) -> Layer:
    """``base:1``: one gzip layer listed with a Docker media type, annotations and a platform,
    as an image pulled from an older registry or loaded from ``docker save`` may have."""
    layer = store_layer(store, [Entry.file("base.txt", b"base\n")])
    listed = Descriptor(
        mt.DOCKER_LAYER_GZIP,
        layer.descriptor.digest,
        layer.descriptor.size,
        annotations={
            NOTE: "kept",
            "containerd.io/uncompressed": layer.diff_id,
            "containerd.io/distribution.source.example.org": "base",
            DIFF_ID: layer.diff_id,
        },
        platform=AMD64,
    )
    data = ImageConfig(architecture="amd64", os="linux", diff_ids=(layer.diff_id,)).to_bytes()
    config = Descriptor(mt.OCI_CONFIG, store.put_bytes(data), len(data))
    store.tag("base:1", store.put_manifest(Manifest(config, (listed,)), AMD64))
    return layer


def test_a_base_layer_is_listed_alike_by_spec_and_dockerfile_builds(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    layer = _docker_typed_base(store)
    expected = Descriptor(
        mt.OCI_LAYER_GZIP,
        layer.descriptor.digest,
        layer.descriptor.size,
        annotations={NOTE: "kept"},
    )
    spec = tmp_path / "image.yaml"
    spec.write_text("base: base:1\nfiles:\n  - {dst: /x, content: x}\n")
    from_spec = store.read_manifest(build_spec(store, load_spec(spec), platforms=[AMD64]))
    context = write_context(tmp_path / "ctx", {"x": "x"})
    built = build(store, context, "FROM base:1\nCOPY x /x\n", platform=AMD64)
    from_dockerfile = store.read_manifest(built.result.descriptor)
    assert from_spec.layers[0] == expected
    assert from_dockerfile.layers[0] == expected


def test_manifest_descriptor_keeps_an_oci_layer_as_it_is() -> None:
    desc = Descriptor(mt.OCI_LAYER_ZSTD, "sha256:" + "a" * 64, 3, annotations={NOTE: "n"})  # type: ignore[arg-type]
    assert manifest_descriptor(desc) == desc
    plain = Descriptor(mt.DOCKER_LAYER, "sha256:" + "b" * 64, 3)  # type: ignore[arg-type]
    assert manifest_descriptor(plain).media_type == mt.OCI_LAYER


def test_a_keyed_layer_is_made_once_per_key_compression_and_clamp(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    reporter = RecordingReporter()
    first = add_layer(store, _source(), reporter=reporter)
    again = add_layer(
        store, _source(data=b"other"), reporter=reporter
    )  # the key is all it compares
    assert again == first
    assert reporter.kinds() == ["layer-built", "layer-cached"]
    plain = add_layer(store, _source(), compression="none", reporter=reporter)
    add_layer(store, _source(), source_date_epoch=1, reporter=reporter)
    assert reporter.kinds()[2:] == ["layer-built", "layer-built"]  # neither was found by key
    assert plain.descriptor.digest == plain.diff_id == first.diff_id
    unkeyed = add_layer(store, _source(key=None), reporter=reporter)
    assert reporter.kinds()[-1] == "layer-built" and unkeyed.diff_id == first.diff_id


def test_a_keyed_layer_is_kept_under_the_key_layer_cache_key_names(tmp_path: Path) -> None:
    """The base builder asks the cache for this key before it schedules a layer; a key
    spelt otherwise would rebuild every layer, and a new spelling would orphan the layers
    users' stores hold."""
    store = Store(tmp_path / "store")
    cases: tuple[tuple[Compression, int], ...] = (("gzip", 0), ("zstd", 7))
    for compression, epoch in cases:
        made = add_layer(store, _source(), compression=compression, source_date_epoch=epoch)
        key = layer_cache_key(_source(), compression=compression, source_date_epoch=epoch)
        assert key == f"k:{compression}:{epoch}"
        assert KeyedLayerCache(store).get(key) == made
    assert layer_cache_key(_source(key=None)) is None
    assert layer_cache_key(_source(key="")) is None


def test_the_keyed_cache_answers_only_for_blobs_still_there(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    layer = store_layer(store, [Entry.file("f", b"y")])
    KeyedLayerCache(store, "kind").put("key", layer)
    store.add_root("kind", "no-diff-id", layer.descriptor)
    cache = KeyedLayerCache(store, "kind")
    assert cache.get("key") == layer
    assert cache.get("no-diff-id") is None and cache.get("absent") is None
    assert KeyedLayerCache(store, "other").get("key") is None
    assert KeyedLayerCache(store, "kind", enabled=False).get("key") is None
    disabled = KeyedLayerCache(store, "kind", enabled=False)
    disabled.put("recorded", layer)  # --no-cache still records for the next build
    assert KeyedLayerCache(store, "kind").get("recorded") == layer
    store.blob_path(layer.descriptor.digest).unlink()
    assert cache.get("key") is None


def test_a_cache_remembers_what_it_recorded_after_its_snapshot(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    cache = KeyedLayerCache(store)
    assert cache.get("k") is None  # the snapshot is taken here
    made = add_layer(store, _source(), cache=cache)
    reporter = RecordingReporter()
    assert add_layer(store, _source(), cache=cache, reporter=reporter) == made
    assert reporter.kinds() == ["layer-cached"]


def test_an_image_whose_config_and_manifest_disagree_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    layer = store_layer(store, [Entry.file("f", b"z")])
    desc, _ = write_image(
        store,
        platform=AMD64,
        container=ContainerConfig(),
        layers=[layer],
        history=[],
        created="1970-01-01T00:00:00Z",
    )
    manifest = store.read_manifest(desc)
    broken = Manifest(manifest.config, (layer.descriptor, layer.descriptor))
    store.tag("broken:1", store.put_manifest(broken, AMD64))
    with pytest.raises(BuildError, match="2 layers but 1 diff_ids"):
        image_layers(store.load_image("broken:1", AMD64))
    with pytest.raises(BuildError, match="inconsistent"):
        assemble(
            store,
            base=store.load_image("broken:1", AMD64),
            sources=[],
            container=ContainerConfig(),
            platform=AMD64,
        )
