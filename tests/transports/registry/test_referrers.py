"""Referrer pushes against fakes: registries with the referrers API need no fallback tag."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from distroless.errors import RegistryError
from distroless.oci.models import Descriptor
from distroless.reporter import NullReporter
from distroless.store import Store
from distroless.transports.registry.referrers import (
    attached_referrers,
    fallback_tag,
    push_referrers,
)
from distroless.verify.attach import attach_sbom
from tests.verify.test_attach import build


@dataclass
class FakeResponse:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        pass


@dataclass
class FakeClient:
    referrers_status: int
    requests: list[tuple[str, str]] = field(default_factory=list)
    host: str = "registry.test"

    def request(self, method: str, path: str, **_: Any) -> FakeResponse:
        self.requests.append((method, path))
        content_type = "application/vnd.oci.image.index.v1+json"
        return FakeResponse(self.referrers_status, {"content-type": content_type})


@dataclass
class FakePusher:
    """Records what would be sent; ``echo_subject`` plays a registry with the referrers API."""

    client: FakeClient
    echo_subject: bool
    repo: str = "app"
    push_scope: str = "repository:app:pull,push"
    reporter: NullReporter = field(default_factory=NullReporter)
    blobs: list[str] = field(default_factory=list)
    documents: list[tuple[str, str]] = field(default_factory=list)

    def blob(self, desc: Descriptor) -> None:
        self.blobs.append(desc.digest)

    def document(self, desc: Descriptor, data: bytes, ref: str) -> str | None:
        self.documents.append((desc.digest, ref))
        if not self.echo_subject:
            return None
        subject = cast(dict[str, Any], json.loads(data)).get("subject", {})
        return cast(str | None, subject.get("digest"))


def attached(tmp_path: Path) -> tuple[Store, Descriptor, dict[str, list[Descriptor]]]:
    image = build(tmp_path)
    store = Store(tmp_path)
    attach_sbom(store, image)
    return store, image, attached_referrers(store, [image])


def test_a_registry_echoing_oci_subject_gets_no_fallback_tag(tmp_path: Path) -> None:
    store, image, found = attached(tmp_path)
    pusher = FakePusher(FakeClient(referrers_status=200), echo_subject=True)
    assert push_referrers(cast(Any, pusher), store, found) == 1
    (artifact,) = found[image.digest]
    assert pusher.documents == [(artifact.digest, artifact.digest)]
    manifest = store.read_manifest(artifact)
    assert pusher.blobs == [manifest.config.digest, manifest.layers[0].digest]
    assert pusher.client.requests == []  # no need to probe the referrers API


def test_the_referrers_api_answering_spares_the_fallback(tmp_path: Path) -> None:
    store, image, found = attached(tmp_path)
    pusher = FakePusher(FakeClient(referrers_status=200), echo_subject=False)
    push_referrers(cast(Any, pusher), store, found)
    assert pusher.client.requests == [("GET", f"/v2/app/referrers/{image.digest}")]
    assert [ref for _, ref in pusher.documents] == [found[image.digest][0].digest]


def test_only_subjects_with_artifacts_are_listed(tmp_path: Path) -> None:
    store, image, _ = attached(tmp_path)
    other = Descriptor(image.media_type, store.put_bytes(b"{}"), 2)
    assert list(attached_referrers(store, [image, other])) == [image.digest]


def test_an_artifact_naming_another_subject_is_refused(tmp_path: Path) -> None:
    store, image, found = attached(tmp_path)
    wrong = {"sha256:" + "1" * 64: found[image.digest]}
    pusher = FakePusher(FakeClient(referrers_status=404), echo_subject=False)
    with pytest.raises(RegistryError, match="does not name"):
        push_referrers(cast(Any, pusher), store, wrong)
    assert pusher.documents == []


def test_fallback_tag_schema() -> None:
    assert fallback_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32
