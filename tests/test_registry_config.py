from __future__ import annotations

import stat
from pathlib import Path

import pytest

from distroless.errors import InputError
from distroless.oci.reference import DEFAULT_REGISTRY
from distroless.registry_config import (
    Login,
    UserConfig,
    config_path,
    load_logins,
    remove_login,
    save_login,
)


def test_missing_file_is_an_empty_config(tmp_path: Path) -> None:
    config = UserConfig.load(tmp_path / "none.toml")
    assert config.mirrors_for("reg.test") == ()
    assert not config.is_insecure("reg.test")


def test_default_location_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == tmp_path / "distroless" / "config.toml"


def test_mirrors_and_insecure(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[registry."origin.test"]\nmirrors = ["127.0.0.1:5000", "https://m.test"]\n'
        '[registry."plain.test:5000"]\ninsecure = true\n'
    )
    config = UserConfig.load(path)
    assert config.mirrors_for("origin.test") == ("127.0.0.1:5000", "https://m.test")
    assert config.is_insecure("plain.test:5000")
    assert not config.is_insecure("origin.test")
    flagged = config.with_mirrors("origin.test", ("first.test",)).with_insecure("first.test")
    assert flagged.mirrors_for("origin.test")[0] == "first.test"
    assert flagged.is_insecure("first.test")


def test_unknown_key_names_its_location(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[registry."r.test"]\nmirror = ["x"]\n')
    with pytest.raises(InputError, match=r"registry\.r\.test\.mirror"):
        UserConfig.load(path)


def test_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[registry."r.test"]\ninsecure = "maybe"\n')
    with pytest.raises(InputError, match="insecure"):
        UserConfig.load(path)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[registry\n")
    with pytest.raises(InputError, match="not valid TOML"):
        UserConfig.load(path)


def test_login_file_round_trip_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "auth.json"
    save_login("a.test", Login("u", "p:w"), path)
    save_login("b.test", Login("v", "q"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_logins(path) == {"a.test": Login("u", "p:w"), "b.test": Login("v", "q")}
    assert remove_login("a.test", path)
    assert not remove_login("a.test", path)
    assert load_logins(path) == {"b.test": Login("v", "q")}
    assert [p.name for p in path.parent.iterdir()] == ["auth.json"]


def test_legacy_aliases_of_the_default_registry_are_normalised() -> None:
    legacy = f"index.{DEFAULT_REGISTRY}"
    config = UserConfig.from_dict({"registry": {legacy: {"mirrors": ["127.0.0.1:5000"]}}})
    assert config.mirrors_for(DEFAULT_REGISTRY) == ("127.0.0.1:5000",)


def test_bad_registry_key() -> None:
    with pytest.raises(InputError, match="not a registry"):
        UserConfig.from_dict({"registry": {"bad host.test": {}}})


def test_aliases_are_explicit_and_compared_in_short_form(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[aliases]\n"golang:1.22" = "distroless/builder-go:1.24-debian13"\n')
    config = UserConfig.load(path)
    want = "distroless/builder-go:1.24-debian13"
    assert config.alias_for("golang:1.22") == want
    assert config.alias_for("docker.io/library/golang:1.22") == want
    assert config.alias_for("golang:1.17") is None
    assert config.alias_for("golang") is None
    assert UserConfig.load(tmp_path / "none.toml").alias_for("golang:1.22") is None
    assert config.with_insecure("reg.test").alias_for("golang:1.22") == want


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('"golang:1.22" = "golang:1.22"', "names itself"),
        ('"golang@sha256:' + "a" * 64 + '" = "x:1"', "cannot be a digest"),
        ('"Bad Name" = "x:1"', "aliases"),
    ],
)
def test_bad_aliases_name_the_entry(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[aliases]\n{body}\n")
    with pytest.raises(InputError, match=match):
        UserConfig.load(path)
