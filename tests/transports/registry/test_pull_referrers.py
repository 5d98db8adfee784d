"""pull() brings referrers and signatures along: the referrers API, its fallback tag, the
``.sig`` tag; a lying artifact is skipped, never stored; the policy runs before any layer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from distroless.errors import PolicyError
from distroless.oci import mediatypes as mt
from distroless.oci.canonical import dumps
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Descriptor
from distroless.registry_config import UserConfig
from distroless.sign import keys
from distroless.sign.cosign_layout import Signature, signature_manifest, signature_tag
from distroless.sign.local import verify_image
from distroless.sign.simplesigning import payload, sign
from distroless.store import Store
from distroless.store.referrers import referrers
from distroless.transports.registry import pull
from distroless.verify.attach import attached_sbom
from tests.transports.registry.test_pull import FakeRegistry, docker_image, registries

REF = "reg.test/app:v1"
SBOM = b'{"spdxVersion": "SPDX-2.3"}'


class ReferrersRegistry(FakeRegistry):
    """A FakeRegistry that also serves the referrers API (unless ``api`` is off)."""

    def __init__(self, api: bool = True) -> None:
        super().__init__()
        self.api = api
        self.listed: dict[str, list[dict[str, object]]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/referrers/" in path:
            if not self.api:
                return httpx.Response(404)
            subject = path.rsplit("/", 1)[1]
            index = {
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": self.listed.get(subject, []),
            }
            return httpx.Response(200, content=dumps(index), headers={"Content-Type": mt.OCI_INDEX})
        return super().__call__(request)

    def add_sbom(self, subject: Descriptor, names: Descriptor | None = None) -> Descriptor:
        """An SBOM artifact for ``subject`` (whose ``subject`` field says ``names``)."""
        empty = self.add_blob(b"{}")
        layer = self.add_blob(SBOM)
        named = names or subject
        doc = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": "application/spdx+json",
            "config": {"mediaType": mt.OCI_EMPTY, "digest": empty.digest, "size": 2},
            "layers": [
                {"mediaType": "application/spdx+json", "digest": layer.digest, "size": layer.size}
            ],
            "subject": {"mediaType": named.media_type, "digest": named.digest, "size": named.size},
        }
        digest = self.add_manifest(mt.OCI_MANIFEST, doc)
        desc = Descriptor(
            mt.OCI_MANIFEST, digest, len(dumps(doc)), artifact_type="application/spdx+json"
        )
        entry = desc.to_dict()
        if self.api:
            self.listed.setdefault(subject.digest, []).append(entry)
        else:
            fallback = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}
            self.add_manifest(mt.OCI_INDEX, fallback, tag="sha256-" + subject.digest[7:])
        return desc

    def add_signature(self, subject: Descriptor, key: keys.PrivateKey, identity: str = REF) -> None:
        data = payload(identity, subject.digest)
        art = signature_manifest([Signature(data, sign(data, key))])
        for digest, blob in art.blobs.items():
            self.blobs[digest] = blob
        self.manifests[signature_tag(subject.digest)] = (mt.OCI_MANIFEST, art.manifest)
        self.manifests[art.digest] = (mt.OCI_MANIFEST, art.manifest)


def tagged_image(reg: FakeRegistry) -> Descriptor:
    manifest, _, _ = docker_image(reg, "amd64")
    reg.manifests["v1"] = reg.manifests[manifest.digest]
    return manifest


@pytest.mark.parametrize("api", [True, False])
def test_the_sbom_and_the_signature_come_along(tmp_path: Path, api: bool) -> None:
    reg = ReferrersRegistry(api=api)
    image = tagged_image(reg)
    artifact = reg.add_sbom(image)
    key = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    reg.add_signature(image, key)
    store = Store(tmp_path)
    with registries(reg) as regs:
        pull(store, REF, registries=regs)
    assert attached_sbom(store, image.digest) == SBOM
    assert artifact.digest in {d.digest for d in referrers(store, image.digest)}
    assert verify_image(store, REF, key.public_key()).image.digest == image.digest
    assert store.fsck() == []


def test_an_artifact_naming_another_image_is_skipped(tmp_path: Path) -> None:
    reg = ReferrersRegistry()
    image = tagged_image(reg)
    liar = reg.add_sbom(image, names=Descriptor(mt.OCI_MANIFEST, sha256_bytes(b"other"), 9))
    store = Store(tmp_path)
    with registries(reg) as regs:
        pull(store, REF, registries=regs)
    assert store.resolve(REF).digest == image.digest  # the image itself is pulled
    assert referrers(store, image.digest) == []
    assert not store.has_blob(liar.digest)


def test_no_referrers_leaves_them(tmp_path: Path) -> None:
    reg = ReferrersRegistry()
    image = tagged_image(reg)
    reg.add_sbom(image)
    store = Store(tmp_path)
    with registries(reg) as regs:
        pull(store, REF, registries=regs, referrers=False)
    assert attached_sbom(store, image.digest) is None
    assert not any("/referrers/" in r.url.path for r in reg.requests)


def test_the_policy_refuses_before_any_layer_is_fetched(tmp_path: Path) -> None:
    reg = ReferrersRegistry()
    manifest, config_blob, layer = docker_image(reg, "amd64")
    reg.manifests["v1"] = reg.manifests[manifest.digest]
    signer = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    stranger = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    reg.add_signature(manifest, stranger)
    (tmp_path / "k.pub").write_bytes(keys.public_key_pem(signer.public_key()))
    config = UserConfig.from_dict(
        {"policy": {"reg.test/app": {"signed-by": "k.pub"}}}, base=tmp_path
    )
    store = Store(tmp_path / "store")
    refused = pytest.raises(PolicyError, match="verifies with this key")
    with registries(reg, config) as regs, refused:
        pull(store, REF, registries=regs)
    fetched = {r.url.path.rsplit("/", 1)[1] for r in reg.requests if "/blobs/" in r.url.path}
    assert layer.digest not in fetched and config_blob.digest not in fetched
    assert store.refs() == [] and not any(store.blobs.iterdir())
    reg.add_signature(manifest, signer)  # the registry's .sig now holds the right signature
    with registries(reg, config) as regs:
        pull(store, REF, registries=regs)
    assert store.resolve(REF).digest == manifest.digest
