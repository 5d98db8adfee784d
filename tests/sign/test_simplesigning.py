"""The simple-signing payload: cosign's exact bytes, skopeo's strict parsing, what verify checks."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from distroless.errors import IntegrityError
from distroless.oci.digest import Digest
from distroless.sign import simplesigning as ss

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def test_payload_bytes_are_cosigns() -> None:
    expected = (
        '{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app"},'
        f'"image":{{"docker-manifest-digest":"{DIGEST}"}},'
        '"type":"cosign container image signature"},"optional":null}'
    ).encode()
    assert ss.payload("127.0.0.1:5000/app", DIGEST) == expected


def test_optional_is_go_encoded() -> None:
    data = ss.payload("r/x", DIGEST, {"b": "<&>", "a": 1, "ü": "\u2028"})
    assert data.endswith(b'"optional":{"a":1,"b":"\\u003c\\u0026\\u003e","\xc3\xbc":"\\u2028"}}')
    assert ss.SimpleSigning.from_bytes(data).optional == {"a": 1, "b": "<&>", "ü": "\u2028"}


def test_round_trip_and_a_skopeo_style_payload() -> None:
    skopeo_style = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": "h/r:v1"},
                "image": {"docker-manifest-digest": DIGEST},
                "type": "cosign container image signature",
            },
            "optional": {"creator": "containers/image 5.34", "timestamp": 1700000000},
        },
        separators=(",", ":"),
    ).encode()
    claim = ss.SimpleSigning.from_bytes(skopeo_style)
    assert claim == ss.SimpleSigning(
        "h/r:v1", Digest(DIGEST), {"creator": "containers/image 5.34", "timestamp": 1700000000}
    )
    assert claim.to_bytes() == skopeo_style


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"critical":{},"optional":null}', "critical must have exactly"),
        ('{"critical":null}', "the payload must have exactly"),
        ("[1]", "the payload must have exactly"),
        ("{", "not valid JSON"),
    ],
)
def test_malformed_payloads(text: str, message: str) -> None:
    with pytest.raises(IntegrityError, match=message):
        ss.SimpleSigning.from_bytes(text.encode())


def _doc() -> dict[str, object]:
    doc = json.loads(ss.payload("h/r", DIGEST))
    assert isinstance(doc, dict)
    return doc


def test_extra_critical_fields_are_refused() -> None:
    doc = _doc()
    doc["critical"]["extra"] = 1  # type: ignore[index]
    with pytest.raises(IntegrityError, match="critical must have exactly"):
        ss.SimpleSigning.from_bytes(json.dumps(doc).encode())


def test_a_repeated_key_cannot_say_two_things() -> None:
    text = ss.payload("h/r", DIGEST).decode()
    doubled = text.replace(
        f'"docker-manifest-digest":"{DIGEST}"',
        f'"docker-manifest-digest":"{OTHER}","docker-manifest-digest":"{DIGEST}"',
    )
    with pytest.raises(IntegrityError, match="appears twice"):
        ss.SimpleSigning.from_bytes(doubled.encode())


def test_wrong_type_and_bad_digest() -> None:
    doc = _doc()
    doc["critical"]["type"] = "atomic container signature"  # type: ignore[index]
    with pytest.raises(IntegrityError, match="not a cosign one"):
        ss.SimpleSigning.from_bytes(json.dumps(doc).encode())
    doc = _doc()
    doc["critical"]["image"]["docker-manifest-digest"] = "sha256:zz"  # type: ignore[index]
    with pytest.raises(IntegrityError, match="invalid digest"):
        ss.SimpleSigning.from_bytes(json.dumps(doc).encode())


def test_sign_and_verify() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = ss.payload("127.0.0.1:5000/app:v1", DIGEST)
    sig = ss.sign(data, key)
    claim = ss.verify(
        data, sig, key.public_key(), manifest_digest=DIGEST, docker_reference="127.0.0.1:5000/app"
    )
    assert claim.docker_reference == "127.0.0.1:5000/app:v1"
    with pytest.raises(IntegrityError, match="is for image"):
        ss.verify(data, sig, key.public_key(), manifest_digest=OTHER)
    with pytest.raises(IntegrityError, match="is for repository"):
        ss.verify(
            data, sig, key.public_key(), manifest_digest=DIGEST, docker_reference="127.0.0.1:5000/x"
        )
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(IntegrityError, match="not made by this key"):
        ss.verify(data, sig, other.public_key(), manifest_digest=DIGEST)
    with pytest.raises(IntegrityError, match="not made by this key"):
        ss.verify(data + b" ", sig, key.public_key(), manifest_digest=DIGEST)
    with pytest.raises(IntegrityError, match="not valid base64"):
        ss.verify(data, "###", key.public_key(), manifest_digest=DIGEST)


def test_repository_matching_follows_docker_normalisation() -> None:
    assert ss.same_repository("golang:1.22", "docker.io/library/golang")
    assert ss.same_repository("h:5000/a/b@" + DIGEST, "h:5000/a/b:latest")
    assert not ss.same_repository("h:5000/a/b", "h:5001/a/b")
    assert not ss.same_repository("NOT A REF", "h/a")
