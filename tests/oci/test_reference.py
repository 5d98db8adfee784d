from __future__ import annotations

import pytest

from distroless.errors import ReferenceFormatError
from distroless.oci.digest import Digest
from distroless.oci.reference import Reference

DIGEST = Digest("sha256:" + "ab" * 32)


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("golang:1.17", "docker.io/library/golang:1.17", "golang:1.17"),
        ("golang", "docker.io/library/golang:latest", "golang:latest"),
        ("me/app:v1", "docker.io/me/app:v1", "me/app:v1"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        (
            "gcr.io/distroless/base",
            "gcr.io/distroless/base:latest",
            "gcr.io/distroless/base:latest",
        ),
        ("localhost:5000/x@" + DIGEST, "localhost:5000/x@" + DIGEST, "localhost:5000/x@" + DIGEST),
        ("localhost/x:1", "localhost/x:1", "localhost/x:1"),
        ("127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"),
        ("a:b@" + DIGEST, "docker.io/library/a:b@" + DIGEST, "a:b@" + DIGEST),
        ("my_app.x-y:1.0-rc.1", "docker.io/library/my_app.x-y:1.0-rc.1", "my_app.x-y:1.0-rc.1"),
        (
            "a" * 63 + ".invalid:65535/x",
            "a" * 63 + ".invalid:65535/x:latest",
            "a" * 63 + ".invalid:65535/x:latest",
        ),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
    ],
)
def test_normalisation(text: str, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("app/Upper", "lowercase"),
        ("app:", "bad tag"),
        ("app:-x", "bad tag"),
        ("app@sha256:1234", "digest"),
        ("app@md5:" + "a" * 32, "digest"),
        ("a//b", "bad path component"),
        ("-a", "bad path component"),
        ("a/b_", "bad path component"),
        (" app", "padded"),
        ("app:" + "t" * 129, "bad tag"),
        ("a" * 64 + ".invalid/app", "label longer than 63 characters"),
        ("x." + "a" * 64 + ":5000/app", "label longer than 63 characters"),
        (".".join(["a" * 63] * 4) + "/app", "longer than 253 characters"),
        ("localhost:65536/app", "port 65536 is above 65535"),
        ("localhost:" + "9" * 5000 + "/app", "is above 65535"),
    ],
)
def test_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ReferenceFormatError, match=reason):
        Reference.parse(text)


def test_with_tag_and_digest() -> None:
    ref = Reference.parse("me/app:v1")
    assert str(ref.with_tag("v2")) == "docker.io/me/app:v2"
    assert ref.with_digest(DIGEST).digest == DIGEST
