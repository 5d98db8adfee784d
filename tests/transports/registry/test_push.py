"""push() against a scripted registry: mount outcomes, upload restarts and refusals."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from distroless.errors import IntegrityError, NotFoundError, RegistryError
from distroless.oci.digest import sha256_bytes
from distroless.store import Store
from distroless.transports.registry import Registries, RetryPolicy, push
from distroless.transports.registry.mount_hints import BlobSources
from tests.transports.registry.support import add_image, add_layer


class UploadRegistry:
    """Accepts monolithic uploads; ``mount`` says how a mount request is answered."""

    def __init__(self, mount: int) -> None:
        self.mount = mount
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        self.log: list[tuple[str, str]] = []
        self.fail_puts = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, query = request.url.path, request.url.params
        self.log.append((request.method, str(request.url)))
        if path == "/v2/":
            return httpx.Response(200)
        if request.method == "HEAD" and "/blobs/" in path:
            return httpx.Response(200 if path.rsplit("/", 1)[1] in self.blobs else 404)
        if request.method == "POST" and path.endswith("/blobs/uploads/"):
            if "mount" in query and self.mount == 201:
                self.blobs[query["mount"]] = b"mounted"
                return httpx.Response(201)
            if "mount" in query and self.mount == 500:
                return httpx.Response(500)
            return httpx.Response(202, headers={"Location": "/upload/session-1?state=abc"})
        if request.method == "PUT" and path.startswith("/upload/"):
            assert query["state"] == "abc"
            if self.fail_puts:
                self.fail_puts -= 1
                return httpx.Response(400, json={"errors": [{"code": "DIGEST_INVALID"}]})
            body = request.read()
            if sha256_bytes(body) != query["digest"]:
                return httpx.Response(400)
            self.blobs[query["digest"]] = body
            return httpx.Response(201)
        if request.method == "PUT" and "/manifests/" in path:
            self.manifests[path.rsplit("/", 1)[1]] = request.read()
            return httpx.Response(
                201, headers={"Docker-Content-Digest": sha256_bytes(request.read())}
            )
        return httpx.Response(404)


def setup(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "store")
    base = add_layer(store, {"base": b"b" * 1000})
    image = add_image(store, "amd64", [base])
    store.tag("img:v1", image)
    BlobSources(store.state_dir("registry")).record(
        "reg.test", "other/base", [base.descriptor.digest]
    )
    return store, base.descriptor.digest


def registries(reg: UploadRegistry) -> Registries:
    return Registries(
        credentials=lambda _h: None,
        retry=RetryPolicy(attempts=3, base_delay=0, max_delay=0),
        transport=httpx.MockTransport(reg),
    )


def test_mount_that_succeeds_uploads_nothing_for_that_blob(tmp_path: Path) -> None:
    store, base = setup(tmp_path)
    reg = UploadRegistry(mount=201)
    with registries(reg) as r:
        result = push(store, "img:v1", "reg.test/app:v1", registries=r)
    assert (result.mounted, result.uploaded) == (1, 1)  # the base mounted, the config uploaded
    assert reg.blobs[base] == b"mounted"
    assert "v1" in reg.manifests


def test_refused_mount_continues_with_the_session_it_opened(tmp_path: Path) -> None:
    store, base = setup(tmp_path)
    reg = UploadRegistry(mount=202)
    with registries(reg) as r:
        result = push(store, "img:v1", "reg.test/app:v1", registries=r)
    assert (result.mounted, result.uploaded) == (0, 2)
    assert reg.blobs[base] == store.read_blob(base)
    posts = [url for method, url in reg.log if method == "POST"]
    assert len(posts) == 2  # one mount attempt (for the base) and one plain upload (config)


def test_failing_mount_then_bad_upload_restart_cleanly(tmp_path: Path) -> None:
    store, base = setup(tmp_path)
    reg = UploadRegistry(mount=500)
    reg.fail_puts = 1
    with registries(reg) as r:
        result = push(store, "img:v1", "reg.test/app:v1", registries=r, workers=1)
    assert result.uploaded == 2
    assert reg.blobs[base] == store.read_blob(base)


def test_upload_that_keeps_failing_is_reported(tmp_path: Path) -> None:
    store, _ = setup(tmp_path)
    reg = UploadRegistry(mount=202)
    reg.fail_puts = 100
    with registries(reg) as r, pytest.raises(RegistryError, match="DIGEST_INVALID"):
        push(store, "img:v1", "reg.test/app:v1", registries=r)
    assert reg.manifests == {}


def test_missing_layer_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    store, base = setup(tmp_path)
    store.blob_path(base).unlink()
    reg = UploadRegistry(mount=202)
    with registries(reg) as r, pytest.raises(NotFoundError, match=base):
        push(store, "img:v1", "reg.test/app:v1", registries=r)
    assert reg.log == []


def test_digest_reference_must_match(tmp_path: Path) -> None:
    store, _ = setup(tmp_path)
    wrong = "sha256:" + "1" * 64
    with registries(UploadRegistry(mount=202)) as r, pytest.raises(IntegrityError, match="not the"):
        push(store, "img:v1", f"reg.test/app@{wrong}", registries=r)
