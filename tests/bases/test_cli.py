"""``distroless bases``: listing, argument errors, and the committed lockfiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.bases.locks import lock_inputs, lock_path, read_lock
from distroless.bases.platforms import RELEASE_ARCHS
from distroless.bases.recipe import Recipes
from distroless.debian.lockfile import Lockfile
from distroless.errors import LockfileError
from tests.helpers import Cli


def test_list_json(cli: Cli) -> None:
    rows = cli("bases", "list", "--json").check().json()
    assert isinstance(rows, list)
    assert [r["name"] for r in rows] == [
        "static", "base-nossl", "base", "java21", "java25", "cc", "nodejs20", "python3"
    ]  # fmt: skip
    assert rows[0]["tags"] == ["latest", "nonroot", "debug", "debug-nonroot"]
    assert rows[0]["size"] is None  # nothing built in this store
    twelve = cli("bases", "list", "--distro", "debian12", "--json").check().json()
    assert isinstance(twelve, list)
    assert [r["name"] for r in twelve] == [
        "static", "base-nossl", "base", "java17", "cc", "nodejs18", "python3"
    ]  # fmt: skip


def test_list_table(cli: Cli) -> None:
    out = cli("bases", "list").check().stdout
    assert out.splitlines()[0].split() == ["NAME", "TAGS", "PACKAGES", "SIZE"]
    assert "python3" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "no base named 'nope'"),
        (("java21", "--distro", "debian12"), "no base named 'java21'"),
        (("static:edge",), "unknown tag 'edge'"),
        (("static", "--arch", "sparc"), "unknown architecture 'sparc' for debian13"),
        (("static", "--arch", "riscv64", "--distro", "debian12"), "unknown architecture"),
        (("static", "--arch", ","), "no architecture in ','"),
    ],
)
def test_build_argument_errors(
    cli: Cli, store_root: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli("bases", "build", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not any((store_root / "blobs" / "sha256").glob("*"))


def test_committed_locks_match_the_recipes() -> None:
    recipes = Recipes.builtin()
    for distro in ("debian13", "debian12"):
        lock = read_lock(recipes, distro)
        assert {"amd64", "arm64", "armhf", "i386"} <= set(lock.archs) <= set(RELEASE_ARCHS[distro])
        for packages in lock.archs.values():
            assert {p.name for p in packages} == set(recipes.lock_packages(distro))


def test_stale_or_missing_lock_is_refused(tmp_path: Path) -> None:
    recipes = Recipes.builtin()
    with pytest.raises(LockfileError, match="does not exist"):
        read_lock(recipes, "debian13", tmp_path)
    current = Lockfile.read(lock_path("debian12"))
    stale = Lockfile(current.distro, current.suites, current.archs, "sha256:" + "1" * 64)
    stale.write(lock_path("debian12", tmp_path))
    with pytest.raises(LockfileError, match="no longer matches"):
        read_lock(recipes, "debian12", tmp_path)
    assert lock_inputs(recipes, "debian12", tuple(current.archs)).digest() == current.spec_digest
