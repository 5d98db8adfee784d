"""Attachments smuggled into archives and layouts: a signature or SBOM that claims to belong
to the image it travels with but names another one is refused, and the store is unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from distroless.errors import IntegrityError
from distroless.oci.models import Descriptor
from distroless.sign import keys
from distroless.sign.local import sign_image, verify_image
from distroless.store import Store
from distroless.store.referrers import signature_tag_manifest
from distroless.store.store import SUBJECT
from distroless.transports import tarball
from distroless.transports.layout import export_layout, import_layout
from tests.transports.registry.support import add_image, add_layer


def _state(store: Store) -> tuple[list[str], bytes]:
    return sorted(os.listdir(store.blobs)), (store.root / "index.json").read_bytes()


def two_signed_images(root: Path) -> tuple[Store, Descriptor, Descriptor]:
    store = Store(root)
    key = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    first = add_image(store, "amd64", [add_layer(store, {"a": b"first"})])
    second = add_image(store, "amd64", [add_layer(store, {"b": b"second"})])
    store.tag("evil/first:1", first)
    store.tag("evil/second:1", second)
    sign_image(store, "evil/first:1", key)
    sign_image(store, "evil/second:1", key)
    return store, first, second


def smuggle_referrer(store: Store, onto: Descriptor, victim: Descriptor) -> None:
    """Make the victim's signature referrer look like one of ``onto`` in the store's index."""
    found = store.find_root("signature", victim.digest)
    assert found is not None
    store.add_root(
        "signature",
        onto.digest,
        Descriptor(found.media_type, found.digest, found.size, annotations={SUBJECT: onto.digest}),
    )


def smuggle_signature_tag(store: Store, onto: Descriptor, victim: Descriptor) -> None:
    found = signature_tag_manifest(store, victim.digest)
    assert found is not None
    store.add_root(
        "cosign-sig",
        onto.digest,
        Descriptor(found.media_type, found.digest, found.size, annotations={SUBJECT: onto.digest}),
    )


def test_an_archive_whose_referrer_names_another_image_is_refused(tmp_path: Path) -> None:
    store, first, second = two_signed_images(tmp_path / "src")
    smuggle_referrer(store, first, second)
    archive = tmp_path / "evil.tar"
    with archive.open("wb") as fh:
        tarball.save(store, ["evil/first:1"], fh, "oci")
    target = Store(tmp_path / "target")
    before = _state(target)
    with pytest.raises(IntegrityError, match="names sha256:") as info:
        tarball.load(target, archive)
    assert "\n" not in str(info.value)
    assert _state(target) == before


def test_a_layout_whose_referrer_names_another_image_is_refused(tmp_path: Path) -> None:
    store, first, second = two_signed_images(tmp_path / "src")
    smuggle_referrer(store, first, second)
    layout = tmp_path / "layout"
    export_layout(store, first, layout, "v1")
    entries = json.loads((layout / "index.json").read_text())["manifests"]
    assert any(e["annotations"].get(SUBJECT) == first.digest for e in entries)
    target = Store(tmp_path / "target")
    before = _state(target)
    with pytest.raises(IntegrityError, match="names sha256:"):
        import_layout(target, layout, "v1")
    assert _state(target) == before


def test_another_images_signature_manifest_carried_along_verifies_nothing(
    tmp_path: Path,
) -> None:
    """The tag scheme binds a .sig manifest to its image by name only: what counts is that
    the signatures in it name another digest, so verification refuses them."""
    store, first, second = two_signed_images(tmp_path / "src")
    key = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    store.drop_roots("signature")
    store.drop_roots("cosign-sig")
    sign_image(store, "evil/second:1", key)
    smuggle_signature_tag(store, first, second)
    archive = tmp_path / "evil.tar"
    with archive.open("wb") as fh:
        tarball.save(store, ["evil/first:1"], fh, "oci")
    target = Store(tmp_path / "target")
    tarball.load(target, archive)
    with pytest.raises(IntegrityError, match="is for image"):
        verify_image(target, "evil/first:1", key.public_key(), identity="evil/second:1")


def _attach_statement(store: Store, image: Descriptor, layer_size: int) -> bytes:
    """An in-toto artifact for ``image`` whose one layer claims ``layer_size`` bytes."""
    from distroless.oci.canonical import dumps
    from distroless.sign.attestation import ARTIFACT_TYPE
    from distroless.store.referrers import attach_referrer, put_document

    statement = dumps({"_type": "https://in-toto.io/Statement/v1", "subject": []})
    empty = store.put_bytes(b"{}")
    manifest = dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": ARTIFACT_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty,
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.in-toto+json",
                    "digest": store.put_bytes(statement),
                    "size": layer_size,
                }
            ],
            "subject": {"mediaType": image.media_type, "digest": image.digest, "size": image.size},
        }
    )
    desc = put_document(store, manifest, {}, artifact_type=ARTIFACT_TYPE)
    attach_referrer(store, desc, manifest)
    return statement


@pytest.mark.parametrize("claim", ["short", "huge"])
def test_an_attachment_layer_that_lies_about_its_size_is_refused_unread(
    tmp_path: Path, claim: str
) -> None:
    """A statement layer bigger than its descriptor says, or one claiming more than an
    attachment may hold, is an integrity error, not a read of whatever the blob holds."""
    from distroless.store.referrers import MAX_ATTACHMENT_PART
    from distroless.verify.attach import attestations

    store = Store(tmp_path / "store")
    image = add_image(store, "amd64", [add_layer(store, {"a": b"image"})])
    size = 10 if claim == "short" else MAX_ATTACHMENT_PART + 1
    _attach_statement(store, image, size)
    with pytest.raises(IntegrityError, match=str(size)):
        attestations(store, image.digest)
