"""Naming the Debian package of a missing library from Packages indices, read only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from distroless.debian.archive import index_cache_path
from distroless.debian.indexcache import load_table
from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig
from distroless.verify.fsview import FileSystemView
from distroless.verify.suggest import NoHints, cached_hints, hints_for_image, policy_names
from tests.helpers.cli import run_cli
from tests.verify.elftree import base_layers, program
from tests.verify.fakeimage import make_image


@pytest.mark.parametrize(
    ("soname", "first"),
    [
        ("libstdc++.so.6", "libstdc++6"),
        ("libgcc_s.so.1", "libgcc-s1"),
        ("libsqlite3.so.0", "libsqlite3-0"),
        ("libgssapi_krb5.so.2", "libgssapi-krb5-2"),
        ("libbz2.so.1.0", "libbz2-1.0"),
        ("libdb-5.3.so", "libdb5.3"),
        ("libz.so.1", "libz1"),
        ("libc.so.6", "libc6"),
        ("libm.so.6", "libc6"),
        ("ld-linux-x86-64.so.2", "libc6"),
        ("ld-linux-aarch64.so.1", "libc6"),
        ("libcrypto.so.3", "libssl3"),
    ],
)
def test_policy_names(soname: str, first: str) -> None:
    assert policy_names(soname)[0] == first


def test_names_that_are_no_library_give_nothing() -> None:
    assert policy_names("sh") == []
    assert policy_names("../../etc/passwd") == []


def packages_text(release: str, arch: str, *names: str) -> str:
    paragraphs = [f"Package: base-files\nVersion: {release}\nArchitecture: {arch}\n"]
    for name in names:
        provides = "Provides: libz1\n" if name == "zlib1g" else ""
        paragraphs.append(f"Package: {name}\nVersion: 1.0-1\nArchitecture: {arch}\n{provides}")
    return "\n".join(paragraphs)


def cache_index(cache: Path, text: str, *, table: bool = True) -> Path:
    """A verified index as the archive code leaves it in the cache, with its lookup table."""
    data = text.encode()
    key = hashlib.sha256(data + b"compressed").hexdigest()
    path = index_cache_path(cache, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if table:
        load_table(path, key)
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_only_cached_indices_of_the_release_and_architecture_answer(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache_index(cache, packages_text("13.8", "amd64", "libstdc++6-from-13"))
    cache_index(cache, packages_text("12.4+deb12u1", "amd64", "libstdc++6", "zlib1g"))
    cache_index(cache, packages_text("13.8", "arm64", "zlib1g"))
    untabled = cache_index(cache, packages_text("13.8", "amd64", "zlib1g"), table=False)
    before = snapshot(untabled.parent)
    thirteen = cached_hints(cache, "amd64", [], "13")
    assert thirteen.package_for("libz.so.1") is None  # only arm64's and an untabled one
    assert thirteen.package_for("libstdc++.so.6") is None
    twelve = cached_hints(cache, "amd64", [], "12")
    assert twelve.package_for("libz.so.1") == "zlib1g"
    assert twelve.package_for("libstdc++.so.6") == "libstdc++6"
    assert snapshot(untabled.parent) == before  # nothing was written into the cache


def test_an_image_without_os_release_is_matched_by_its_package_versions(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache_index(cache, packages_text("13.8", "amd64", "zlib1g"))
    assert isinstance(cached_hints(cache, "amd64", [("base-files", "13.7")], ""), NoHints)
    hints = cached_hints(cache, "amd64", [("base-files", "13.8")], "")
    assert hints.package_for("libz.so.1") == "zlib1g"


def test_an_empty_or_missing_cache_gives_no_hints(tmp_path: Path) -> None:
    assert isinstance(cached_hints(tmp_path / "nothing", "amd64", [], "13"), NoHints)


def test_hints_follow_the_images_os_release_and_architecture(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache_index(cache, packages_text("13.8", "amd64", "libstdc++6"))
    image = make_image(tmp_path / "store", "t/a:1", base_layers())
    hints = hints_for_image(FileSystemView.from_image(image), image, cache)
    assert hints.package_for("libstdc++.so.6") == "libstdc++6"


def test_check_names_the_package_from_the_cache_unless_told_not_to(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache_index(cache, packages_text("13.8", "amd64", "libstdc++6"))
    cxx = program(needed=("libstdc++.so.6", "libc.so.6"))
    make_image(
        tmp_path / "store",
        "t/cxx:1",
        [*base_layers(), [Entry.file("app", cxx, mode=0o755)]],
        config=ContainerConfig(entrypoint=("/app",)),
    )
    env = {"DISTROLESS_CACHE": str(cache)}
    result = run_cli("check", "t/cxx:1", "--json", root=tmp_path / "store", env=env)
    assert result.exit_code == 1
    [item] = json.loads(result.stdout)["findings"]
    assert (item["missing"], item["package"]) == ("libstdc++.so.6", "libstdc++6")
    assert "libstdc++.so.6" in result.stderr
    off = run_cli(
        "check", "t/cxx:1", "--json", "--suggest", "off", root=tmp_path / "store", env=env
    )
    assert "package" not in json.loads(off.stdout)["findings"][0]
