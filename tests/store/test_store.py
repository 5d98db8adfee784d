from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from tests.helpers.images import put_image

from distroless.errors import IntegrityError, NotFoundError, ReferenceFormatError
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Descriptor, Index, Platform
from distroless.store import Store


def _image(store: Store, arch: str = "amd64", payload: bytes = b"layer") -> Descriptor:
    """An image over one blob of ``payload`` (the store does not look inside layers)."""
    digest = store.put_bytes(payload)
    layer = Layer(Descriptor(mt.OCI_LAYER, digest, len(payload)), digest)
    return put_image(store, [layer], platform=Platform("linux", arch))


def test_new_store_is_an_oci_layout(tmp_path: Path) -> None:
    Store(tmp_path)
    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((tmp_path / "index.json").read_text())["manifests"] == []


def test_tag_resolve_and_load(tmp_path: Path) -> None:
    store = Store(tmp_path)
    desc = _image(store)
    assert store.tag("docker.io/library/app", desc) == "app:latest"
    assert store.resolve("app").digest == desc.digest
    assert store.resolve(desc.digest[7:19]).digest == desc.digest
    image = store.load_image("app:latest", Platform("linux", "amd64"))
    assert image.config.diff_ids == (sha256_bytes(b"layer"),)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "app:latest"


def test_a_reference_pinned_by_digest_is_the_content_the_digest_names(tmp_path: Path) -> None:
    """``FROM golang@sha256:...`` finds the stored image, tagged or not, under any name."""
    store = Store(tmp_path)
    desc = _image(store)
    store.tag("golang:1.17", desc)
    untagged = _image(store, payload=b"other")
    assert store.resolve(f"golang@{desc.digest}").digest == desc.digest
    assert store.resolve(f"golang:1.17@{desc.digest}").digest == desc.digest
    assert store.load_image(f"elsewhere/golang@{untagged.digest}").digest == untagged.digest
    with pytest.raises(NotFoundError):
        store.resolve("golang@sha256:" + "0" * 64)
    with pytest.raises(ReferenceFormatError):
        store.resolve("golang@sha256:zz")


def test_index_resolves_platform(tmp_path: Path) -> None:
    store = Store(tmp_path)
    amd = _image(store, "amd64", b"a")
    arm = _image(store, "arm64", b"b")
    store.tag("multi:1", store.put_index(Index((amd, arm))))
    assert store.load_image("multi:1", Platform("linux", "arm64")).descriptor.digest == arm.digest
    with pytest.raises(NotFoundError, match="no linux/s390x variant"):
        store.load_image("multi:1", Platform("linux", "s390x"))


def test_missing_image_message(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="distroless load"):
        Store(tmp_path).resolve("nothere:1")
    with pytest.raises(ReferenceFormatError):
        Store(tmp_path).resolve("Bad Name")


def test_verified_write_keeps_nothing_on_mismatch(tmp_path: Path) -> None:
    store = Store(tmp_path)
    before = sorted(p.name for p in store.blobs.iterdir())
    with pytest.raises(IntegrityError, match="digest mismatch"):
        store.put_bytes(b"data", expected=sha256_bytes(b"other"))
    assert sorted(p.name for p in store.blobs.iterdir()) == before
    assert list(store.tmp.iterdir()) == []


def test_prune_keeps_reachable_and_fsck(tmp_path: Path) -> None:
    store = Store(tmp_path)
    keep = _image(store, payload=b"keep")
    store.tag("keep", keep)
    drop = _image(store, payload=b"drop")
    store.tag("drop", drop)
    store.untag("drop")
    result = store.prune()
    assert result.blobs == 3
    assert store.has_blob(keep.digest)
    assert not store.has_blob(drop.digest)
    assert store.fsck() == []
    store.blob_path(sha256_bytes(b"keep")).write_bytes(b"evil!")
    problems = store.fsck()
    assert any("corrupt" in p for p in problems)
    assert any("size" in p for p in problems)


def test_roots_survive_prune(tmp_path: Path) -> None:
    store = Store(tmp_path)
    desc = _image(store, payload=b"cached")
    store.add_root("cache", "key1", desc)
    store.prune()
    assert store.find_root("cache", "key1") == Descriptor(
        desc.media_type, desc.digest, desc.size, annotations={"io.distroless.root": "cache:key1"}
    )
    assert store.refs() == []


def _tag_many(root: str, prefix: str) -> None:
    store = Store(Path(root))
    for i in range(20):
        store.tag(f"{prefix}{i}", _image(store, payload=f"{prefix}{i}".encode()))


def test_concurrent_taggers_lose_nothing(tmp_path: Path) -> None:
    Store(tmp_path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_tag_many, args=(str(tmp_path), p)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert len(Store(tmp_path).refs()) == 40
    assert Store(tmp_path).fsck() == []


def test_a_relative_root_is_made_absolute_and_link_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overlay mount points and the kernel's mount table need the real path of the store."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    store = Store(Path("link/store"))
    assert store.root == real / "store"
    assert store.state_dir("containers").is_relative_to(real)
