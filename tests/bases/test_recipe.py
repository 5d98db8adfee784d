"""Recipes: the shipped YAML files, flattening parents, and errors at the boundary."""

from __future__ import annotations

import pytest

from distroless.bases.recipe import CA_PACKAGE, Recipes, load_models
from distroless.bases.reference import PUBLISHED_REGISTRY, BaseRef, parse_base_reference
from distroless.errors import InputError, NotFoundError, UsageError


def test_builtin_lists_match_the_published_images() -> None:
    recipes = Recipes.builtin()
    assert recipes.names == ["static", "base-nossl", "base", "cc", "python3"]
    assert recipes.names_for("debian12") == ["static", "base-nossl", "base", "cc"]
    static = recipes.get("static")
    assert static.packages == (
        "base-files", "netbase", "tzdata", "tzdata-legacy", "media-types", CA_PACKAGE,
    )  # fmt: skip
    assert CA_PACKAGE not in static.layered_packages and static.has_ca_bundle
    base = recipes.get("base")
    assert base.packages[-4:] == ("libc6", "libssl3t64", "libzstd1", "zlib1g")
    assert "libgcc-s1" not in base.packages  # libc6's Depends is deliberately not followed
    cc12 = recipes.get("cc", "debian12")
    assert cc12.packages[-4:] == ("libgomp1", "libstdc++6", "libgcc-s1", "gcc-12-base")
    assert "libssl3" in cc12.packages and "tzdata-legacy" not in cc12.packages


def test_python3_flattens_parents() -> None:
    py = Recipes.builtin().get("python3")
    assert len(py.packages) == len(set(py.packages)) == 38  # zlib1g listed twice, kept once
    assert py.entrypoint == ("/usr/bin/python3.13",)
    assert dict(py.env) == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
        "LANG": "C.UTF-8",
    }
    assert dict(py.symlinks) == {"/usr/bin/python": "python3.13", "/usr/bin/python3": "python3.13"}
    assert py.ld_cache
    assert not Recipes.builtin().get("cc").ld_cache


def test_lock_packages_cover_every_base_and_busybox() -> None:
    names = Recipes.builtin().lock_packages("debian13")
    assert names[-1] == "busybox-static"
    assert set(Recipes.builtin().get("python3").packages) < set(names)
    assert len(names) == len(set(names))


def test_unknown_names_and_distros() -> None:
    recipes = Recipes.builtin()
    with pytest.raises(NotFoundError, match="no base named 'nope'"):
        recipes.get("nope")
    with pytest.raises(NotFoundError, match="python3.*debian12"):
        recipes.get("python3", "debian12")
    with pytest.raises(UsageError, match="unknown distro 'debian9'"):
        recipes.get("static", "debian9")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\npackages: {debian13: [a b]}\n", r"x.yaml: packages.debian13.0: String should"),
        ("name: x\npackages: {debian9: [ab]}\n", "unknown distro 'debian9'"),
        ("name: x\npackages: {}\nextra: 1\n", "x.yaml: extra: Extra inputs"),
        ("name: x\npackages: {}\nsymlinks: {usr/bin/a: b}\n", "must be absolute"),
        ("name: x\npackages: [\n", r"x.yaml:\d+: not valid YAML"),
        ("- a\n", "x.yaml: the top level"),
    ],
)
def test_bad_recipe_is_a_located_error(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_models({"x.yaml": text})


def test_parent_errors() -> None:
    with pytest.raises(InputError, match="unknown parent 'ghost'"):
        load_models({"a.yaml": "name: a\nparent: ghost\npackages: {}\n"})
    loop = {
        "a.yaml": "name: a\nparent: b\npackages: {}\n",
        "b.yaml": "name: b\nparent: a\npackages: {}\n",
    }
    with pytest.raises(InputError, match="loops"):
        load_models(loop)
    twice = {"a.yaml": "name: a\npackages: {}\n", "b.yaml": "name: a\npackages: {}\n"}
    with pytest.raises(InputError, match="b.yaml: recipe 'a' is defined twice"):
        load_models(twice)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("distroless/static", BaseRef("static", "latest", "debian13")),
        ("distroless/base-debian12:nonroot", BaseRef("base", "nonroot", "debian12")),
        (f"{PUBLISHED_REGISTRY}/distroless/cc-debian13:debug", BaseRef("cc", "debug", "debian13")),
        (
            f"{PUBLISHED_REGISTRY}/distroless/python3:debug-nonroot",
            BaseRef("python3", "debug-nonroot", "debian13"),
        ),
        (f"{PUBLISHED_REGISTRY}/distroless/python3-debian12", None),
        ("distroless/static:edge", None),
        ("distroless/nodejs22", None),
        ("library/debian:13", None),
        ("distroless/static@sha256:" + "a" * 64, None),
        ("not a reference", None),
    ],
)
def test_base_references(text: str, expected: BaseRef | None) -> None:
    assert parse_base_reference(text) == expected
