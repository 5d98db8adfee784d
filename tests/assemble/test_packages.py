"""Debian packages as layers: one per .deb, keyed alike for spec builds and base images."""

from __future__ import annotations

from pathlib import Path

from tests.bases.fakes import PEM_A, PEM_B, FakeDebs

from distroless.assemble.image import add_layer
from distroless.assemble.packages import package_layer, package_layers, post_install_layers
from distroless.bases.build import BaseBuilder
from distroless.bases.recipe import Recipes, load_models
from distroless.layers.reader import iter_layer
from distroless.oci.models import Platform
from distroless.reporter import RecordingReporter
from distroless.store import Store


def _paths(store: Store, digest: str) -> dict[str, bytes | None]:
    with store.open_blob(digest) as blob:
        return {i.name: (None if s is None else s.read()) for i, s in iter_layer(blob)}


def test_a_package_layer_holds_its_files_and_status_entry(tmp_path: Path) -> None:
    debs = FakeDebs(tmp_path / "debs")
    package = next(p for p in debs.locked("amd64") if p.name == "libfake1")
    source = package_layer(package, debs.paths["libfake1"], merged_usr=True)
    assert source.created_by == "deb libfake1 1.0 amd64"
    assert source.cache_key == f"deb:{package.sha256}:usrmerge"
    plain = package_layer(package, debs.paths["libfake1"], merged_usr=False)
    assert plain.cache_key == f"deb:{package.sha256}:plain"
    store = Store(tmp_path / "store")
    files = _paths(store, add_layer(store, source).descriptor.digest)
    assert files["usr/lib/libfake.so.1"] == b"not really elf"
    assert "var/lib/dpkg/status.d/libfake1" in files


def test_ca_certificates_gets_its_bundle_layer(tmp_path: Path) -> None:
    debs = FakeDebs(tmp_path / "debs")
    assert post_install_layers({"libfake1": debs.paths["libfake1"]}, merged_usr=True) == []
    (bundle,) = post_install_layers(debs.paths, merged_usr=True)
    assert bundle.cache_key == f"cabundle:{debs.paths['ca-certificates'].name}"
    store = Store(tmp_path / "store")
    files = _paths(store, add_layer(store, bundle).descriptor.digest)
    assert files["etc/ssl/certs/ca-certificates.crt"] == PEM_A + PEM_B + b"\n"


def test_a_base_reuses_the_package_layer_a_spec_build_made(tmp_path: Path) -> None:
    debs = FakeDebs(tmp_path / "debs")
    lock = debs.lock()
    store = Store(tmp_path / "store")
    base_files = [p for p in lock.archs["amd64"] if p.name == "base-files"]
    (made,) = [add_layer(store, s) for s in package_layers(base_files, debs.paths, merged_usr=True)]
    recipes = Recipes(
        load_models({"tiny.yaml": "name: tiny\npackages: {debian13: [base-files]}\n"})
    )
    reporter = RecordingReporter()
    BaseBuilder(store, debs, lock, reporter=reporter).build(
        recipes.get("tiny"), "latest", ["amd64"]
    )
    cached = [d["key"] for kind, d in reporter.events if kind == "layer-cached"]
    assert cached == [f"deb:{base_files[0].sha256}:usrmerge"]
    image = store.load_image("distroless/tiny:latest", Platform("linux", "amd64"))
    assert image.layers[0].digest == made.descriptor.digest
