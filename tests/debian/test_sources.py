from __future__ import annotations

from pathlib import Path

import pytest

from distroless.debian.sources import (
    ENV_MIRROR,
    Mirrors,
    discover_mirrors,
    distro,
    read_apt_sources,
    suite_sources,
)
from distroless.errors import DebianError, UsageError

MAIN = "http://mirror.test.invalid/debian"
SECURITY = "http://mirror.test.invalid/debian-security"


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def deb822_root(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "etc/apt/sources.list.d/debian.sources",
        f"Types: deb deb-src\n# a comment\nURIs: {MAIN}/\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {SECURITY}\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nEnabled: no\nURIs: http://disabled.test.invalid/x\nSuites: trixie\n",
    )
    write(tmp_path, "etc/apt/sources.list.d/other.sources.disabled", "Types: deb\nURIs: x\n")
    return tmp_path


def test_deb822_sources(deb822_root: Path) -> None:
    assert discover_mirrors(deb822_root, env={}) == Mirrors(MAIN, SECURITY)


def test_one_line_sources(tmp_path: Path) -> None:
    write(
        tmp_path,
        "etc/apt/sources.list",
        "# comment\ndeb-src http://src.test.invalid/debian bookworm main\n"
        "deb http://thirdparty.test.invalid/apt stable-foo main\n"
        f"deb [arch=amd64 signed-by=/k.gpg] {MAIN} trixie main contrib\n",
    )
    write(tmp_path, "etc/apt/sources.list.d/sec.list", f"deb {SECURITY} trixie-security main\n")
    assert discover_mirrors(tmp_path, env={}) == Mirrors(MAIN, SECURITY)
    uris = [s.uri for s in read_apt_sources(tmp_path)]
    assert uris[0] == "http://thirdparty.test.invalid/apt"


def test_precedence(deb822_root: Path) -> None:
    other = "http://other.test.invalid/debian"
    env = {ENV_MIRROR: "http://env.test.invalid/debian"}
    assert discover_mirrors(deb822_root, override=other, env=env) == Mirrors(other, SECURITY)
    assert discover_mirrors(deb822_root, env=env).main == "http://env.test.invalid/debian"
    spec = discover_mirrors(
        deb822_root, env={}, repositories=[other, "http://other.test.invalid/debian-security"]
    )
    assert spec == Mirrors(other, "http://other.test.invalid/debian-security")
    both = discover_mirrors(deb822_root, override=f"{other}, {other}-sec", env=env)
    assert both == Mirrors(other, f"{other}-sec")


def test_bad_override(deb822_root: Path) -> None:
    with pytest.raises(UsageError, match="ftp://x"):
        discover_mirrors(deb822_root, override="ftp://x", env={})


def test_no_sources_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DebianError, match="--mirror"):
        discover_mirrors(tmp_path, env={})


def test_no_security_archive(tmp_path: Path) -> None:
    write(tmp_path, "etc/apt/sources.list", f"deb {MAIN} trixie main\n")
    mirrors = discover_mirrors(tmp_path, env={})
    assert mirrors.security is None
    suites = [s.suite for s in suite_sources(distro("debian13"), mirrors)]
    assert suites == ["trixie", "trixie-updates"]


def test_suite_sources() -> None:
    sources = suite_sources(distro("debian12"), Mirrors(MAIN, SECURITY))
    assert [(s.mirror, s.suite) for s in sources] == [
        (MAIN, "bookworm"),
        (MAIN, "bookworm-updates"),
        (SECURITY, "bookworm-security"),
    ]
    assert distro("debian13").merged_usr
    with pytest.raises(UsageError, match="debian99"):
        distro("debian99")


def test_host_sources_name_a_debian_archive() -> None:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources")
    mirrors = discover_mirrors(env={})
    assert mirrors.main.startswith(("http://", "https://"))
