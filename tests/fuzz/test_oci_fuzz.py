"""OCI documents and image references: a model or a DistrolessError for any bytes or text."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given

from distroless.oci.models import ImageConfig, Index, Manifest, Platform
from distroless.oci.reference import Reference
from tests.fuzz.mutate import (
    fuzz_settings,
    json_broken,
    mutated_bytes,
    mutated_text,
    result_or_error,
)

D = "sha256:" + "a" * 64
MANIFEST: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 7},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D, "size": 32}
    ],
    "annotations": {"a": "b"},
}
INDEX: dict[str, Any] = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": D,
            "size": 500,
            "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            "annotations": {"org.opencontainers.image.ref.name": "latest"},
        }
    ],
}
CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "created": "1970-01-01T00:00:00Z",
    "config": {
        "Env": ["PATH=/usr/bin"],
        "Entrypoint": ["/app"],
        "Cmd": None,
        "User": "65532",
        "WorkingDir": "/",
        "Labels": {"a": "b"},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "StopSignal": "SIGTERM",
    },
    "rootfs": {"type": "layers", "diff_ids": [D]},
    "history": [{"created_by": "x", "empty_layer": True}],
}
SEEDS = [json.dumps(doc).encode() for doc in (MANIFEST, INDEX, CONFIG)]


def _all_models(data: bytes) -> None:
    for model in (Manifest, Index, ImageConfig):
        result = result_or_error(lambda m=model: m.from_bytes(data))  # type: ignore[misc]
        if not isinstance(result, Exception):
            result.to_bytes()


@fuzz_settings(600)
@given(json_broken([MANIFEST, INDEX, CONFIG]))
def test_models_on_broken_structure(data: bytes) -> None:
    _all_models(data)


@fuzz_settings(400)
@given(mutated_bytes(SEEDS))
def test_models_on_damaged_bytes(data: bytes) -> None:
    _all_models(data)


REFS = [
    "busybox",
    "docker.io/library/busybox:1.36",
    "localhost:5000/a/b_c.d-e:tag@sha256:" + "0" * 64,
    "gcr.io/distroless/static-debian12:nonroot",
    "[::1]:5000/x:y",
]


@fuzz_settings(500)
@given(mutated_text(REFS))
def test_reference_never_crashes(text: str) -> None:
    ref = result_or_error(lambda: Reference.parse(text))
    if isinstance(ref, Reference):
        assert Reference.parse(str(ref)) == ref
        ref.familiar()
    result_or_error(lambda: Platform.parse(text))
