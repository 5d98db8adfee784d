"""The signing commands end to end, against skopeo and the test registry.

``distroless sign`` + ``push`` produce what skopeo's ``sigstoreSigned`` policy accepts (and
refuses for another key or moved content); a signature skopeo made verifies with
``distroless verify`` after ``pull``; a policy in config.toml stops a pull of an unsigned
image and lets it through once signed; SBOMs and signatures survive push, pull, copy, save
and load.
"""

from __future__ import annotations

import json
from pathlib import Path

from distroless.oci.digest import sha256_bytes
from distroless.store import Store
from tests.helpers import Cli, Registry
from tests.sign.test_skopeo_interop import (
    PASSPHRASE,
    make_keypair,
    skopeo_sign_copy,
    skopeo_verified_copy,
)
from tests.transports.registry.support import add_image, add_layer


def local_image(root: Path, name: str, marker: bytes) -> str:
    """A one-layer image tagged ``name`` in the store at ``root``; returns its digest."""
    store = Store(root)
    desc = add_image(store, "amd64", [add_layer(store, {"hello.txt": marker})])
    store.tag(name, desc)
    return desc.digest


def keys_env(tmp_path: Path) -> dict[str, str | None]:
    return {"DISTROLESS_KEY_PASSPHRASE": PASSPHRASE, "COSIGN_PASSWORD": None}


def test_key_generate_writes_a_pair_skopeo_can_sign_with(tmp_path: Path, cli: Cli) -> None:
    prefix = tmp_path / "k" / "release"
    prefix.parent.mkdir()
    cli("key", "generate", "--output-key-prefix", prefix, env=keys_env(tmp_path)).check()
    private, public = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    assert private.stat().st_mode & 0o777 == 0o600
    assert private.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = cli("key", "generate", "--output-key-prefix", prefix, env=keys_env(tmp_path))
    assert again.exit_code != 0 and "exists" in again.stderr  # never overwritten silently
    # cosign's variable works as well as ours
    other = tmp_path / "k" / "other"
    env = {"DISTROLESS_KEY_PASSPHRASE": None, "COSIGN_PASSWORD": "pw"}
    cli("key", "generate", "--output-key-prefix", other, env=env).check()
    local_image(cli.root, "img:v1", b"x")
    cli("sign", "img:v1", "--key", f"{other}.key", env=env).check()
    wrong = cli("sign", "img:v1", "--key", f"{other}.key", env={**env, "COSIGN_PASSWORD": "no"})
    assert wrong.exit_code != 0
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_signed_and_pushed_is_accepted_by_skopeo_and_refused_otherwise(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry, cli: Cli
) -> None:
    pair = make_keypair(tmp_path / "ours", "ours")
    other = make_keypair(tmp_path / "other", "other")
    ref = registry.ref("supply/signed", "v1")
    local_image(cli.root, ref, b"signed by distroless")
    signed = cli(
        "sign", ref, "--key", pair.private, "--key-passphrase-file", pair.passphrase_file
    ).check()
    assert f"as {ref}" in signed.stdout
    pushed = cli("push", ref, "--json").check().json()
    assert isinstance(pushed, dict) and pushed["signatureTags"] == 1
    assert pushed["referrers"] == 1  # the signature as an OCI referrer (fallback tag here)

    accepted = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, ref, pair.public)
    assert accepted.returncode == 0, accepted.stderr
    refused = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, ref, other.public)
    assert refused.returncode != 0 and "signature" in refused.stderr.lower()

    # the tag moved to other content, with the old signature copied onto it: refused
    moved = tmp_path / "moved"
    moved_digest = local_image(moved, ref, b"other content")
    store = Store(cli.root)
    old_sig = store.find_root("cosign-sig", store.resolve(ref).digest)
    assert old_sig is not None
    Cli(moved)("push", ref).check()
    from tests.sign.registry_http import put_artifact

    manifest = store.read_blob(old_sig.digest)
    blobs = {
        d["digest"]: store.read_blob(d["digest"])
        for d in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]
    }
    put_artifact(
        registry,
        "supply/signed",
        "sha256-" + moved_digest.removeprefix("sha256:") + ".sig",
        manifest,
        blobs,
        "application/vnd.oci.image.manifest.v1+json",
    )
    refused = skopeo_verified_copy(sigstore_skopeo, tmp_path, registry, ref, pair.public)
    assert refused.returncode != 0
    # ... and our verifier, after a pull, agrees
    fresh = Cli(tmp_path / "fresh")
    fresh("pull", ref).check()
    result = fresh("verify", ref, "--key", pair.public)
    assert result.exit_code != 0
    assert "is for image" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_skopeo_signature_verifies_with_distroless_verify_after_pull(
    sigstore_skopeo: list[str], tmp_path: Path, registry: Registry, cli: Cli
) -> None:
    pair = make_keypair(tmp_path / "keys", "skopeo")
    src = registry.ref("supply/by-skopeo", "unsigned")
    dst = registry.ref("supply/by-skopeo", "v1")
    local_image(cli.root, src, b"signed by skopeo")
    cli("push", src).check()
    result = skopeo_sign_copy(sigstore_skopeo, tmp_path, registry, src, dst, pair)
    assert result.returncode == 0, result.stderr

    fresh = Cli(tmp_path / "fresh")
    fresh("pull", dst).check()
    verified = fresh("verify", dst, "--key", pair.public).check()
    assert verified.stdout.startswith(f"Verified {dst} (sha256:")
    assert len(verified.stdout.strip().splitlines()) == 1
    other = make_keypair(tmp_path / "other", "other")
    assert fresh("verify", dst, "--key", other.public).exit_code == 5


def write_policy(config_home: Path, pattern: str, key: Path) -> dict[str, str]:
    (config_home / "distroless").mkdir(parents=True, exist_ok=True)
    (config_home / "distroless" / "config.toml").write_text(
        f'[policy."{pattern}"]\nsigned-by = "{key}"\n'
    )
    return {"XDG_CONFIG_HOME": str(config_home)}


def test_a_policy_stops_an_unsigned_pull_and_lets_it_through_once_signed(
    tmp_path: Path, registry: Registry, cli: Cli
) -> None:
    pair = make_keypair(tmp_path / "keys", "golang")
    ref = registry.ref("golang", "1.17")
    local_image(cli.root, ref, b"a go toolchain")
    cli("push", ref).check()
    env = write_policy(tmp_path / "config", f"{registry.url}/golang*", pair.public)

    puller = Cli(tmp_path / "puller")
    refused = puller("pull", ref, env=env)
    assert refused.exit_code != 0
    (line,) = refused.stderr.strip().splitlines()
    assert ref in line and f"{registry.url}/golang*" in line and "no signatures" in line
    assert Store(tmp_path / "puller").refs() == []  # nothing was kept
    assert not any((tmp_path / "puller" / "blobs" / "sha256").iterdir())
    # another repository of that registry is not covered by the rule
    other = registry.ref("alpine-ish", "1")
    local_image(cli.root, other, b"not go")
    cli("push", other).check()
    puller("pull", other, env=env).check()

    cli("sign", ref, "--key", pair.private, "--key-passphrase-file", pair.passphrase_file).check()
    cli("push", ref).check()
    pulled = puller("pull", ref, env=env).check()
    assert pulled.stdout.startswith(ref.removeprefix(registry.url + "/")) or ref in pulled.stdout
    puller("verify", ref, "--key", pair.public).check()

    # signed by another key than the policy names: refused again
    stranger = make_keypair(tmp_path / "stranger", "stranger")
    env = write_policy(tmp_path / "config", f"{registry.url}/golang*", stranger.public)
    refused = Cli(tmp_path / "third")("pull", ref, env=env)
    assert refused.exit_code != 0 and "verifies with this key" in refused.stderr


def spec_image(cli: Cli, tmp_path: Path, count: int) -> str:
    files = tmp_path / "files"
    files.mkdir()
    lines = ["base: scratch", "files:"]
    for i in range(count):
        (files / f"f{i}.txt").write_text(f"file {i}\n")
        lines.append(f"  - {{dst: /data/f{i}.txt, src: files/f{i}.txt}}")
    spec = tmp_path / "image.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return cli("build", "--spec", spec, "-t", "sbom/many:v1", "-q").check().stdout.strip()


def test_the_sbom_of_a_pulled_image_is_the_attached_one(
    tmp_path: Path, registry: Registry, cli: Cli
) -> None:
    spec_image(cli, tmp_path, 95)
    built = cli("sbom", "sbom/many:v1").check().stdout
    assert len(json.loads(built)["files"]) == 95
    ref = registry.ref("supply/sbom", "v1")
    cli("push", "sbom/many:v1", ref).check()

    fresh = Cli(tmp_path / "fresh")
    fresh("pull", ref).check()
    pulled = fresh("sbom", ref)
    assert pulled.check().stdout == built
    listed = fresh("referrers", ref, "--json").check().json()
    assert isinstance(listed, dict)
    assert [r["artifactType"] for r in listed["referrers"]] == ["application/spdx+json"]
    # without its referrers the SBOM is rendered from the layers, and says so
    bare = Cli(tmp_path / "bare")
    bare("pull", "--no-referrers", ref).check()
    rendered = bare("sbom", ref).check()
    assert "no SBOM is attached" in rendered.stderr


def test_signatures_and_sboms_survive_copy_save_and_load(
    tmp_path: Path, registry: Registry, cli: Cli
) -> None:
    pair = make_keypair(tmp_path / "keys", "carry")
    spec_image(cli, tmp_path, 3)
    cli(
        "sign", "sbom/many:v1", "--key", pair.private, "--key-passphrase-file", pair.passphrase_file
    ).check()
    sbom = cli("sbom", "sbom/many:v1").check().stdout

    def carried(root: Path, name: str) -> None:
        other = Cli(root)
        other("verify", name, "--key", pair.public, "--identity", "sbom/many:v1").check()
        assert other("sbom", name).check().stdout == sbom

    for fmt in ("docker", "oci"):
        archive = tmp_path / f"saved-{fmt}.tar"
        cli("save", "sbom/many:v1", "-o", archive, "--format", fmt).check()
        Cli(tmp_path / f"loaded-{fmt}")("load", "-i", archive).check()
        carried(tmp_path / f"loaded-{fmt}", "sbom/many:v1")

    layout = tmp_path / "layout"
    cli("copy", "sbom/many:v1", f"oci:{layout}:v1").check()
    index = json.loads((layout / "index.json").read_text())
    assert len(index["manifests"]) == 4  # the image, its SBOM, the signature twice
    Cli(tmp_path / "from-layout")("copy", f"oci:{layout}", "sbom/many:v1").check()
    carried(tmp_path / "from-layout", "sbom/many:v1")

    ref = registry.ref("supply/carry", "v1")
    cli("copy", "sbom/many:v1", f"docker://{ref}").check()
    archive = tmp_path / "from-registry.tar"
    Cli(tmp_path / "relay")("copy", f"docker://{ref}", f"oci-archive:{archive}").check()
    Cli(tmp_path / "last")("load", "-i", archive).check()
    digest = Store(cli.root).resolve("sbom/many:v1").digest
    last = Cli(tmp_path / "last")
    last("verify", digest, "--key", pair.public).check()
    assert sha256_bytes(last("sbom", digest).check().stdout.encode()) == sha256_bytes(sbom.encode())


def test_build_provenance_key_signs_what_attestations_prints(tmp_path: Path, cli: Cli) -> None:
    pair = make_keypair(tmp_path / "prov", "prov")
    other = make_keypair(tmp_path / "other", "other")
    (tmp_path / "app").write_bytes(b"#!app\n")
    spec = tmp_path / "image.yaml"
    spec.write_text("files:\n  - {src: app, dst: /app, mode: 0755}\ntags: [prov-spec]\n")
    built = cli(
        "build", "-q", "--spec", spec, "--provenance-key", pair.private,
        "--key-passphrase-file", pair.passphrase_file,
    ).check()  # fmt: skip
    statements = cli("attestations", "prov-spec", "--key", pair.public).check().json()
    assert isinstance(statements, list) and len(statements) == 1
    assert statements[0]["subject"][0]["digest"]["sha256"] == built.stdout.strip()[7:]
    assert statements[0]["predicate"]["buildDefinition"]["externalParameters"]["source"][
        "digest"
    ] == {"sha256": sha256_bytes(spec.read_bytes())[7:]}
    refused = cli("attestations", "prov-spec", "--key", other.public)
    assert refused.exit_code == 5 and "no attestation signed by" in refused.stderr
    assert cli("attestations", "prov-spec").check().json() == statements
