from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from distroless.errors import AuthError
from distroless.oci.reference import DEFAULT_REGISTRY
from distroless.registry_config import Login, save_login
from distroless.transports.registry.auth import (
    Credentials,
    default_lookup,
    docker_credentials,
    parse_challenges,
)
from tests.helpers.cli import run_cli


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_bearer_challenge_with_quoted_commas() -> None:
    header = (
        'Bearer realm="https://auth.test/token",service="reg",'
        'scope="repository:a/b:pull,push repository:c:pull"'
    )
    [c] = parse_challenges(header)
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.test/token"
    assert c.service == "reg"
    assert c.scope == "repository:a/b:pull,push repository:c:pull"


def test_several_challenges_and_unquoted_values() -> None:
    challenges = parse_challenges('Basic realm="x y", Bearer realm=https://t/tok,service=s')
    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "x y"
    assert challenges[1].params == {"realm": "https://t/tok", "service": "s"}


def test_escaped_quote_in_value() -> None:
    [c] = parse_challenges(r'Basic realm="say \"hi\""')
    assert c.realm == 'say "hi"'


def test_empty_header_has_no_challenge() -> None:
    assert parse_challenges("") == []


def test_auths_entry_is_decoded() -> None:
    config = {"auths": {"https://reg.test:5000/v1/": {"auth": b64("u:p:with:colons")}}}
    assert docker_credentials("reg.test:5000", config) == Credentials("u", "p:with:colons")
    assert docker_credentials("other.test", config) is None


def test_legacy_default_registry_key_maps_to_the_default_registry() -> None:
    legacy_key = f"https://index.{DEFAULT_REGISTRY}/v1/"
    config = {"auths": {legacy_key: {"auth": b64("hub:pw")}}}
    assert docker_credentials(DEFAULT_REGISTRY, config) == Credentials("hub", "pw")


def test_identity_token_entry() -> None:
    config = {"auths": {"reg.test": {"identitytoken": "refresh-me"}}}
    assert docker_credentials("reg.test", config) == Credentials(identity_token="refresh-me")


def test_bad_base64_is_a_clear_error() -> None:
    with pytest.raises(AuthError, match="reg.test"):
        docker_credentials("reg.test", {"auths": {"reg.test": {"auth": "***"}}})


def _helper(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_credential_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    # The helper reads the server name on stdin and answers JSON, as docker's do.
    _helper(
        bin_dir,
        "fake",
        'read server\nprintf \'{"Username":"from-helper","Secret":"%s"}\' "$server"\n',
    )
    _helper(bin_dir, "token", 'read s\necho \'{"Username":"<token>","Secret":"idt"}\'\n')
    _helper(bin_dir, "empty", "echo 'credentials not found' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = {
        "credHelpers": {"reg.test": "fake", "tok.test": "token", "none.test": "empty"},
        "credsStore": "fake",
    }
    assert docker_credentials("reg.test", config) == Credentials("from-helper", "reg.test")
    assert docker_credentials("tok.test", config) == Credentials(identity_token="idt")
    assert docker_credentials("none.test", config) is None
    # Hosts without a helper of their own fall back to credsStore.
    assert docker_credentials("else.test", config) == Credentials("from-helper", "else.test")


def test_missing_helper_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AuthError, match="docker-credential-nothere"):
        docker_credentials("reg.test", {"credsStore": "nothere"})


def test_own_login_wins_over_docker_config(tmp_path: Path) -> None:
    docker = tmp_path / "docker.json"
    docker.write_text(json.dumps({"auths": {"reg.test": {"auth": b64("docker:pw")}}}))
    own = tmp_path / "auth.json"
    lookup = default_lookup(own, docker)
    assert lookup("reg.test") == Credentials("docker", "pw")
    save_login("reg.test", Login("mine", "pw2"), own)
    assert lookup("reg.test") == Credentials("mine", "pw2")
    assert lookup("nowhere.test") is None


def test_unreadable_docker_config(tmp_path: Path) -> None:
    docker = tmp_path / "docker.json"
    docker.write_text("{not json")
    with pytest.raises(AuthError, match=r"docker\.json"):
        default_lookup(tmp_path / "none.json", docker)("reg.test")


def test_login_address_with_credentials_is_refused_unquoted(tmp_path: Path) -> None:
    """A CI log would otherwise show the password that was pasted into the address."""
    result = run_cli(
        "login",
        "https://me:pa55word@127.0.0.1:1",
        "-u",
        "me",
        "--password-stdin",
        root=tmp_path / "store",
        input="pa55word\n",
        env={"XDG_CONFIG_HOME": str(tmp_path / "config")},
    )
    assert result.exit_code == 2
    assert "pa55word" not in result.stdout + result.stderr
    assert not (tmp_path / "config").exists()
