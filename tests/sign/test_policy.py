"""The policy of config.toml and check_image_policy, with fake resolutions (no registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.errors import InputError, PolicyError
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, sha256_bytes
from distroless.oci.models import Descriptor
from distroless.oci.reference import Reference
from distroless.registry_config import PolicyRule, UserConfig
from distroless.sign import keys
from distroless.sign.cosign_layout import Signature
from distroless.sign.local import sign_image
from distroless.sign.policy import FetchedSignatures, check_image_policy
from distroless.sign.simplesigning import payload, sign
from distroless.store import Store
from tests.transports.registry.support import add_image, add_layer

IMAGE = Descriptor(mt.OCI_MANIFEST, sha256_bytes(b"the golang image"), 1234)
OTHER = Descriptor(mt.OCI_MANIFEST, sha256_bytes(b"something else"), 1234)


@pytest.fixture(scope="module")
def pair() -> tuple[keys.PrivateKey, bytes]:
    key = keys.load_private_key(keys.generate_keypair("pw")[0], "pw")
    return key, keys.public_key_pem(key.public_key())


def config_with(tmp_path: Path, text: str) -> UserConfig:
    path = tmp_path / "distroless" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return UserConfig.load(path)


def signed(key: keys.PrivateKey, identity: str, digest: str) -> FetchedSignatures:
    data = payload(identity, digest)
    return FetchedSignatures({digest: [Signature(data, sign(data, key))]})


def test_policy_tables_are_read_with_key_paths_beside_the_file(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        '[policy."reg.test:5000/golang*"]\nsigned-by = "keys/go.pub"\n'
        '[policy."golang:*"]\nsigned-by = ["/etc/a.pub", "b.pub"]\ndigest-pinned = true\n',
    )
    first, second = config.policies
    assert first.signed_by == (tmp_path / "distroless" / "keys" / "go.pub",)
    assert second.signed_by == (Path("/etc/a.pub"), tmp_path / "distroless" / "b.pub")
    assert second.digest_pinned


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[policy."x/*"]\nsigend-by = "k.pub"\n', "policy.x/*.sigend-by"),
        ('[policy."x/*"]\ndigest-pinned = false\n', "requires nothing"),
        ('[policy."x/*"]\ndigest-pinned = "yes"\n', "digest-pinned"),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match="config.toml") as info:
        config_with(tmp_path, text)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "reference", "covered"),
    [
        ("golang:*", "golang:1.17", True),
        ("golang:*", "docker.io/library/golang@sha256:" + "a" * 64, True),
        ("golang:1.*", "golang:2", False),
        ("reg.test:5000/golang*", "reg.test:5000/golang:1.17", True),
        ("reg.test:5000/golang*", "reg.test:5000/golang/tools:1", True),
        ("reg.test:5000/golang*", "reg.test:5001/golang:1", False),
        ("reg.test:5000/golang*", "golang:1.17", False),
        ("team/*", "team/app:v1", True),
        ("*", "anything/at:all", True),
    ],
)
def test_patterns_cover_references_as_docker_names_them(
    pattern: str, reference: str, covered: bool
) -> None:
    assert PolicyRule(pattern).matches(Reference.parse(reference)) is covered


def test_the_most_specific_rule_applies(tmp_path: Path) -> None:
    config = config_with(
        tmp_path,
        '[policy."*"]\ndigest-pinned = true\n'
        '[policy."reg.test/team/*"]\nsigned-by = "team.pub"\n'
        '[policy."reg.test/team/base:*"]\nsigned-by = "base.pub"\n',
    )
    assert config.policy_for("reg.test/team/base:1") == config.policies[2]
    assert config.policy_for("reg.test/team/app:1") == config.policies[1]
    assert config.policy_for("alpine:3") == config.policies[0]


def test_an_uncovered_image_is_accepted(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[policy."reg.test/*"]\nsigned-by = "k.pub"\n')
    decision = check_image_policy(config, "golang:1.17", IMAGE, FetchedSignatures())
    assert decision.rule is None


def test_an_unsigned_image_is_refused_in_one_line(
    tmp_path: Path, pair: tuple[keys.PrivateKey, bytes]
) -> None:
    (tmp_path / "go.pub").write_bytes(pair[1])
    config = config_with(tmp_path, f'[policy."golang:*"]\nsigned-by = "{tmp_path}/go.pub"\n')
    with pytest.raises(PolicyError) as info:
        check_image_policy(config, "golang:1.17", IMAGE, FetchedSignatures())
    message = str(info.value)
    assert "docker.io/library/golang:1.17" in message and "'golang:*'" in message
    assert IMAGE.digest[:19] in message and "no signatures" in message and "\n" not in message


def test_a_signature_by_the_key_lets_it_through(
    tmp_path: Path, pair: tuple[keys.PrivateKey, bytes]
) -> None:
    key, public = pair
    (tmp_path / "go.pub").write_bytes(public)
    config = config_with(tmp_path, f'[policy."golang:*"]\nsigned-by = "{tmp_path}/go.pub"\n')
    source = signed(key, "docker.io/library/golang:1.17", IMAGE.digest)
    decision = check_image_policy(config, "golang:1.17", IMAGE, source)
    assert decision.key_id == keys.key_id(key.public_key())
    # the same signature does not cover other content, nor another repository
    with pytest.raises(PolicyError, match="no signatures"):
        check_image_policy(config, "golang:1.17", OTHER, source)
    moved = signed(key, "docker.io/library/not-golang:1", IMAGE.digest)
    with pytest.raises(PolicyError, match="is for repository"):
        check_image_policy(config, "golang:1.17", IMAGE, moved)


def test_a_signature_by_another_key_is_refused(
    tmp_path: Path, pair: tuple[keys.PrivateKey, bytes]
) -> None:
    (tmp_path / "go.pub").write_bytes(pair[1])
    stranger = keys.load_private_key(keys.generate_keypair("x")[0], "x")
    config = config_with(tmp_path, f'[policy."golang:*"]\nsigned-by = "{tmp_path}/go.pub"\n')
    source = signed(stranger, "docker.io/library/golang:1.17", IMAGE.digest)
    with pytest.raises(PolicyError, match="verifies with this key"):
        check_image_policy(config, "golang:1.17", IMAGE, source)


def test_digest_pinning(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[policy."golang:*"]\ndigest-pinned = true\n')
    with pytest.raises(PolicyError, match="referenced by digest"):
        check_image_policy(config, "golang:1.17", IMAGE, FetchedSignatures())
    pinned = f"golang@{IMAGE.digest}"
    assert check_image_policy(config, pinned, IMAGE, FetchedSignatures()).rule is not None
    with pytest.raises(PolicyError, match="another digest"):
        check_image_policy(config, pinned, OTHER, FetchedSignatures())


def test_a_missing_key_file_is_the_configs_fault(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[policy."golang:*"]\nsigned-by = "absent.pub"\n')
    source = FetchedSignatures({IMAGE.digest: [Signature(b"{}", "AA==")]})
    with pytest.raises(InputError, match="absent.pub cannot be read"):
        check_image_policy(config, "golang:1.17", IMAGE, source)


def test_locally_built_bases_are_exempt(tmp_path: Path) -> None:
    config = config_with(tmp_path, '[policy."gcr.io/distroless/*"]\nsigned-by = "k.pub"\n')
    decision = check_image_policy(
        config, "gcr.io/distroless/base", IMAGE, FetchedSignatures(), built_locally=True
    )
    assert decision.exempt and decision.rule is not None
    with pytest.raises(PolicyError):
        check_image_policy(config, "gcr.io/distroless/base", IMAGE, FetchedSignatures())


def test_the_store_is_a_signature_source_for_builds(
    tmp_path: Path, pair: tuple[keys.PrivateKey, bytes]
) -> None:
    key, public = pair
    (tmp_path / "go.pub").write_bytes(public)
    config = config_with(tmp_path, f'[policy."golang:*"]\nsigned-by = "{tmp_path}/go.pub"\n')
    store = Store(tmp_path / "store")
    desc = add_image(store, "amd64", [add_layer(store, {"go": b"toolchain"})])
    store.tag("golang:1.17", desc)
    with pytest.raises(PolicyError, match="no signatures"):
        check_image_policy(config, "golang:1.17", desc, store)
    sign_image(store, "golang:1.17", key)
    assert check_image_policy(config, "golang:1.17", desc, store).key_id is not None
    assert isinstance(desc.digest, str) and Digest(desc.digest)
