"""Recipes: the shipped YAML files, flattening parents, and errors at the boundary."""

from __future__ import annotations

import pytest

from distroless.bases.recipe import CA_PACKAGE, Recipes, expand, load_models, upstream_version
from distroless.bases.reference import PUBLISHED_REGISTRY, BaseRef, parse_base_reference
from distroless.errors import InputError, NotFoundError, UsageError


def test_builtin_lists_match_the_published_images() -> None:
    recipes = Recipes.builtin()
    assert recipes.names == [
        "static", "base-nossl", "base", "java17", "java21", "java25", "cc", "nodejs18",
        "nodejs20", "python3",
    ]  # fmt: skip
    assert recipes.names_for("debian12") == [
        "static", "base-nossl", "base", "java17", "cc", "nodejs18", "python3"
    ]  # fmt: skip
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


def test_python3_on_debian12_is_laid_out_as_on_debian13() -> None:
    recipes = Recipes.builtin()
    py12, py13 = recipes.get("python3", "debian12"), recipes.get("python3")
    assert py12.entrypoint == ("/usr/bin/python3.11",)
    assert dict(py12.symlinks) == {
        "/usr/bin/python": "python3.11",
        "/usr/bin/python3": "python3.11",
    }
    assert dict(py12.env) == dict(py13.env) and py12.ld_cache
    assert "python3.11-venv" in py12.packages and "libpython3.11-stdlib" in py12.packages
    assert py12.description.startswith("cc plus CPython 3.11")


@pytest.mark.parametrize(
    ("name", "distro", "jre"),
    [
        ("java21", "debian13", "openjdk-21-jre-headless"),
        ("java25", "debian13", "openjdk-25-jre-headless"),
        ("java17", "debian12", "openjdk-17-jre-headless"),
    ],
)
def test_java_recipes_as_published(name: str, distro: str, jre: str) -> None:
    recipes = Recipes.builtin()
    java = recipes.get(name, distro)
    nossl = recipes.get("base-nossl", distro)
    assert java.packages[: len(nossl.packages)] == nossl.packages  # on base-nossl
    assert java.packages[-1] == jre and java.java_truststore
    assert java.entrypoint == ("/usr/bin/java", "-jar") and java.cmd is None
    env = dict(java.env)
    assert env["LANG"] == "C.UTF-8" and env["JAVA_VERSION"] == f"{{upstream:{jre}}}"
    version = name.removeprefix("java")
    assert dict(java.symlinks) == {
        "/usr/bin/java": f"/usr/lib/jvm/java-{version}-openjdk-{{arch}}/bin/java"
    }
    # the JVM's own files only: no su, PAM, scripts or the trust store's Java generator
    for unwanted in ("util-linux", "libpam0g", "ca-certificates-java", "java-common", "libssl3"):
        assert unwanted not in java.packages
    assert not recipes.get("base", distro).java_truststore


@pytest.mark.parametrize(("name", "distro"), [("nodejs20", "debian13"), ("nodejs18", "debian12")])
def test_nodejs_recipes(name: str, distro: str) -> None:
    node = Recipes.builtin().get(name, distro)
    cc = Recipes.builtin().get("cc", distro)
    assert node.packages[: len(cc.packages)] == cc.packages
    assert node.entrypoint == ("/usr/bin/node",) and node.packages[-1] == "nodejs"
    assert "npm" not in node.packages and "node-corepack" not in node.packages
    assert dict(node.symlinks) == {"/nodejs/bin/node": "/usr/bin/node"}


@pytest.mark.parametrize(
    ("version", "upstream"),
    [
        ("21.0.13.1+2-1~deb13u1", "21.0.13.1"),
        ("2:1.24~2", "1.24"),
        ("20.19.2+dfsg-1+deb13u3", "20.19.2"),
        ("3.13.5-2", "3.13.5"),
        ("1.0", "1.0"),
    ],
)
def test_upstream_version(version: str, upstream: str) -> None:
    assert upstream_version(version) == upstream


def test_placeholders_are_filled_per_image() -> None:
    versions = {"openjdk-21-jre-headless": "21.0.13.1+2-1~deb13u1"}
    assert expand("/usr/lib/jvm/java-21-openjdk-{arch}", "armhf", versions.__getitem__) == (
        "/usr/lib/jvm/java-21-openjdk-armhf"
    )
    assert expand("{upstream:openjdk-21-jre-headless}", "amd64", versions.__getitem__) == (
        "21.0.13.1"
    )
    assert expand("no placeholder", "amd64", versions.__getitem__) == "no placeholder"


def test_lock_packages_cover_every_base_and_busybox() -> None:
    names = Recipes.builtin().lock_packages("debian13")
    assert names[-1] == "busybox-static"
    assert set(Recipes.builtin().get("python3").packages) < set(names)
    assert len(names) == len(set(names))


def test_unknown_names_and_distros() -> None:
    recipes = Recipes.builtin()
    with pytest.raises(NotFoundError, match="no base named 'nope'"):
        recipes.get("nope")
    with pytest.raises(NotFoundError, match="java21.*debian12"):
        recipes.get("java21", "debian12")
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
        ("name: x\npackages: {}\nenv: {A: '{version}'}\n", "unknown placeholder '{version}'"),
        ("name: x\npackages: {}\nsymlinks: {/a: '{upstream:b}'}\n", "use {arch}"),
        ("name: x\npackages: {}\ndistros: {debian9: {}}\n", "unknown distro 'debian9'"),
        ("name: x\npackages: {}\ndistros: {debian12: {packages: []}}\n", "Extra inputs"),
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
        (
            f"{PUBLISHED_REGISTRY}/distroless/python3-debian12",
            BaseRef("python3", "latest", "debian12"),
        ),
        (
            f"{PUBLISHED_REGISTRY}/distroless/java21-debian13",
            BaseRef("java21", "latest", "debian13"),
        ),
        ("distroless/java17-debian12:nonroot", BaseRef("java17", "nonroot", "debian12")),
        ("distroless/nodejs20:debug", BaseRef("nodejs20", "debug", "debian13")),
        (f"{PUBLISHED_REGISTRY}/distroless/java21-debian12", None),
        ("distroless/static:edge", None),
        ("distroless/nodejs22", None),
        ("library/debian:13", None),
        ("distroless/static@sha256:" + "a" * 64, None),
        ("not a reference", None),
    ],
)
def test_base_references(text: str, expected: BaseRef | None) -> None:
    assert parse_base_reference(text) == expected
