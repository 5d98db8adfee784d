"""The distroless base images built from the committed lockfiles, loaded into a real Docker
engine and run: static, base-nossl, base, cc and python3 (Debian 13), and the Debian 12 set."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.bases.build import PUBLISHED, BuiltBase, build_bases, build_reference
from distroless.bases.generated import GROUPS, USERS
from distroless.bases.ldcache import read_cache
from distroless.bases.locks import read_lock
from distroless.bases.recipe import TAGS, Recipes
from distroless.bases.reference import parse_base_reference
from distroless.debian.provider import PackageSource
from distroless.debian.sources import read_apt_sources
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.transports.tarball import save
from distroless.verify.check import check_image
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store
from tests.helpers import Cli, DockerEngine, c_build, go_build
from tests.helpers.bases import core_base_names

pytestmark = [pytest.mark.integration, pytest.mark.network]

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
EM_X86_64 = 62
EM_AARCH64 = 183
FORBIDDEN = ("bin/sh", "bin/bash", "usr/bin/sh", "usr/bin/bash", "usr/bin/apt", "usr/bin/dpkg")

GO_PROBE = """package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

func main() {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		fmt.Println("certs: error", err)
		os.Exit(1)
	}
	if _, err := time.LoadLocation("America/New_York"); err != nil {
		fmt.Println("tz: error", err)
		os.Exit(1)
	}
	wd, _ := os.Getwd()
	fmt.Printf("ok uid=%d cwd=%s\\n", os.Getuid(), wd)
	for _, name := range os.Args[1:] {
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Println("read: error", err)
			os.Exit(1)
		}
		os.Stdout.Write(data)
	}
}
"""

OPENSSL_PROBE = r"""
#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
int main(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return 1;
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
    SSL_CTX_free(ctx);
    return 0;
}
"""

CXX_PROBE = r"""
#include <iostream>
#include <thread>
#include <vector>
int main() {
    std::vector<int> out(4);
    std::vector<std::thread> workers;
    for (int i = 0; i < 4; ++i) workers.emplace_back([&out, i] { out[i] = i * i; });
    for (auto &t : workers) t.join();
    std::cout << "threads " << out[0] + out[1] + out[2] + out[3] << std::endl;
    return 0;
}
"""

PY_PROBE = """
import ctypes, ctypes.util, json, subprocess
import ssl, sqlite3, lzma, bz2, zlib, uuid, readline
ctypes.CDLL("libsqlite3.so.0")
try:
    subprocess.run("echo hi", shell=True)
    shell = "ran"
except OSError as exc:
    shell = type(exc).__name__
print(json.dumps({"libc": ctypes.util.find_library("c"), "shell": shell,
                  "ssl": ssl.OPENSSL_VERSION, "sqlite": sqlite3.sqlite_version}))
"""


def _build(store_root: Path, cache: Path, distro: str, archs: tuple[str, ...]) -> list[BuiltBase]:
    recipes = Recipes.builtin()
    names = core_base_names(recipes, distro)
    source = PackageSource(cache)
    try:
        return build_bases(
            Store(store_root),
            source,
            [recipes.get(n, distro) for n in names],
            [(n, TAGS) for n in names],
            read_lock(recipes, distro),
            archs=archs,
        )
    finally:
        source.close()


@pytest.fixture(scope="module")
def debian13(
    tmp_path_factory: pytest.TempPathFactory, package_cache: Path
) -> tuple[Store, list[BuiltBase]]:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    root = tmp_path_factory.mktemp("bases13")
    built = _build(root, package_cache, "debian13", ("amd64", "arm64"))
    return Store(root), built


@pytest.fixture(scope="module")
def docker13(
    debian13: tuple[Store, list[BuiltBase]],
    docker_engine: DockerEngine,
    tmp_path_factory: pytest.TempPathFactory,
) -> DockerEngine:
    store, built = debian13
    archive = tmp_path_factory.mktemp("save13") / "bases.tar"
    with archive.open("wb") as out:
        save(store, [b.refs[0] for b in built], out, "docker", AMD64)
    loaded = docker_engine.load(archive)
    assert set(loaded) >= {b.refs[0] for b in built}
    return docker_engine


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("probes")
    return {
        "go": go_build(GO_PROBE, work / "goprobe"),
        "ssl": c_build(OPENSSL_PROBE, work / "sslprobe", flags=("-lssl", "-lcrypto")),
        "cxx": c_build(CXX_PROBE, work / "cxxprobe", cplusplus=True, flags=("-pthread",)),
    }


def _mount(path: Path) -> tuple[str, ...]:
    return ("-v", f"{path}:/probe:ro", "--entrypoint", "/probe")


def _view(store: Store, name: str, platform: Platform) -> FileSystemView:
    return FileSystemView.from_image(from_store(store, name, platform))


# --- static ---------------------------------------------------------------------------------


def test_static_go_program_certs_tz_and_files(
    docker13: DockerEngine, probes: dict[str, Path]
) -> None:
    out = docker13.run_image(
        "distroless/static:latest",
        "/etc/passwd",
        "/etc/group",
        "/etc/os-release",
        options=_mount(probes["go"]),
    ).stdout
    first, rest = out.split("\n", 1)
    assert first == "ok uid=0 cwd=/"
    assert rest.startswith(USERS + GROUPS)
    assert 'PRETTY_NAME="Distroless"' in rest[len(USERS + GROUPS) :]


def test_static_ca_bundle_without_hash_links(debian13: tuple[Store, list[BuiltBase]]) -> None:
    store, _ = debian13
    view = _view(store, "distroless/static:latest", AMD64)
    bundle = view.read_text("/etc/ssl/certs/ca-certificates.crt")
    assert bundle.count("-----BEGIN CERTIFICATE-----") > 100
    assert view.listdir("/etc/ssl/certs") == ["ca-certificates.crt"]
    assert view.exists("/usr/share/doc/ca-certificates/copyright")
    status = view.read_text("/var/lib/dpkg/status.d/ca-certificates")
    assert "Status: install ok installed" in status
    assert not view.exists("/usr/share/ca-certificates")
    assert not view.exists("/var/lib/dpkg/status")
    assert view.lookup("/etc/os-release", follow=False).is_symlink  # type: ignore[union-attr]
    tmp, root, home = (view.get(p) for p in ("tmp", "root", "home/nonroot"))
    assert tmp is not None and tmp.mode == 0o1777
    assert root is not None and root.mode == 0o700
    assert home is not None and (home.mode, home.uid, home.gid) == (0o700, 65532, 65532)


# --- base and cc ----------------------------------------------------------------------------


def test_base_runs_openssl_program(docker13: DockerEngine, probes: dict[str, Path]) -> None:
    out = docker13.run_image("distroless/base:latest", options=_mount(probes["ssl"])).stdout
    assert out.startswith("OpenSSL 3.")


def test_base_nossl_has_no_libssl(debian13: tuple[Store, list[BuiltBase]]) -> None:
    store, _ = debian13
    view = _view(store, "distroless/base-nossl:latest", AMD64)
    assert view.exists("/usr/lib/x86_64-linux-gnu/libc.so.6")
    assert not view.exists("/usr/lib/x86_64-linux-gnu/libssl.so.3")


def test_cc_runs_cxx_threads(docker13: DockerEngine, probes: dict[str, Path]) -> None:
    out = docker13.run_image("distroless/cc:latest", options=_mount(probes["cxx"])).stdout
    assert out.strip() == "threads 14"


# --- python3 --------------------------------------------------------------------------------


def test_python3_hello_and_stdlib(docker13: DockerEngine) -> None:
    hello = docker13.run_image("distroless/python3:latest", "-c", "print('hello')").stdout
    assert hello == "hello\n"
    result = json.loads(docker13.run_image("distroless/python3:latest", "-c", PY_PROBE).stdout)
    assert result["libc"] == "libc.so.6"  # ldconfig -p read our ld.so.cache
    assert result["shell"] in ("FileNotFoundError", "PermissionError")
    assert result["ssl"].startswith("OpenSSL 3.")


def test_python_links_and_version(docker13: DockerEngine) -> None:
    for link in ("/usr/bin/python", "/usr/bin/python3"):
        out = docker13.run_image(
            "distroless/python3:latest", "--version", options=("--entrypoint", link)
        ).stdout
        assert out.startswith("Python 3.13.")


@pytest.mark.parametrize(("platform", "abi"), [(AMD64, "libc6,x86-64"), (ARM64, "libc6,AArch64")])
def test_ld_so_cache_parses_with_host_ldconfig(
    debian13: tuple[Store, list[BuiltBase]], tmp_path: Path, platform: Platform, abi: str
) -> None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    store, _ = debian13
    data = _view(store, "distroless/python3:latest", platform).read_bytes("/etc/ld.so.cache")
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(data)
    out = subprocess.run(
        [ldconfig, "-p", "-C", str(cache)], check=True, capture_output=True, text=True
    ).stdout
    triplet = "x86_64-linux-gnu" if platform is AMD64 else "aarch64-linux-gnu"
    assert f"libc.so.6 ({abi}) => /lib/{triplet}/libc.so.6" in out
    assert f"libsqlite3.so.0 ({abi})" in out
    assert len(read_cache(data)) == int(out.split(" ", 1)[0])


# --- every tag ------------------------------------------------------------------------------


def test_nonroot_tags_run_as_65532(docker13: DockerEngine, probes: dict[str, Path]) -> None:
    for name in ("static", "base-nossl", "base", "cc", "python3"):
        out = docker13.run_image(f"distroless/{name}:nonroot", options=_mount(probes["go"])).stdout
        assert out.strip() == "ok uid=65532 cwd=/home/nonroot", name


def test_debug_tags_have_busybox_shell(docker13: DockerEngine) -> None:
    for name in ("static", "base-nossl", "base", "cc", "python3"):
        for tag in ("debug", "debug-nonroot"):
            out = docker13.run_image(f"distroless/{name}:{tag}", "-c", "echo ok; id -u").stdout
            assert out.split() == ["ok", "65532" if "nonroot" in tag else "0"], (name, tag)


def test_no_shell_package_manager_or_setuid(debian13: tuple[Store, list[BuiltBase]]) -> None:
    store, built = debian13
    for base in built:
        for platform in (AMD64, ARM64):
            image = from_store(store, base.refs[0], platform)
            view = FileSystemView.from_image(image)
            for path in FORBIDDEN:
                assert not view.exists(path), (base.refs[0], platform, path)
            setuid = [n.path for n in view.nodes() if n.is_file and n.mode & 0o6000]
            assert setuid == [], (base.refs[0], setuid)
            # the project's own policy check (shells, package managers, user, status.d ...)
            assert check_image(image, view).findings == (), (base.refs[0], platform)


def test_arm64_images_hold_arm64_binaries(debian13: tuple[Store, list[BuiltBase]]) -> None:
    store, _ = debian13
    for name, binary in (
        ("python3:latest", "/usr/bin/python3.13"),
        ("cc:debug", "/busybox/busybox"),
        ("base:latest", "/usr/lib/aarch64-linux-gnu/libssl.so.3"),
    ):
        with _view(store, f"distroless/{name}", ARM64).open(binary) as stream:
            head = stream.read(64)
        assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == EM_AARCH64


def test_names_and_configs(debian13: tuple[Store, list[BuiltBase]]) -> None:
    store, built = debian13
    assert len(built) == 20
    for base in built:
        for ref in base.refs:
            assert store.resolve(ref).digest == base.descriptor.digest
        assert {str(p) for p in store.platforms(base.refs[0])} == {"linux/amd64", "linux/arm64"}
    py = store.load_image(f"{PUBLISHED}/python3-debian13:debug-nonroot", AMD64).config.config
    assert py.entrypoint == ("/busybox/sh",)
    assert py.user == "65532" and py.working_dir == "/home/nonroot"
    assert "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/busybox" in py.env
    assert "LANG=C.UTF-8" in py.env
    latest = store.load_image(f"{PUBLISHED}/python3:latest", AMD64).config.config
    assert latest.entrypoint == ("/usr/bin/python3.13",)
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in latest.env


def test_layers_are_shared_between_bases(debian13: tuple[Store, list[BuiltBase]]) -> None:
    store, _ = debian13
    static = store.load_image("distroless/static:latest", AMD64).layers
    base = store.load_image("distroless/base:latest", AMD64).layers
    # the package layers of static are the first layers of base; the generated layer is shared
    assert base[: len(static) - 1] == static[:-1]
    assert base[-1] == static[-1]


@pytest.mark.bases_checked_elsewhere
def test_rebuild_into_fresh_store_gives_same_digests(
    debian13: tuple[Store, list[BuiltBase]], tmp_path: Path, package_cache: Path
) -> None:
    _, first = debian13
    again = _build(tmp_path / "again", package_cache, "debian13", ("amd64", "arm64"))
    assert [(b.refs, b.descriptor.digest) for b in again] == [
        (b.refs, b.descriptor.digest) for b in first
    ]


# --- Debian 12 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker12(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory, package_cache: Path
) -> Iterator[tuple[Store, DockerEngine]]:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    root = tmp_path_factory.mktemp("bases12")
    built = _build(root, package_cache, "debian12", ("amd64", "arm64"))
    assert sorted({b.name for b in built}) == ["base", "base-nossl", "cc", "python3", "static"]
    store = Store(root)
    archive = tmp_path_factory.mktemp("save12") / "bases.tar"
    with archive.open("wb") as out:
        save(store, [b.refs[0] for b in built], out, "docker", AMD64)
    docker_engine.load(archive)
    yield store, docker_engine


def test_debian12_bases_run(docker12: tuple[Store, DockerEngine], probes: dict[str, Path]) -> None:
    store, engine = docker12
    out = engine.run_image(
        "distroless/static-debian12:latest", "/etc/os-release", options=_mount(probes["go"])
    ).stdout
    assert out.startswith("ok uid=0 cwd=/\n") and 'VERSION_ID="12"' in out
    ssl = engine.run_image("distroless/base-debian12:latest", options=_mount(probes["ssl"]))
    assert ssl.stdout.startswith("OpenSSL 3.0.")
    cxx = engine.run_image("distroless/cc-debian12:nonroot", options=_mount(probes["cxx"]))
    assert cxx.stdout.strip() == "threads 14"
    py = engine.run_image("distroless/python3-debian12:latest", "-c", PY_PROBE).stdout
    assert json.loads(py)["ssl"].startswith("OpenSSL 3.0.")
    version = engine.run_image("distroless/python3-debian12:nonroot", "--version").stdout
    assert version.startswith("Python 3.11.")
    for name in ("static", "base-nossl", "base", "cc", "python3"):
        nonroot = engine.run_image(
            f"distroless/{name}-debian12:nonroot", options=_mount(probes["go"])
        )
        assert nonroot.stdout.strip() == "ok uid=65532 cwd=/home/nonroot"
        debug = engine.run_image(f"distroless/{name}-debian12:debug", "-c", "echo ok")
        assert debug.stdout == "ok\n"
        debug_nonroot = engine.run_image(
            f"distroless/{name}-debian12:debug-nonroot", "-c", "id -u; pwd"
        )
        assert debug_nonroot.stdout == "65532\n/home/nonroot\n"
        for tag in ("latest", "nonroot", "debug", "debug-nonroot"):
            view = _view(store, f"distroless/{name}-debian12:{tag}", AMD64)
            assert not any(view.exists(p) for p in FORBIDDEN), (name, tag)
            assert view.read_text("/etc/passwd") == USERS


# --- the command ----------------------------------------------------------------------------


def test_cli_build_single_arch_and_squash(cli: Cli, package_cache: Path) -> None:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    env = {"DISTROLESS_CACHE": str(package_cache)}
    out = cli.subprocess("bases", "build", "static:nonroot", "--arch", "amd64", "--json", env=env)
    built = out.check().json()
    assert isinstance(built, list) and [b["tag"] for b in built] == ["nonroot"]
    store = Store(cli.root)
    image = store.load_image("distroless/static:nonroot")
    assert image.descriptor.platform == AMD64 and len(image.layers) == 6
    rows = cli("bases", "list", "--json").check().json()
    assert isinstance(rows, list) and rows[0]["size"] is None  # only :nonroot was built
    squashed = cli.subprocess(
        "bases", "build", "static:latest", "--arch", "amd64", "--squash", env=env
    ).check()
    assert "distroless/static:latest" in squashed.stdout
    flat = store.load_image("distroless/static:latest")
    assert len(flat.layers) == 1
    assert _view(store, "distroless/static:latest", AMD64).read_text("/etc/group") == GROUPS
    rows = cli("bases", "list", "--json").check().json()
    assert (
        isinstance(rows, list)
        and rows[0]["size"] == sum(d.size for d in flat.layers) + flat.manifest.config.size
    )


def test_from_reference_builds_the_same_manifest(
    debian13: tuple[Store, list[BuiltBase]], tmp_path: Path, package_cache: Path
) -> None:
    store, _ = debian13
    base = parse_base_reference(f"{PUBLISHED}/base-nossl-debian13:nonroot")
    assert base is not None
    source = PackageSource(package_cache)
    try:
        built = build_reference(Store(tmp_path / "s"), base, source, archs=["amd64"])
    finally:
        source.close()
    assert (
        built.descriptor.digest == store.load_image("distroless/base-nossl:nonroot", AMD64).digest
    )


def test_cli_lock_writes_a_lock_the_build_accepts(
    cli: Cli, package_cache: Path, tmp_path: Path
) -> None:
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    env = {"DISTROLESS_CACHE": str(package_cache)}
    locks = tmp_path / "locks"
    out = cli.subprocess("bases", "lock", "--distro", "debian12", "--dir", locks, env=env)
    assert "debian12.lock.json" in out.check().stdout
    lock = read_lock(Recipes.builtin(), "debian12", locks)
    assert {p.name for p in lock.archs["arm64"]} >= {"libc6", "busybox-static", "gcc-12-base"}
    assert [p.name for p in locks.iterdir()] == ["debian12.lock.json"]
