"""Attached SBOMs: OCI 1.1 artifacts in the store, deterministic, kept as long as their image."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from distroless.errors import IntegrityError, NotFoundError
from distroless.layers.entry import Entry
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor, Index, Manifest, Platform
from distroless.store import Store
from distroless.store.store import SUBJECT
from distroless.verify.attach import (
    SBOM_ROOT,
    AddedFile,
    attach_sbom,
    attached_sbom,
    referrers,
)
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store
from distroless.verify.sbom import render_sbom
from tests.verify.fakeimage import base_entries, make_image, package_entries

SPDX_SCHEMA = Path(__file__).parent / "schemas" / "spdx-schema.json"
APP = b"\x7fELF the app"
CONF = b"port=8080\n"
OLD = b"replaced later"


def build(root: Path, name: str = "example/app:v1") -> Descriptor:
    make_image(
        root,
        name,
        [
            base_entries(),
            package_entries("libc6", "2.41-12", {"usr/lib/libc.so.6": b"ELF"}, source="glibc"),
            [
                Entry.file("app/server", APP, mode=0o755),
                Entry.file("app/etc/server.conf", CONF),
                Entry.file("app/old", OLD),
            ],
            [Entry.whiteout("app/old")],
        ],
    )
    return Store(root).resolve(name)


def sbom_layer(store: Store, desc: Descriptor) -> dict[str, Any]:
    manifest = store.read_manifest(desc)
    data: dict[str, Any] = json.loads(store.read_blob(manifest.layers[0].digest))
    return data


def test_the_artifact_is_an_oci_11_manifest_naming_the_image(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (artifact,) = attach_sbom(store, image, source_date_epoch=1700000000)
    raw = json.loads(store.read_blob(artifact.digest))
    assert raw["mediaType"] == mt.OCI_MANIFEST
    assert raw["artifactType"] == "application/spdx+json"
    assert raw["config"] == {
        "mediaType": mt.OCI_EMPTY,
        "digest": raw["config"]["digest"],
        "size": 2,
    }
    assert store.read_blob(raw["config"]["digest"]) == b"{}"
    assert raw["subject"] == {
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": image.size,
    }
    assert raw["annotations"] == {"org.opencontainers.image.created": "2023-11-14T22:13:20Z"}
    (layer,) = raw["layers"]
    assert layer["mediaType"] == "application/spdx+json"
    doc = json.loads(store.read_blob(layer["digest"]))
    jsonschema.validate(doc, json.loads(SPDX_SCHEMA.read_text()))
    assert doc["packages"][0]["versionInfo"] == image.digest
    assert {p["name"] for p in doc["packages"][1:]} == {"libc6"}


def test_same_image_gives_the_same_artifact_whatever_its_name(tmp_path: Path) -> None:
    first = attach_sbom(Store(tmp_path / "a"), build(tmp_path / "a", "one/app:v1"))
    second = attach_sbom(Store(tmp_path / "b"), build(tmp_path / "b", "other/name:v9"))
    assert first == second
    again = attach_sbom(Store(tmp_path / "a"), Store(tmp_path / "a").resolve("one/app:v1"))
    assert again == first
    assert len(Store(tmp_path / "a").roots(SBOM_ROOT)) == 1


def test_the_epoch_changes_the_created_time_and_so_the_digest(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (a,) = attach_sbom(store, image, source_date_epoch=0)
    (b,) = attach_sbom(store, image, source_date_epoch=86400)
    assert a.digest != b.digest
    assert [d.digest for d in referrers(store, image.digest)] == [b.digest]  # replaced


def test_added_paths_are_hashed_from_the_image_and_directories_expand(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (artifact,) = attach_sbom(store, image, added_files=["/app", "/app/old", "/not/there"])
    files = {f["fileName"]: f for f in sbom_layer(store, artifact)["files"]}
    assert set(files) == {"./app/server", "./app/etc/server.conf"}  # app/old was removed
    sha = {c["algorithm"]: c["checksumValue"] for c in files["./app/server"]["checksums"]}
    assert sha["SHA256"] == hashlib.sha256(APP).hexdigest()


def test_added_files_with_a_wrong_digest_are_refused(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    good = AddedFile("/app/server", hashlib.sha256(APP).hexdigest())
    (artifact,) = attach_sbom(store, image, added_files=[good])
    assert [f["fileName"] for f in sbom_layer(store, artifact)["files"]] == ["./app/server"]
    with pytest.raises(IntegrityError, match="app/server"):
        attach_sbom(store, image, added_files=[AddedFile("/app/server", "0" * 64)])
    assert [d.digest for d in referrers(store, image.digest)] == [artifact.digest]


def test_attached_bytes_equal_a_fresh_rendering(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    attach_sbom(store, image, fmt="cyclonedx-json", source_date_epoch=5)
    attached = attached_sbom(store, image.digest, "cyclonedx-json")
    handle = replace(from_store(store, image.digest), name=f"image@{image.digest}")
    fs = FileSystemView.from_image(handle)
    assert attached == render_sbom(fs, "cyclonedx-json", source_date_epoch=5)
    assert attached_sbom(store, image.digest, "spdx-json") is None


def test_referrers_list_both_formats_with_artifact_types(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (spdx,) = attach_sbom(store, image)
    (cdx,) = attach_sbom(store, image, fmt="cyclonedx-json")
    found = referrers(store, image.digest)
    assert sorted(d.digest for d in found) == sorted([spdx.digest, cdx.digest])
    assert {d.artifact_type for d in found} == {
        "application/spdx+json",
        "application/vnd.cyclonedx+json",
    }
    assert all("org.opencontainers.image.created" in d.annotations for d in found)
    assert all(SUBJECT not in d.annotations for d in found)
    assert referrers(store, "sha256:" + "0" * 64) == []


def test_an_index_gets_one_sbom_per_platform(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    child = Descriptor(image.media_type, image.digest, image.size, platform=Platform())
    index = store.put_index(Index((child,)))
    store.tag("example/multi:v1", index)
    (artifact,) = attach_sbom(store, index)
    assert store.read_manifest(artifact).subject == Descriptor(
        image.media_type, image.digest, image.size
    )


def test_prune_keeps_the_sbom_while_the_image_lives_and_drops_it_after(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (artifact,) = attach_sbom(store, image)
    manifest = store.read_manifest(artifact)
    store.prune()
    assert store.has_blob(artifact.digest) and store.has_blob(manifest.layers[0].digest)
    store.tag("example/app:also", image)
    store.untag("example/app:v1")
    store.prune()
    assert referrers(store, image.digest) != []  # another tag keeps the image, and its SBOM
    store.untag("example/app:also")
    store.prune()
    assert not store.has_blob(image.digest)
    assert not store.has_blob(artifact.digest)
    assert not store.has_blob(manifest.layers[0].digest)
    assert store.roots(SBOM_ROOT) == []
    assert store.fsck() == []


def test_an_sbom_does_not_keep_a_removed_image_alive(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    attach_sbom(store, image)
    store.untag("example/app:v1")
    assert image.digest not in store.reachable()


def test_attaching_to_something_that_is_not_an_image_fails(tmp_path: Path) -> None:
    store = Store(tmp_path)
    digest = store.put_bytes(b"not json")
    with pytest.raises(NotFoundError, match="not an image"):
        attach_sbom(store, Descriptor("application/octet-stream", digest, 8))
    assert store.roots(SBOM_ROOT) == []


def test_the_artifact_round_trips_through_the_model(tmp_path: Path) -> None:
    image = build(tmp_path)
    store = Store(tmp_path)
    (artifact,) = attach_sbom(store, image)
    data = store.read_blob(artifact.digest)
    assert Manifest.from_bytes(data).to_bytes() == data


def test_attaching_again_with_the_same_inputs_reads_no_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    desc = build(tmp_path)
    first = attach_sbom(store, desc, added_files=["/app/server"])

    def no_reading(*args: object, **kwargs: object) -> FileSystemView:
        raise AssertionError("the SBOM was rendered again")

    monkeypatch.setattr(FileSystemView, "from_image", no_reading)
    assert attach_sbom(store, desc, added_files=["/app/server"]) == first
    with pytest.raises(AssertionError, match="rendered again"):
        attach_sbom(store, desc, added_files=["/app/etc/server.conf"])
