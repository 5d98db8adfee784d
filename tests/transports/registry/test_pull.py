"""pull() against an in-memory registry: media types, resumption and refusal of bad content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from distroless.errors import IntegrityError, RegistryError
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.digest import Digest, sha256_bytes
from distroless.oci.models import Descriptor, Platform
from distroless.registry_config import UserConfig
from distroless.store import Store
from distroless.transports.registry import Registries, RetryPolicy, pull
from tests.transports.registry.support import blob_files, layer_bytes


class _Broken(httpx.SyncByteStream):
    """Yields the first half of ``data`` and then fails like a reset connection."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data[: len(self.data) // 2]
        raise httpx.ReadError("connection reset by peer")


class FakeRegistry:
    """A registry of one repository ``app`` held in dicts; behaviour is switched by flags."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.break_once: set[str] = set()
        self.ignore_range = False
        self.header_digest: str | None = None
        self.requests: list[httpx.Request] = []

    def add_blob(self, data: bytes) -> Descriptor:
        digest = sha256_bytes(data)
        self.blobs[digest] = data
        return Descriptor("application/octet-stream", digest, len(data))

    def add_manifest(
        self, media_type: str, doc: dict[str, object], tag: str | None = None
    ) -> Digest:
        data = dumps(doc)
        digest = sha256_bytes(data)
        self.manifests[digest] = (media_type, data)
        if tag:
            self.manifests[tag] = (media_type, data)
        return digest

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200)
        ref = path.rsplit("/", 1)[1]
        if "/manifests/" in path and ref in self.manifests:
            media_type, data = self.manifests[ref]
            digest = self.header_digest or sha256_bytes(data)
            return httpx.Response(
                200,
                content=data,
                headers={"Content-Type": media_type, "Docker-Content-Digest": digest},
            )
        if "/blobs/" in path and ref in self.blobs:
            data = self.blobs[ref]
            if ref in self.break_once:
                self.break_once.discard(ref)
                return httpx.Response(200, stream=_Broken(data))
            rng = request.headers.get("range")
            if rng and not self.ignore_range:
                start = int(rng.removeprefix("bytes=").rstrip("-"))
                return httpx.Response(
                    206,
                    content=data[start:],
                    headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
                )
            return httpx.Response(200, content=data)
        return httpx.Response(404, json={"errors": [{"code": "NOT_FOUND", "message": path}]})


def docker_image(reg: FakeRegistry, arch: str) -> tuple[Descriptor, Descriptor, Descriptor]:
    """A Docker schema 2 image; returns (manifest, config, layer) descriptors."""
    blob, tar = layer_bytes({f"{arch}.txt": arch.encode() * 5000})
    layer = reg.add_blob(blob)
    config_doc = {"architecture": arch, "os": "linux", "rootfs": {"type": "layers"}}
    config_doc["rootfs"] = {"type": "layers", "diff_ids": [sha256_bytes(tar)]}
    config = reg.add_blob(dumps(config_doc))
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": layer.digest, "size": layer.size}],
    }
    digest = reg.add_manifest(mt.DOCKER_MANIFEST, doc)
    size = len(dumps(doc))
    return Descriptor(mt.DOCKER_MANIFEST, digest, size), config, layer


def manifest_list(reg: FakeRegistry) -> dict[str, tuple[Descriptor, Descriptor, Descriptor]]:
    images = {arch: docker_image(reg, arch) for arch in ("amd64", "arm64")}
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mt.DOCKER_MANIFEST,
                "digest": m.digest,
                "size": m.size,
                "platform": {"os": "linux", "architecture": arch},
            }
            for arch, (m, _, _) in images.items()
        ],
    }
    reg.add_manifest(mt.DOCKER_MANIFEST_LIST, doc, tag="v1")
    return images


def registries(reg: FakeRegistry, config: UserConfig | None = None) -> Registries:
    return Registries(
        config,
        credentials=lambda _h: None,
        retry=RetryPolicy(attempts=3, base_delay=0, max_delay=0),
        transport=httpx.MockTransport(reg),
    )


REF = "reg.test/app:v1"


def test_docker_manifest_list_resolved_to_a_platform(tmp_path: Path) -> None:
    reg = FakeRegistry()
    images = manifest_list(reg)
    store = Store(tmp_path)
    with registries(reg) as r:
        result = pull(store, REF, platform=Platform.parse("arm64"), registries=r)
    manifest, _config, layer = images["arm64"]
    assert result.descriptor.digest == manifest.digest
    assert result.descriptor.media_type == mt.DOCKER_MANIFEST
    assert result.name == "reg.test/app:v1"
    image = store.load_image("reg.test/app:v1", Platform.parse("arm64"))
    assert image.layers[0].digest == layer.digest
    assert not store.has_blob(images["amd64"][2].digest)
    assert {r.headers.get("accept") for r in reg.requests if "/manifests/" in r.url.path} == {
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
        "application/vnd.docker.distribution.manifest.list.v2+json, "
        "application/vnd.docker.distribution.manifest.v2+json"
    }


def test_broken_download_resumes_with_range(tmp_path: Path) -> None:
    reg = FakeRegistry()
    _, _, layer = manifest_list(reg)["amd64"]
    reg.break_once.add(layer.digest)
    with registries(reg) as r:
        pull(Store(tmp_path), REF, platform=Platform.parse("amd64"), registries=r)
    blob_requests = [r for r in reg.requests if layer.digest in r.url.path]
    assert [r.headers.get("range") for r in blob_requests] == [None, f"bytes={layer.size // 2}-"]
    assert {r.headers["accept-encoding"] for r in blob_requests} == {"identity"}


def test_server_ignoring_range_is_handled(tmp_path: Path) -> None:
    reg = FakeRegistry()
    _, _, layer = manifest_list(reg)["amd64"]
    reg.break_once.add(layer.digest)
    reg.ignore_range = True
    store = Store(tmp_path)
    with registries(reg) as r:
        pull(store, REF, platform=Platform.parse("amd64"), registries=r)
    assert store.read_blob(layer.digest) == reg.blobs[layer.digest]


def test_blob_larger_than_its_descriptor_is_refused(tmp_path: Path) -> None:
    reg = FakeRegistry()
    _, _config, layer = manifest_list(reg)["amd64"]
    reg.blobs[layer.digest] += b"extra"
    store = Store(tmp_path)
    with registries(reg) as r, pytest.raises(IntegrityError, match="more than"):
        pull(store, REF, platform=Platform.parse("amd64"), registries=r, workers=1)
    assert blob_files(store) == set()
    assert store.refs() == []


def test_manifest_not_matching_its_digest_header(tmp_path: Path) -> None:
    reg = FakeRegistry()
    manifest_list(reg)
    reg.header_digest = "sha256:" + "0" * 64
    with registries(reg) as r, pytest.raises(IntegrityError, match="manifest"):
        pull(Store(tmp_path), REF, registries=r)


def test_schema1_is_refused_by_name(tmp_path: Path) -> None:
    reg = FakeRegistry()
    reg.manifests["v1"] = ("application/json", json.dumps({"schemaVersion": 1}).encode())
    with registries(reg) as r, pytest.raises(RegistryError, match="schema 1"):
        pull(Store(tmp_path), REF, registries=r)


def test_failing_mirror_falls_back_to_origin(tmp_path: Path) -> None:
    reg = FakeRegistry()
    manifest_list(reg)

    def routed(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mirror.test":
            return httpx.Response(500)
        return reg(request)

    config = UserConfig.from_dict({"registry": {"reg.test": {"mirrors": ["mirror.test"]}}})
    regs = Registries(
        config,
        credentials=lambda _h: None,
        retry=RetryPolicy(attempts=2, base_delay=0, max_delay=0),
        transport=httpx.MockTransport(routed),
    )
    with regs:
        assert [e.host for e in regs.pull_endpoints("reg.test")] == ["mirror.test", "reg.test"]
        result = pull(Store(tmp_path), REF, platform=Platform.parse("amd64"), registries=regs)
    assert result.endpoint == "reg.test"
