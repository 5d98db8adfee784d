"""attach_provenance: an in-toto statement as a referrer of its image, signed or not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distroless.errors import InputError
from distroless.oci.digest import Digest
from distroless.oci.models import Descriptor
from distroless.sign import keys
from distroless.sign.dsse import ENVELOPE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE, verify_envelope
from distroless.sign.provenance import (
    BuildParameters,
    Subject,
    image_dependency,
    provenance_statement,
)
from distroless.store import Store
from distroless.store.referrers import referrers
from distroless.verify.attach import attach_provenance, attestations
from tests.transports.registry.support import add_image, add_layer


def image(root: Path) -> tuple[Store, Descriptor]:
    store = Store(root)
    desc = add_image(store, "amd64", [add_layer(store, {"app": b"binary"})])
    store.tag("app:v1", desc)
    return store, desc


def statement_for(desc: Descriptor, arg: str = "1") -> bytes:
    return provenance_statement(
        [Subject("docker.io/library/app", desc.digest)],
        BuildParameters(
            "dockerfile",
            "Dockerfile",
            "sha256:" + "d" * 64,
            "linux/amd64",
            build_args={"VERSION": arg},
        ),
        [image_dependency("golang:1.17", "sha256:" + "a" * 64, role="base")],
        source_date_epoch=0,
    )


def test_an_unsigned_statement_is_attached_as_an_in_toto_referrer(tmp_path: Path) -> None:
    store, desc = image(tmp_path)
    statement = statement_for(desc)
    attached = attach_provenance(store, desc, statement)
    (listed,) = referrers(store, desc.digest)
    assert listed.digest == attached.digest
    assert listed.artifact_type == IN_TOTO_PAYLOAD_TYPE
    manifest = store.read_manifest(listed)
    assert manifest.subject is not None and manifest.subject.digest == desc.digest
    assert manifest.layers[0].media_type == IN_TOTO_PAYLOAD_TYPE
    assert store.read_blob(manifest.layers[0].digest) == statement
    assert attestations(store, desc.digest) == [statement]
    # the same statement gives the same referrer; it is kept once
    assert attach_provenance(store, desc, statement) == attached
    assert len(referrers(store, desc.digest)) == 1


def test_with_a_key_it_is_a_dsse_envelope_that_verifies(tmp_path: Path) -> None:
    store, desc = image(tmp_path)
    key = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    statement = statement_for(desc)
    attached = attach_provenance(store, desc, statement, key)
    layer = store.read_manifest(attached).layers[0]
    assert layer.media_type == ENVELOPE_MEDIA_TYPE
    envelope = store.read_blob(layer.digest)
    assert verify_envelope(envelope, key.public_key()) == statement
    assert json.loads(envelope)["signatures"][0]["keyid"] == keys.key_id(key.public_key())
    assert attestations(store, desc.digest, key.public_key()) == [statement]
    other = keys.load_private_key(keys.generate_keypair("x")[0], "x")
    assert attestations(store, desc.digest, other.public_key()) == []


def test_a_statement_about_another_image_is_refused(tmp_path: Path) -> None:
    store, desc = image(tmp_path)
    elsewhere = Descriptor(desc.media_type, Digest("sha256:" + "e" * 64), 1)
    with pytest.raises(InputError, match="does not name image"):
        attach_provenance(store, desc, statement_for(elsewhere))
    with pytest.raises(InputError, match="not an in-toto statement"):
        attach_provenance(store, desc, b'{"_type": "something"}')
    assert referrers(store, desc.digest) == []


def test_the_provenance_lives_and_dies_with_its_image(tmp_path: Path) -> None:
    store, desc = image(tmp_path)
    attached = attach_provenance(store, desc, statement_for(desc, "2"))
    store.prune()
    assert store.has_blob(attached.digest)
    store.untag("app:v1")
    store.prune()
    assert not store.has_blob(attached.digest)
