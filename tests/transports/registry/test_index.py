"""The rules ``index create`` applies to its children before anything is pushed."""

from __future__ import annotations

import pytest

from distroless.errors import InputError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Platform
from distroless.oci.reference import Reference
from distroless.transports.registry.index import Child, _check_platforms, _index_type
from distroless.transports.registry.pull import RemoteDocument


def child(name: str, media_type: str, platform: str | None) -> tuple[str, list[Child]]:
    data = name.encode()
    doc = RemoteDocument(media_type, sha256_bytes(data), data)
    ref = Reference.parse(f"127.0.0.1:5000/{name}:v1")
    return str(ref), [Child(ref, doc, Platform.parse(platform) if platform else None)]


def test_index_type_follows_the_children_and_refuses_a_mix() -> None:
    oci = child("a", mt.OCI_MANIFEST, "linux/amd64")
    docker = child("b", mt.DOCKER_MANIFEST, "linux/arm64")
    assert _index_type([oci]) == mt.OCI_INDEX
    assert _index_type([docker]) == mt.DOCKER_MANIFEST_LIST
    with pytest.raises(InputError, match="must not mix"):
        _index_type([oci, docker])


def test_same_platform_twice_is_refused_but_variants_and_attestations_are_not() -> None:
    with pytest.raises(InputError, match="both claim platform linux/arm64"):
        _check_platforms(
            [child("a", mt.OCI_MANIFEST, "linux/arm64"), child("b", mt.OCI_MANIFEST, "arm64")]
        )
    _check_platforms(
        [
            child("a", mt.OCI_MANIFEST, "linux/arm/v6"),
            child("b", mt.OCI_MANIFEST, "linux/arm/v7"),
            child("c", mt.OCI_MANIFEST, "unknown/unknown"),
            child("d", mt.OCI_MANIFEST, "unknown/unknown"),
        ]
    )
