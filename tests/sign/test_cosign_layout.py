"""cosign's signature manifest: exact bytes, appending, the OCI 1.1 referrer, and reading."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from distroless.errors import IntegrityError
from distroless.oci.digest import Digest, sha256_bytes
from distroless.sign import cosign_layout as cl
from distroless.sign.simplesigning import payload, sign

IMAGE = "sha256:" + "12" * 32


def _sig(key: ec.EllipticCurvePrivateKey, ref: str = "h/r", digest: str = IMAGE) -> cl.Signature:
    data = payload(ref, digest)
    return cl.Signature(data, sign(data, key))


def test_tag() -> None:
    assert cl.signature_tag(IMAGE) == "sha256-" + "12" * 32 + ".sig"
    with pytest.raises(ValueError):
        cl.signature_tag("latest")


def test_manifest_and_config_are_cosigns_bytes() -> None:
    sig = cl.Signature(b"PAYLOAD", "U0lH")
    art = cl.signature_manifest([sig])
    pd = sha256_bytes(b"PAYLOAD")
    config = (
        '{"architecture":"","created":"0001-01-01T00:00:00Z",'
        '"history":[{"created":"0001-01-01T00:00:00Z"}],"os":"",'
        f'"rootfs":{{"type":"layers","diff_ids":["{pd}"]}},"config":{{}}}}'
    ).encode()
    manifest = (
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        '"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        f'"size":{len(config)},"digest":"{sha256_bytes(config)}"}},'
        '"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json",'
        f'"size":7,"digest":"{pd}",'
        '"annotations":{"dev.cosignproject.cosign/signature":"U0lH"}}]}'
    ).encode()
    assert art.manifest == manifest
    assert art.blobs == {sha256_bytes(config): config, pd: b"PAYLOAD"}
    assert art.digest == sha256_bytes(manifest)
    assert art.descriptor() == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": art.digest,
        "size": len(manifest),
    }


def test_duplicates_once_and_extra_annotations_kept() -> None:
    a = cl.Signature(b"P", "S", {"dev.sigstore.cosign/bundle": "{}"})
    art = cl.signature_manifest([a, a])
    layers = json.loads(art.manifest)["layers"]
    assert len(layers) == 1
    assert layers[0]["annotations"] == {
        "dev.cosignproject.cosign/signature": "S",
        "dev.sigstore.cosign/bundle": "{}",
    }
    with pytest.raises(ValueError):
        cl.signature_manifest([])


def test_append_keeps_what_was_there() -> None:
    k1, k2 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    first = cl.signature_manifest([_sig(k1)])
    doc = json.loads(first.manifest)
    doc["annotations"] = {"made.by": "another tool"}
    existing = json.dumps(doc).encode()
    config = first.blobs[Digest(doc["config"]["digest"])]
    both = cl.append_signatures(existing, config, [_sig(k2), _sig(k1)])
    new = json.loads(both.manifest)
    assert new["annotations"] == {"made.by": "another tool"}
    assert len(new["layers"]) == 2 and new["layers"][0] == doc["layers"][0]
    new_config = both.blobs[Digest(new["config"]["digest"])]
    parsed = json.loads(new_config)
    assert parsed["rootfs"]["diff_ids"] == [layer["digest"] for layer in new["layers"]]
    assert len(parsed["history"]) == 2
    # appending something already present changes nothing
    again = cl.append_signatures(both.manifest, new_config, [_sig(k2)])
    assert again.manifest == both.manifest and again.blobs == {}
    with pytest.raises(IntegrityError, match="not the signature manifest's config"):
        cl.append_signatures(existing, b"{}", [_sig(k2)])


def test_append_to_a_config_without_history() -> None:
    k1, k2 = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    sig = _sig(k1)
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sig.digest]}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_bytes(config),
                "size": len(config),
            },
            "layers": json.loads(cl.signature_manifest([sig]).manifest)["layers"],
        }
    ).encode()
    art = cl.append_signatures(manifest, config, [_sig(k2)])
    new_config = json.loads(art.blobs[Digest(json.loads(art.manifest)["config"]["digest"])])
    assert "history" not in new_config and len(new_config["rootfs"]["diff_ids"]) == 2


def test_referrer_form() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": IMAGE,
        "size": 9,
    }
    art = cl.signature_referrer(subject, [_sig(key)])
    doc = json.loads(art.manifest)
    assert doc["artifactType"] == cl.SIGNATURE_ARTIFACT_TYPE
    assert doc["config"]["mediaType"] == cl.SIGNATURE_ARTIFACT_TYPE
    assert doc["subject"] == {"mediaType": subject["mediaType"], "size": 9, "digest": IMAGE}
    assert list(doc) == [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "subject",
        "artifactType",
    ]
    assert art.descriptor()["artifactType"] == cl.SIGNATURE_ARTIFACT_TYPE
    assert Digest(doc["config"]["digest"]) in art.blobs
    found = cl.read_signatures(art.manifest, lambda d: art.blobs[d])
    cl.verify_any(found, key.public_key(), manifest_digest=IMAGE)


def test_read_and_verify_any() -> None:
    mine, theirs = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    art = cl.signature_manifest([_sig(theirs), _sig(mine, ref="h/r:v2")])
    found = cl.read_signatures(art.manifest, lambda d: art.blobs[d])
    assert len(found) == 2
    claim = cl.verify_any(found, mine.public_key(), manifest_digest=IMAGE, docker_reference="h/r")
    assert claim.docker_reference == "h/r:v2"
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(IntegrityError, match="none of the 2 signatures"):
        cl.verify_any(found, stranger.public_key(), manifest_digest=IMAGE)
    with pytest.raises(IntegrityError, match="has no signatures"):
        cl.verify_any([], mine.public_key(), manifest_digest=IMAGE)


def test_a_swapped_payload_blob_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    art = cl.signature_manifest([_sig(key)])
    with pytest.raises(IntegrityError, match="does not match its digest"):
        cl.read_signatures(art.manifest, lambda d: payload("h/r", "sha256:" + "99" * 32))


def test_layers_that_are_not_signatures_are_skipped() -> None:
    doc = {
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": IMAGE, "size": 1},
            {"mediaType": cl.SIMPLE_SIGNING_MEDIA_TYPE, "digest": IMAGE, "size": 1},
        ]
    }

    def no_fetch(digest: Digest) -> bytes:
        raise AssertionError("nothing should be fetched")

    assert cl.read_signatures(json.dumps(doc).encode(), no_fetch) == []
    with pytest.raises(IntegrityError, match="not valid JSON"):
        cl.read_signatures(b"<html>", no_fetch)
