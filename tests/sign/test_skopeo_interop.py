"""Our signatures against skopeo's sigstore implementation, both ways, on the test registry.

skopeo verifies what we sign (``sigstoreSigned`` policy, ``use-sigstore-attachments``), and
refuses it when the key or the image is not the one signed; skopeo signs with our keys, and
we verify what it wrote.  The image goes up with ``distroless push``; the signature manifest
with plain HTTP (tests/sign/registry_http.py), as the signing modules produce no requests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.sign import keys
from distroless.sign.cosign_layout import (
    Signature,
    append_signatures,
    read_signatures,
    signature_manifest,
    signature_tag,
    verify_any,
)
from distroless.sign.simplesigning import SimpleSigning, payload, sign
from distroless.store import Store
from tests.helpers import Cli, Registry, run
from tests.sign.registry_http import get_blob, get_manifest, put_artifact
from tests.transports.registry.support import add_image, add_layer

PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Pushed:
    repo: str
    tag: str
    ref: str
    digest: str


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path
    passphrase_file: Path


def make_keypair(directory: Path, name: str, **options: str) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    private, public = keys.generate_keypair(PASSPHRASE, **options)  # type: ignore[arg-type]
    pair = KeyPair(directory / f"{name}.key", directory / f"{name}.pub", directory / "pass")
    pair.private.write_bytes(private)
    pair.public.write_bytes(public)
    pair.passphrase_file.write_text(PASSPHRASE)
    return pair


def push_image(
    tmp_path: Path, registry: Registry, repo: str, marker: bytes, tag: str = "v1"
) -> Pushed:
    """A one-layer image built in a fresh store and sent with ``distroless push``."""
    root = tmp_path / f"store-{sha256_bytes(marker)[7:19]}"
    store = Store(root)
    desc = add_image(store, "amd64", [add_layer(store, {"hello.txt": marker})])
    store.tag("img:v1", desc)
    ref = registry.ref(repo, tag)
    Cli(root)("push", "img:v1", ref).check()
    manifest, media_type = get_manifest(registry, repo, tag)
    assert media_type == mt.OCI_MANIFEST
    return Pushed(repo, tag, ref, sha256_bytes(manifest))


def upload_signatures(registry: Registry, image: Pushed, signatures: list[Signature]) -> str:
    art = signature_manifest(signatures)
    return put_artifact(
        registry, image.repo, signature_tag(image.digest), art.manifest, art.blobs, art.media_type
    )


def our_signature(image: Pushed, pair: KeyPair, reference: str | None = None) -> Signature:
    key = keys.load_private_key(pair.private.read_bytes(), PASSPHRASE)
    data = payload(reference or image.ref, image.digest)
    return Signature(data, sign(data, key))


def skopeo_env(tmp_path: Path, registry: Registry) -> tuple[Path, dict[str, str]]:
    """A registries.d turning sigstore attachments on for the test registry, and no logins."""
    regd = tmp_path / "registries.d"
    regd.mkdir(exist_ok=True)
    (regd / "test.yaml").write_text(
        f'docker:\n  "{registry.url}":\n    use-sigstore-attachments: true\n'
    )
    auth = tmp_path / "auth.json"
    auth.write_text('{"auths": {}}')
    return regd, {"REGISTRY_AUTH_FILE": str(auth)}


def skopeo_verified_copy(
    skopeo: list[str],
    tmp_path: Path,
    registry: Registry,
    ref: str,
    public_key: Path,
    identity: str = "",
) -> subprocess.CompletedProcess[str]:
    """``skopeo copy`` under a policy that accepts only sigstore signatures by ``public_key``."""
    requirement: dict[str, object] = {"type": "sigstoreSigned", "keyPath": str(public_key)}
    if identity:
        requirement["signedIdentity"] = {"type": identity}
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {"docker": {registry.url: [requirement]}},
            }
        )
    )
    regd, env = skopeo_env(tmp_path, registry)
    out = tmp_path / "copied"
    shutil.rmtree(out, ignore_errors=True)
    argv: list[str | Path] = [
        *skopeo,
        "--policy",
        policy,
        "--registries.d",
        regd,
        "copy",
        "--src-tls-verify=false",
    ]
    return run([*argv, f"docker://{ref}", f"dir:{out}"], check=False, env=env)


def test_skopeo_accepts_our_signature(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry
) -> None:
    image = push_image(tmp_path, registry, "sign/accepted", b"accepted")
    pair = make_keypair(tmp_path / "keys", "ours")
    upload_signatures(registry, image, [our_signature(image, pair)])

    result = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, image.ref, pair.public)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copied" / "manifest.json").exists()
    # cosign names the repository without a tag; skopeo's matchRepository accepts that too
    image2 = push_image(tmp_path, registry, "sign/accepted-repo", b"accepted-repo")
    repo_only = our_signature(image2, pair, reference=f"{registry.url}/{image2.repo}")
    upload_signatures(registry, image2, [repo_only])
    result = skopeo_verified_copy(
        sigstore_skopeo, tmp_path, registry, image2.ref, pair.public, "matchRepository"
    )
    assert result.returncode == 0, result.stderr


def test_skopeo_refuses_a_signature_by_another_key(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry
) -> None:
    image = push_image(tmp_path, registry, "sign/otherkey", b"otherkey")
    signer = make_keypair(tmp_path / "signer", "signer")
    other = make_keypair(tmp_path / "other", "other")
    upload_signatures(registry, image, [our_signature(image, signer)])

    refused = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, image.ref, other.public)
    assert refused.returncode != 0
    assert "signature" in refused.stderr.lower()
    accepted = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, image.ref, signer.public)
    assert accepted.returncode == 0, accepted.stderr


def test_skopeo_refuses_an_image_retagged_to_other_content(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry
) -> None:
    pair = make_keypair(tmp_path / "keys", "ours")
    signed = push_image(tmp_path, registry, "sign/retag", b"signed content")
    sig = our_signature(signed, pair)
    upload_signatures(registry, signed, [sig])
    assert (
        skopeo_verified_copy(
            sigstore_skopeo, tmp_path, registry, signed.ref, pair.public
        ).returncode
        == 0
    )

    # The tag now points at other content, and the signature is copied to that content's
    # signature tag: it still names the first manifest digest, so it must not count.
    moved = push_image(tmp_path, registry, "sign/retag", b"other content")
    assert moved.ref == signed.ref and moved.digest != signed.digest
    upload_signatures(registry, moved, [sig])
    refused = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, moved.ref, pair.public)
    assert refused.returncode != 0
    assert signed.digest in refused.stderr or "digest" in refused.stderr.lower()
    # ... and our verifier agrees
    manifest, _ = get_manifest(registry, moved.repo, signature_tag(moved.digest))
    found = read_signatures(manifest, lambda d: get_blob(registry, moved.repo, d))
    public = keys.load_public_key(pair.public.read_bytes())
    with pytest.raises(Exception, match="is for image"):
        verify_any(found, public, manifest_digest=moved.digest, docker_reference=moved.ref)


def skopeo_sign_copy(
    skopeo: list[str], tmp_path: Path, registry: Registry, src: str, dst: str, pair: KeyPair
) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "accept.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    regd, env = skopeo_env(tmp_path, registry)
    argv: list[str | Path] = [
        *skopeo,
        "--policy",
        policy,
        "--registries.d",
        regd,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--sign-by-sigstore-private-key",
        pair.private,
        "--sign-passphrase-file",
        pair.passphrase_file,
        f"docker://{src}",
        f"docker://{dst}",
    ]
    return run(argv, check=False, env=env)


def registry_signatures(registry: Registry, repo: str, digest: str) -> list[Signature]:
    manifest, media_type = get_manifest(registry, repo, signature_tag(digest))
    assert media_type == mt.OCI_MANIFEST
    return read_signatures(manifest, lambda d: get_blob(registry, repo, d))


@pytest.mark.parametrize("label", [keys.SIGSTORE_PRIVATE_KEY_LABEL, keys.COSIGN_PRIVATE_KEY_LABEL])
def test_a_skopeo_signature_made_with_our_key_verifies_with_ours(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry, label: str
) -> None:
    image = push_image(tmp_path, registry, f"sign/by-skopeo-{len(label)}", b"skopeo signs")
    pair = make_keypair(tmp_path / "keys", "ours", label=label)
    dst = registry.ref(image.repo, "signed")
    result = skopeo_sign_copy(sigstore_skopeo, tmp_path, registry, image.ref, dst, pair)
    assert result.returncode == 0, result.stderr

    found = registry_signatures(registry, image.repo, image.digest)
    assert len(found) == 1
    public = keys.load_public_key(pair.public.read_bytes())
    claim = verify_any(found, public, manifest_digest=image.digest, docker_reference=dst)
    assert claim.docker_reference == dst
    assert claim.optional is not None and "creator" in claim.optional
    # the payload skopeo made is in the format we write: parse and re-encode are identity
    assert SimpleSigning.from_bytes(found[0].payload).to_bytes() == found[0].payload

    other = keys.load_public_key(make_keypair(tmp_path / "other", "other").public.read_bytes())
    with pytest.raises(Exception, match="verifies with this key"):
        verify_any(found, other, manifest_digest=image.digest)


def test_signatures_of_both_tools_accumulate_on_one_manifest(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry
) -> None:
    image = push_image(tmp_path, registry, "sign/both", b"both tools")
    ours = make_keypair(tmp_path / "ours", "ours")
    theirs = make_keypair(tmp_path / "theirs", "theirs")
    upload_signatures(registry, image, [our_signature(image, ours)])

    # skopeo appends its signature to the manifest we wrote ...
    dst = registry.ref(image.repo, "v1")
    assert (
        skopeo_sign_copy(sigstore_skopeo, tmp_path, registry, image.ref, dst, theirs).returncode
        == 0
    )
    found = registry_signatures(registry, image.repo, image.digest)
    assert len(found) == 2
    for pair in (ours, theirs):
        public = keys.load_public_key(pair.public.read_bytes())
        verify_any(found, public, manifest_digest=image.digest, docker_reference=image.ref)

    # ... and we append a third to the one skopeo rewrote; skopeo still reads all of them.
    third = make_keypair(tmp_path / "third", "third")
    manifest, _ = get_manifest(registry, image.repo, signature_tag(image.digest))
    config = get_blob(registry, image.repo, json.loads(manifest)["config"]["digest"])
    art = append_signatures(manifest, config, [our_signature(image, third)])
    put_artifact(
        registry, image.repo, signature_tag(image.digest), art.manifest, art.blobs, art.media_type
    )
    assert len(registry_signatures(registry, image.repo, image.digest)) == 3
    for pair in (ours, theirs, third):
        result = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, image.ref, pair.public)
        assert result.returncode == 0, result.stderr


def test_a_key_skopeo_generated_signs_what_we_verify(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry
) -> None:
    (tmp_path / "keys").mkdir()
    pass_file = tmp_path / "keys" / "pass"
    pass_file.write_text(PASSPHRASE)
    prefix = tmp_path / "keys" / "skopeo"
    run(
        [
            *sigstore_skopeo,
            "generate-sigstore-key",
            "--output-prefix",
            prefix,
            "--passphrase-file",
            pass_file,
        ]
    )
    private = Path(f"{prefix}.private")
    public_file = Path(f"{prefix}.pub")
    # our loader reads the key skopeo wrote
    keys.load_private_key(private.read_bytes(), PASSPHRASE)
    pair = KeyPair(private, public_file, pass_file)

    image = push_image(tmp_path, registry, "sign/skopeo-key", b"skopeo key")
    dst = registry.ref(image.repo, "signed")
    assert (
        skopeo_sign_copy(sigstore_skopeo, tmp_path, registry, image.ref, dst, pair).returncode == 0
    )
    public = keys.load_public_key(public_file.read_bytes())
    found = registry_signatures(registry, image.repo, image.digest)
    verify_any(found, public, manifest_digest=image.digest, docker_reference=dst)
