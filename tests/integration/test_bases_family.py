"""The rest of the base family against the real archive, runc and a Docker engine: java21
and nodejs20 at run time, java17/java25/nodejs18 built and started, the
extra architectures' ELF machines, the builder images with a Java and a vendored Go build,
``[aliases]``, and digests that repeat in a fresh store.

Expensive run-time checks use amd64 only; the other architectures get the cheap checks
(ELF machine of every file, the policy check) and a cross-compiled Go program run on
``static`` under QEMU user emulation.

The family is built once for the module, with only the tags a claim needs: every java21
tag (``check`` passes every Java tag), ``latest`` elsewhere.  Each image is read into one
:class:`FileSystemView` that the ELF scan, ``check`` and the file reads share, and the
ELF scan takes every file's first bytes with one pass per layer.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import shutil
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from distroless.bases.build import BuiltBase, build_bases
from distroless.bases.builders import build_builder
from distroless.bases.java_truststore import java_truststore
from distroless.bases.locks import read_lock
from distroless.bases.recipe import TAGS, Recipes
from distroless.debian.provider import PackageSource
from distroless.debian.sources import read_apt_sources
from distroless.elf.machine import LOADERS
from distroless.oci.models import Platform
from distroless.store import Store
from distroless.transports.tarball import save
from distroless.verify.check import check_image
from distroless.verify.fsview import FileSystemView
from distroless.verify.heads import read_heads
from distroless.verify.image import ImageHandle, from_store
from tests.helpers import Cli, DockerEngine, go_build, require_root, require_tool
from tests.helpers.cli import distroless_executable
from tests.helpers.images import copy_images
from tests.helpers.qemu import qemu_registered

#: the module's first test also builds its fixture: about 1 GB of layers to compress
pytestmark = [pytest.mark.integration, pytest.mark.network, pytest.mark.timeout(2400)]

AMD64 = Platform("linux", "amd64")
HERE = Path(__file__).parent / "family"
REPO = Path(__file__).resolve().parents[2]
#: what the archive serves .debs for besides amd64 and arm64 (armel, ppc64el and s390x:
#: the mirror answers 404, so those images cannot be built here)
EXTRA_ARCHS = ("armhf", "i386", "riscv64")
GOARCH = {"armhf": "arm", "i386": "386", "riscv64": "riscv64"}
#: QEMU's binfmt rule per architecture; i386 programs run natively on an amd64 kernel
QEMU = {"armhf": "arm", "riscv64": "riscv64"}
JDK = "distroless/builder-jdk:21-debian13"
GO = "distroless/builder-go:1.24-debian13"

NODE_SERVER = """
const http = require("http");
const server = http.createServer((req, res) => {
  res.end("hello from node " + process.version + " " + req.url);
  server.close();
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
"""

GO_LINE = """package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("hello from %s, %d bytes of os-release\\n", runtime.GOARCH, len(data))
}
"""


Group = tuple[str, list[tuple[str, tuple[str, ...]]], tuple[str, ...]]
LATEST = ("latest",)
#: (distro, [(base, tags)], archs) built by the fixture: every java21 tag, one of the others
GROUPS: list[Group] = [
    ("debian13", [("java21", TAGS), ("nodejs20", LATEST)], ("amd64",)),
    ("debian13", [(n, LATEST) for n in ("static", "base", "cc")], ("amd64", *EXTRA_ARCHS)),
    ("debian12", [("nodejs18", LATEST)], ("amd64",)),
    ("debian13", [("java25", LATEST)], ("amd64",)),
    ("debian12", [("java17", LATEST)], ("amd64",)),
]
#: built again into a fresh store: java21 and nodejs20, and every extra architecture (amd64's
#: static, base and cc are rebuilt by tests/integration/test_bases.py)
AGAIN: list[Group] = [
    ("debian13", [("java21", LATEST), ("nodejs20", LATEST)], ("amd64",)),
    ("debian13", GROUPS[1][1], EXTRA_ARCHS),
]


def _build_family(root: Path, cache: Path, groups: list[Group], builders: bool) -> list[BuiltBase]:
    """``groups`` (and, with ``builders``, the JDK builder) into the store at ``root``."""
    recipes = Recipes.builtin()
    store = Store(root)
    source = PackageSource(cache)
    built: list[BuiltBase] = []
    try:
        for distro, requests, archs in groups:
            built += build_bases(
                store,
                source,
                [recipes.get(n, distro) for n, _ in requests],
                requests,
                read_lock(recipes, distro),
                archs=archs,
            )
        if builders:
            built.append(build_builder(store, "builder-jdk", source, archs=("amd64",)))
    finally:
        source.close()
    return built


@pytest.fixture(scope="module")
def family(
    tmp_path_factory: pytest.TempPathFactory, package_cache: Path, go_builder_root: Path
) -> tuple[Path, list[BuiltBase]]:
    """The family, the JDK builder, and the session's Go builder (built once for every
    module that needs it)."""
    if not read_apt_sources(Path("/")):
        pytest.skip("this host has no apt sources naming a Debian archive")
    root = tmp_path_factory.mktemp("family")
    built = _build_family(root, package_cache, GROUPS, builders=True)
    copy_images(go_builder_root, Store(root), (GO,))
    return root, built


@pytest.fixture(scope="module")
def store(family: tuple[Path, list[BuiltBase]]) -> Store:
    return Store(family[0])


@pytest.fixture(scope="module")
def fcli(family: tuple[Path, list[BuiltBase]]) -> Cli:
    return Cli(family[0])


@pytest.fixture(scope="module")
def docker(
    store: Store, docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> DockerEngine:
    # what docker runs itself; java-app, on java21, is saved and loaded by its fixture
    refs = [
        "distroless/nodejs20:latest",
        "distroless/java25:latest",
        "distroless/java17-debian12:latest",
        "distroless/nodejs18-debian12:latest",
        JDK,
    ]
    archive = tmp_path_factory.mktemp("family-save") / "family.tar"
    with archive.open("wb") as out:
        save(store, refs, out, "docker", AMD64)
    assert set(docker_engine.load(archive)) >= set(refs)
    return docker_engine


Viewed = tuple[ImageHandle, FileSystemView]


@pytest.fixture(scope="module")
def views() -> dict[tuple[str, str], Viewed]:
    """(ref, platform) -> the image and its view, each read once for the module's tests."""
    return {}


def _view(
    store: Store, views: dict[tuple[str, str], Viewed], ref: str, platform: Platform = AMD64
) -> Viewed:
    key = (ref, str(platform))
    if key not in views:
        image = from_store(store, ref, platform)
        views[key] = (image, FileSystemView.from_image(image))
    return views[key]


# --- java21 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    """An HTTPS server on 127.0.0.1 whose certificate a new CA signed: (url, CA PEM)."""
    work = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "family test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = work / "server.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + leaf.public_bytes(serialization.Encoding.PEM)
    )

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello over tls"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield (
            f"https://127.0.0.1:{server.server_address[1]}/",
            ca.public_bytes(serialization.Encoding.PEM),
        )
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def java_app(
    store: Store,
    views: dict[tuple[str, str], Viewed],
    fcli: Cli,
    docker: DockerEngine,
    tls: tuple[str, bytes],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """java21 plus a jar compiled by the JDK builder and a trust store that adds the test's
    CA to the image's bundle, both through spec ``files:`` items; returns its name."""
    work = tmp_path_factory.mktemp("java-app")
    shutil.copy(HERE / "Probe.java", work / "Probe.java")
    docker.run_image(
        JDK,
        "-c",
        "javac -d /w/classes /w/Probe.java && jar --create --file /w/app.jar "
        "--main-class Probe -C /w/classes .",
        options=("-v", f"{work}:/w", "--entrypoint", "/bin/sh"),
    )
    view = _view(store, views, "distroless/java21:latest")[1]
    bundle = view.read_bytes("/etc/ssl/certs/ca-certificates.crt")
    (work / "cacerts").write_bytes(java_truststore(bundle + tls[1], source="test bundle"))
    (work / "image.yaml").write_text(
        "base: distroless/java21:nonroot\n"
        "archs: [amd64]\n"
        "files:\n"
        "  - {dst: /app/app.jar, src: app.jar}\n"
        "  - {dst: /etc/ssl/certs/java/cacerts, src: cacerts}\n"
        'cmd: ["/app/app.jar"]\n'
    )
    fcli.subprocess("build", "--spec", work / "image.yaml", "-t", "java-app:1").check()
    archive = work / "app.tar"
    fcli.subprocess("save", "java-app:1", "-o", archive).check()
    docker.load(archive)
    return "java-app:1"


def test_java21_trusts_the_bundle_in_run_and_docker(
    docker: DockerEngine, java_app: str, fcli: Cli
) -> None:
    ours = fcli.subprocess("run", "--rm", "--network", "none", java_app).check().stdout
    theirs = docker.run_image(java_app).stdout
    assert ours == theirs
    assert int(ours.split()[1]) > 100


def test_java21_https_to_a_ca_added_by_files(
    docker: DockerEngine, java_app: str, fcli: Cli, tls: tuple[str, bytes]
) -> None:
    url = tls[0]
    args = ("/app/app.jar", url)
    ours = fcli.subprocess("run", "--rm", "--network", "host", java_app, *args).check().stdout
    assert ours.splitlines()[1] == "status 200 hello over tls"
    theirs = docker.run_image(java_app, *args, network="host").stdout
    assert theirs.splitlines()[1] == "status 200 hello over tls"


def test_java_tags_pass_check_and_are_laid_out_like_the_published(
    store: Store, views: dict[tuple[str, str], Viewed]
) -> None:
    for tag in TAGS:
        image, view = _view(store, views, f"distroless/java21:{tag}")
        assert check_image(image, view).findings == (), tag
        assert view.exists("/etc/ssl/certs/java/cacerts")
        assert not view.exists("/usr/bin/su") and not view.exists("/etc/pam.d")
    config = store.load_image("distroless/java21:latest", AMD64).config.config
    assert config.entrypoint == ("/usr/bin/java", "-jar")
    assert "LANG=C.UTF-8" in config.env
    assert any(e.startswith("JAVA_VERSION=21.") for e in config.env)


def test_java17_java25_start(docker: DockerEngine) -> None:
    for ref, version in (
        ("distroless/java25:latest", "25"),
        ("distroless/java17-debian12:latest", "17."),
    ):
        out = docker.run_image(ref, "-version", options=("--entrypoint", "/usr/bin/java"))
        assert f'version "{version}' in out.stderr, ref


# --- nodejs ---------------------------------------------------------------------------------


def test_nodejs20_serves_http_on_the_host_network(fcli: Cli, tmp_path: Path, store: Store) -> None:
    (tmp_path / "server.js").write_text(NODE_SERVER)
    (tmp_path / "image.yaml").write_text(
        "base: distroless/nodejs20:latest\narchs: [amd64]\n"
        'files:\n  - {dst: /app/server.js, src: server.js}\ncmd: ["/app/server.js"]\n'
    )
    fcli.subprocess("build", "--spec", tmp_path / "image.yaml", "-t", "node-app:1").check()
    argv = [str(distroless_executable()), "--root", str(fcli.root)]
    argv += ["run", "--rm", "--network", "host", "node-app:1"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=60) as resp:
            body = resp.read().decode()
        assert proc.wait(timeout=60) == 0
    assert body.startswith("hello from node v20.") and body.endswith(" /ping")


def test_nodejs_crypto_and_check(
    docker: DockerEngine, store: Store, views: dict[tuple[str, str], Viewed]
) -> None:
    script = (
        'const c = require("crypto").getCiphers(); console.log(c.includes("aes-256-gcm"), c.length)'
    )
    for ref in ("distroless/nodejs20:latest", "distroless/nodejs18-debian12:latest"):
        ok, count = docker.run_image(ref, "-e", script).stdout.split()
        assert ok == "true" and int(count) > 50, ref
    for ref in ("distroless/nodejs20:latest", "distroless/nodejs18-debian12:latest"):
        image, view = _view(store, views, ref)
        assert check_image(image, view).findings == (), ref
    config = store.load_image("distroless/nodejs20:latest", AMD64).config.config
    assert config.entrypoint == ("/usr/bin/node",)


# --- architectures --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", EXTRA_ARCHS)
def test_extra_arch_elf_machines_platform_and_check(
    store: Store, views: dict[tuple[str, str], Viewed], arch: str
) -> None:
    platform = Platform.of_debian(arch)
    machine = LOADERS[arch].machine
    for name in ("static", "base", "cc"):
        ref = f"distroless/{name}:latest"
        assert str(platform) in {str(p) for p in store.platforms(ref)}
        image, view = _view(store, views, ref, platform)
        # every regular file's first bytes, each layer streamed once
        files = [n.path for n in view.nodes() if n.is_file]
        heads = read_heads(view, files, size=20)
        assert len(heads) == len(files), ref
        elves = {path: head for path, head in heads.items() if head[:4] == b"\x7fELF"}
        for path, head in elves.items():
            assert len(head) == 20 and int.from_bytes(head[18:20], "little") == machine, (
                ref,
                path,
            )
        assert name == "static" or len(elves) > 3, ref  # static holds no ELF file at all
        assert check_image(image, view).findings == (), (ref, arch)


def test_arm_platform_fields(store: Store) -> None:
    index = store.platforms("distroless/static:latest")
    assert {str(p) for p in index} >= {"linux/arm/v7", "linux/386", "linux/riscv64"}


@pytest.fixture(scope="module")
def emulation() -> Iterator[None]:
    """QEMU's binfmt_misc rules for the extra architectures, registered for this module."""
    with qemu_registered(tuple(QEMU.values())):
        yield


@pytest.mark.parametrize("arch", EXTRA_ARCHS)
@pytest.mark.usefixtures("emulation")
def test_static_go_program_runs_under_emulation(
    store: Store, docker_engine: DockerEngine, arch: str, tmp_path: Path
) -> None:
    platform = Platform.of_debian(arch)
    archive = tmp_path / "static.tar"
    with archive.open("wb") as stream:
        save(store, ["distroless/static:latest"], stream, "docker", platform)
    docker_engine.load(archive)
    binary = go_build(GO_LINE, tmp_path / "line", goarch=GOARCH[arch])
    out = docker_engine.run_image(
        "distroless/static:latest",
        options=("--platform", str(platform), "-v", f"{binary}:/line:ro", "--entrypoint", "/line"),
    ).stdout
    assert out.startswith(f"hello from {GOARCH[arch]}, ")


# --- builders and aliases -------------------------------------------------------------------


@pytest.mark.unsafe_images
def test_vendored_go_example_with_builder_and_alias(
    fcli: Cli, tmp_path: Path, package_cache: Path
) -> None:
    require_root()
    require_tool("runc")
    env = {"DISTROLESS_CACHE": str(package_cache), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    app = tmp_path / "app"
    shutil.copytree(REPO / "examples" / "go-vendored", app)
    built = fcli.subprocess("build", "--platform", "linux/amd64", "-t", "vendored:1", app, env=env)
    built.check()
    out = fcli.subprocess("run", "--rm", "vendored:1").check().stdout
    assert out.strip() != ""
    dockerfile = app / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(GO, "golang:1.22"))
    # no alias: golang:1.22 is not a builder, it is a registry image that is not here
    refused = fcli.subprocess(
        "build", "--platform", "linux/amd64", "-t", "vendored:2", app, env=env
    )
    assert refused.exit_code != 0 and "golang:1.22" in refused.stderr
    config = tmp_path / "cfg" / "distroless" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[aliases]\n"golang:1.22" = "{GO}"\n')
    aliased = fcli.subprocess(
        "build", "--platform", "linux/amd64", "-t", "vendored:2", app, env=env
    )
    aliased.check()
    assert f"golang:1.22 is an alias of {GO}" in aliased.stderr + aliased.stdout
    assert fcli.subprocess("run", "--rm", "vendored:2").check().stdout == out


# --- reproducible ---------------------------------------------------------------------------


@pytest.mark.bases_checked_elsewhere
def test_family_rebuilds_to_the_same_digests(
    family: tuple[Path, list[BuiltBase]], tmp_path: Path, package_cache: Path
) -> None:
    again = _build_family(tmp_path / "again", package_cache, AGAIN, builders=False)
    assert len(again) == 2 + 3
    first, fresh = Store(family[0]), Store(tmp_path / "again")

    def manifests(store: Store, ref: str) -> dict[str, str]:
        return {str(p): from_store(store, ref, p).digest for p in store.platforms(ref)}

    for built in again:
        ref = built.refs[0]
        rebuilt = manifests(fresh, ref)
        assert rebuilt.items() <= manifests(first, ref).items(), ref
        assert len(rebuilt) == (1 if built.name.startswith(("java", "node")) else 3), ref


# --- structure tests in schema 1.0.0 ---------------------------------------------------------


@pytest.mark.parametrize("name", ["java21", "nodejs20"])
def test_schema_1_structure_files_pass(fcli: Cli, name: str) -> None:
    require_root()
    require_tool("runc")
    config = HERE / f"{name}-schema1.yaml"
    result = fcli.subprocess("test", f"distroless/{name}:latest", "--config", config)
    assert result.exit_code == 0, result.stdout + result.stderr
