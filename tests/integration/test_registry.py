"""The registry transport against the real reference registry (docker-registry) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from distroless.errors import AuthError, IntegrityError, NotFoundError, RegistryError
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.models import Descriptor, Index, Manifest, Platform
from distroless.oci.reference import Reference
from distroless.registry_config import UserConfig, load_logins
from distroless.reporter import Task
from distroless.store import Store
from distroless.transports.registry import Registries, RetryPolicy, login, pull, push
from distroless.transports.registry.auth import Credentials
from tests.helpers import (
    HELLO_LINE,
    DockerEngine,
    Registry,
    RegistryFactory,
    skopeo,
    skopeo_inspect,
)
from tests.transports.registry.support import (
    Fault,
    Proxy,
    add_image,
    add_layer,
    add_multiarch,
    blob_files,
    start_proxy,
)

FAST = RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0)


def regs(creds: Credentials | None = None, config: UserConfig | None = None) -> Registries:
    return Registries(config, credentials=lambda _host: creds, retry=FAST)


@pytest.fixture
def proxy(registry: Registry) -> Iterator[Proxy]:
    p = start_proxy(registry.url)
    yield p
    p.stop()


def make_store(path: Path) -> Store:
    return Store(path)


def test_multiarch_index_round_trip_is_read_by_skopeo(registry: Registry, tmp_path: Path) -> None:
    src = make_store(tmp_path / "src")
    index_desc = add_multiarch(src, "multi:v1")
    ref = registry.ref("it/multi", "v1")
    with regs() as r:
        result = push(src, "multi:v1", ref, registries=r)
    assert result.descriptor.digest == index_desc.digest
    assert result.uploaded == 4  # two configs, two layers

    raw = skopeo_inspect(f"docker://{ref}", "--tls-verify=false", raw=True)
    assert isinstance(raw, dict)
    assert raw["mediaType"] == mt.OCI_INDEX
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]) for m in raw["manifests"]}
    assert platforms == {("linux", "amd64"), ("linux", "arm64")}

    dst = make_store(tmp_path / "dst")
    with regs() as r:
        pulled = pull(dst, ref, all_platforms=True, registries=r)
    assert pulled.descriptor.digest == index_desc.digest
    assert dst.resolve(pulled.name or "").digest == index_desc.digest
    assert blob_files(dst) == blob_files(src)
    assert dst.fsck() == []

    one = make_store(tmp_path / "one")
    with regs() as r:
        arm = pull(one, ref, platform=Platform.parse("linux/arm64"), registries=r)
    expected = Index.from_bytes(src.read_blob(index_desc.digest)).for_platform(
        Platform.parse("linux/arm64")
    )
    assert expected is not None
    assert arm.descriptor.digest == expected.digest
    assert one.load_image(arm.name or "", Platform.parse("linux/arm64")).config.architecture == (
        "arm64"
    )
    with regs() as r, pytest.raises(NotFoundError, match="s390x"):
        pull(make_store(tmp_path / "none"), ref, platform=Platform.parse("s390x"), registries=r)


def test_pull_by_digest_keeps_the_image_reachable(registry: Registry, tmp_path: Path) -> None:
    src = make_store(tmp_path / "src")
    desc = add_multiarch(src, "bydigest:v1")
    ref = registry.ref("it/bydigest", "v1")
    with regs() as r:
        push(src, "bydigest:v1", ref, registries=r)
    dst = make_store(tmp_path / "dst")
    by_digest = f"{registry.url}/it/bydigest@{desc.digest}"
    with regs() as r:
        result = pull(dst, by_digest, all_platforms=True, registries=r)
    assert result.name is None
    assert dst.resolve(desc.digest).digest == desc.digest
    dst.prune()
    assert dst.fsck() == []
    assert dst.has_blob(desc.digest)


def test_basic_auth(registry_factory: RegistryFactory, tmp_path: Path) -> None:
    reg = registry_factory(htpasswd=("alice", "s3cret"))
    src = make_store(tmp_path / "src")
    add_multiarch(src, "private:v1")
    ref = reg.ref("it/private", "v1")
    with regs(Credentials("alice", "s3cret")) as r:
        push(src, "private:v1", ref, registries=r)
    with regs(Credentials("alice", "wrong")) as r, pytest.raises(AuthError, match="alice"):
        pull(make_store(tmp_path / "a"), ref, registries=r)
    with regs(None) as r, pytest.raises(AuthError, match="distroless login"):
        pull(make_store(tmp_path / "b"), ref, registries=r)

    auth_file = tmp_path / "config" / "auth.json"
    with pytest.raises(AuthError):
        login(reg.url, "alice", "wrong", path=auth_file)
    assert not auth_file.exists()
    login(reg.url, "alice", "s3cret", path=auth_file)
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    assert load_logins(auth_file)[reg.url].password == "s3cret"


def test_bearer_tokens_scoped_cached_and_refreshed(registry: Registry, tmp_path: Path) -> None:
    proxy = start_proxy(registry.url)
    try:
        proxy.state.bearer_user = ("bob", "pw")
        src = make_store(tmp_path / "src")
        desc = add_multiarch(src, "tok:v1")
        ref = f"{proxy.host}/it/tok:v1"
        with regs(Credentials("bob", "pw")) as r:
            push(src, "tok:v1", ref, registries=r)
        scopes = {s for req in proxy.state.token_requests for s in req}
        assert "repository:it/tok:pull,push" in scopes
        # One token for the whole push: later requests reuse it.
        assert len(proxy.state.token_requests) == 1

        proxy.state.revoke_tokens()  # the next request answers 401: a fresh token is fetched
        with regs(Credentials("bob", "pw")) as r:
            pulled = pull(make_store(tmp_path / "dst"), ref, all_platforms=True, registries=r)
        assert pulled.descriptor.digest == desc.digest
        assert ["repository:it/tok:pull"] in proxy.state.token_requests

        with regs(Credentials("bob", "nope")) as r, pytest.raises(AuthError, match="bob"):
            pull(make_store(tmp_path / "x"), ref, registries=r)

        # login proves the credentials through the token endpoint before saving them.
        auth_file = tmp_path / "auth.json"
        with pytest.raises(AuthError, match="bob"):
            login(proxy.host, "bob", "nope", path=auth_file)
        assert not auth_file.exists()
        login(proxy.host, "bob", "pw", path=auth_file)
        assert load_logins(auth_file)[proxy.host].username == "bob"
    finally:
        proxy.stop()


def test_second_push_uploads_no_blob(proxy: Proxy, tmp_path: Path) -> None:
    src = make_store(tmp_path / "src")
    add_multiarch(src, "again:v1")
    ref = f"{proxy.host}/it/again:v1"
    with regs() as r:
        first = push(src, "again:v1", ref, registries=r)
    assert first.uploaded == 4
    before = len(proxy.state.log)
    with regs() as r:
        second = push(src, "again:v1", ref, registries=r)
    later = proxy.state.log[before:]
    assert (second.uploaded, second.skipped) == (0, 4)
    assert not [p for m, p in later if m in ("POST", "PATCH") or (m == "PUT" and "/blobs/" in p)]


def test_app_push_mounts_base_layers(registry: Registry, proxy: Proxy, tmp_path: Path) -> None:
    store = make_store(tmp_path / "s")
    base_layer = add_layer(store, {"base.txt": b"base " * 100})
    base = add_image(store, "amd64", [base_layer])
    store.tag("base:v1", base)
    app_layer = add_layer(store, {"app.txt": b"app"})
    app = add_image(store, "amd64", [base_layer, app_layer], entrypoint=("/app",))
    store.tag("app:v1", app)
    with regs() as r:
        push(store, "base:v1", f"{proxy.host}/it/base:v1", registries=r)
        result = push(store, "app:v1", f"{proxy.host}/it/app:v1", registries=r)
    assert result.mounted == 1
    assert result.uploaded == 2  # the app layer and the app config
    mounts = [p for m, p in proxy.state.log if m == "POST" and "mount=" in p]
    assert len(mounts) == 1
    assert "from=it%2Fbase" in mounts[0]
    manifest = Manifest.from_bytes(store.read_blob(app.digest))
    assert base_layer.descriptor.digest == manifest.layers[0].digest


def test_push_and_pull_survive_503_and_dropped_connections(proxy: Proxy, tmp_path: Path) -> None:
    src = make_store(tmp_path / "src")
    big = add_layer(src, {"big.bin": bytes(range(256)) * 4096})
    image = add_image(src, "amd64", [big])
    src.tag("flaky:v1", image)
    proxy.state.faults = [
        Fault("POST", "/blobs/uploads/", "503"),
        Fault("PUT", "/blobs/uploads/", "drop"),
        Fault("PUT", "/manifests/", "503"),
    ]
    ref = f"{proxy.host}/it/flaky:v1"
    with regs() as r:
        push(src, "flaky:v1", ref, registries=r)
    assert all(f.times == 0 for f in proxy.state.faults)

    proxy.state.faults = [
        Fault("GET", "/manifests/", "503"),
        Fault("GET", f"/blobs/{big.descriptor.digest}", "drop"),
        Fault("GET", "/blobs/", "503"),
    ]
    dst = make_store(tmp_path / "dst")
    with regs() as r:
        result = pull(dst, ref, registries=r)
    assert all(f.times == 0 for f in proxy.state.faults)
    resumed = [r for p, r in proxy.state.ranges if big.descriptor.digest in p]
    assert len(resumed) == 1
    assert resumed[0].startswith("bytes=") and resumed[0] != "bytes=0-"
    assert result.descriptor.digest == image.digest
    assert blob_files(dst) == blob_files(src)
    assert dst.fsck() == []


def test_flipped_byte_fails_pull_and_leaves_store_unchanged(proxy: Proxy, tmp_path: Path) -> None:
    src = make_store(tmp_path / "src")
    layer = add_layer(src, {"data.bin": b"x" * 50000})
    image = add_image(src, "amd64", [layer])
    src.tag("flip:v1", image)
    ref = f"{proxy.host}/it/flip:v1"
    with regs() as r:
        push(src, "flip:v1", ref, registries=r)
    dst = make_store(tmp_path / "dst")
    add_multiarch(dst, "existing:v1")
    blobs_before, refs_before = blob_files(dst), dst.refs()
    proxy.state.faults = [Fault("GET", f"/blobs/{layer.descriptor.digest}", "flip", times=100)]
    with regs() as r, pytest.raises(IntegrityError, match=layer.descriptor.digest):
        pull(dst, ref, registries=r, workers=1)
    assert blob_files(dst) == blobs_before
    assert dst.refs() == refs_before
    assert list(dst.tmp.iterdir()) == []


def _layered_image(store: Store, name: str, sizes: list[int]) -> tuple[Descriptor, list[Layer]]:
    """An image of incompressible layers of about ``sizes`` bytes each, tagged ``name``."""
    layers = [
        add_layer(store, {f"part{i}.bin": hashlib.shake_256(b"%d" % i).digest(size)})
        for i, size in enumerate(sizes)
    ]
    image = add_image(store, "amd64", layers)
    store.tag(name, image)
    return image, layers


class _SnapshotReporter:
    """Looks at the store each time a download finishes; opens the proxy's gate after ``n``."""

    def __init__(self, store: Store, proxy: Proxy, n: int) -> None:
        self.store, self.proxy, self.n = store, proxy, n
        self.seen: list[set[str]] = []
        self.lock = threading.Lock()

    def task(self, description: str, total: int | None = None) -> Task:
        reporter = self

        class _Watch:
            def advance(self, amount: int) -> None:
                pass

            def done(self) -> None:
                with reporter.lock:
                    reporter.seen.append(blob_files(reporter.store))
                    if len(reporter.seen) >= reporter.n:
                        reporter.proxy.state.gate.set()

        return _Watch()

    def event(self, kind: str, **data: object) -> None:
        pass


def test_one_failing_layer_of_a_parallel_pull_shows_nothing_and_changes_nothing(
    proxy: Proxy, tmp_path: Path
) -> None:
    """Four layers fetched at once; the registry fails one of them after the others are in.

    None of the finished blobs may be visible before the pull is over (they would be, and
    be removed again, if each were published on its own), and afterwards the store is as
    it was: same blobs, same tags, no temp files.
    """
    src = make_store(tmp_path / "src")
    _, layers = _layered_image(src, "wide:v1", [200_000, 150_000, 100_000, 50_000])
    ref = f"{proxy.host}/it/wide:v1"
    with regs() as r:
        push(src, "wide:v1", ref, registries=r)
    dst = make_store(tmp_path / "dst")
    add_multiarch(dst, "existing:v1")
    blobs_before, refs_before = blob_files(dst), dst.refs()
    index_before = (dst.root / "index.json").read_bytes()
    failing = layers[1].descriptor.digest
    proxy.state.faults = [Fault("GET", f"/blobs/{failing}", "gate", times=100)]
    # the config and the three other layers finish first, then the gated one fails
    reporter = _SnapshotReporter(dst, proxy, n=4)
    with regs() as r, pytest.raises(RegistryError, match=failing) as caught:
        pull(dst, ref, registries=r, reporter=reporter, workers=4)
    assert "\n" not in str(caught.value)
    assert len(reporter.seen) == 4
    assert all(seen == blobs_before for seen in reporter.seen)
    assert blob_files(dst) == blobs_before
    assert dst.refs() == refs_before
    assert (dst.root / "index.json").read_bytes() == index_before
    assert list(dst.tmp.iterdir()) == []
    assert dst.fsck() == []


def test_cli_pull_failing_one_parallel_layer_is_one_line(proxy: Proxy, tmp_path: Path) -> None:
    from tests.helpers import run_cli

    src = make_store(tmp_path / "src")
    _, layers = _layered_image(src, "wide:v2", [120_000, 90_000, 60_000])
    ref = f"{proxy.host}/it/wide:v2"
    with regs() as r:
        push(src, "wide:v2", ref, registries=r)
    dst_root = tmp_path / "dst"
    add_multiarch(make_store(dst_root), "existing:v1")
    before = blob_files(make_store(dst_root))
    proxy.state.faults = [Fault("GET", f"/blobs/{layers[2].descriptor.digest}", "flip", times=100)]
    result = run_cli("pull", ref, root=dst_root)
    assert result.exit_code == IntegrityError.exit_code
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert layers[2].descriptor.digest in result.stderr
    assert "Traceback" not in result.stderr
    dst = make_store(dst_root)
    assert blob_files(dst) == before
    assert list(dst.tmp.iterdir()) == []
    assert dst.fsck() == []


def test_pushed_image_is_the_stored_one_byte_for_byte(proxy: Proxy, tmp_path: Path) -> None:
    """skopeo sees the same manifest, config and layers in the registry as in the store,
    and every blob went up in a single PUT (no chunks, no recompression)."""
    src = make_store(tmp_path / "src")
    image, layers = _layered_image(src, "same:v1", [300_000, 40_000, 5_000])
    local = skopeo_inspect(f"oci:{src.root}:same:v1")
    local_raw = skopeo("inspect", "--raw", f"oci:{src.root}:same:v1").stdout
    local_config = skopeo("inspect", "--config", "--raw", f"oci:{src.root}:same:v1").stdout
    ref = f"{proxy.host}/it/same:v1"
    with regs() as r:
        result = push(src, "same:v1", ref, registries=r)
    assert result.descriptor.digest == image.digest
    assert result.uploaded == len(layers) + 1  # the layers and the config
    assert proxy.state.count("PATCH", "/blobs/uploads/") == 0
    assert proxy.state.count("PUT", "/blobs/uploads/") == len(layers) + 1
    remote = skopeo_inspect(f"docker://{ref}", "--tls-verify=false")
    remote_raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{ref}").stdout
    remote_config = skopeo(
        "inspect", "--config", "--raw", "--tls-verify=false", f"docker://{ref}"
    ).stdout
    assert remote_raw == local_raw == src.read_blob(image.digest).decode()
    assert remote_config == local_config
    assert isinstance(local, dict) and isinstance(remote, dict)
    # everything but where the image is named from
    where = ("Name", "RepoTags")
    assert {k: v for k, v in remote.items() if k not in where} == {
        k: v for k, v in local.items() if k not in where
    }
    assert remote["Digest"] == image.digest
    assert remote["Layers"] == [layer.descriptor.digest for layer in layers]


def test_mirror_first_then_origin(
    registry: Registry, registry_factory: RegistryFactory, tmp_path: Path
) -> None:
    src = make_store(tmp_path / "src")
    add_multiarch(src, "mirrored:v1")
    origin_ref = registry.ref("it/mirrored", "v1")
    mirror = registry_factory()
    with regs() as r:
        push(src, "mirrored:v1", origin_ref, registries=r)
    config = UserConfig.from_dict({"registry": {registry.url: {"mirrors": [mirror.url]}}})
    # The mirror lacks the image: the origin serves it.
    with regs(config=config) as r:
        result = pull(make_store(tmp_path / "a"), origin_ref, registries=r)
    assert result.endpoint == registry.url
    # Once the mirror has it, it is asked first and the origin is not needed.
    with regs() as r:
        push(src, "mirrored:v1", mirror.ref("it/mirrored", "v1"), registries=r)
    with regs(config=config) as r:
        result = pull(make_store(tmp_path / "b"), origin_ref, registries=r)
    assert result.endpoint == mirror.url


def test_cli_push_pull_login_logout(
    registry_factory: RegistryFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import run_cli

    reg = registry_factory(htpasswd=("carol", "pw1"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    src_root = tmp_path / "src"
    src = make_store(src_root)
    desc = add_multiarch(src, "clip:v1")
    ref = reg.ref("it/clip", "v1")

    denied = run_cli("push", "clip:v1", ref, root=src_root)
    assert denied.exit_code == AuthError.exit_code
    assert "distroless login" in denied.stderr

    bad = run_cli("login", "-u", "carol", "--password-stdin", reg.url, root=None, input="no\n")
    assert bad.exit_code == AuthError.exit_code
    run_cli("login", "-u", "carol", "--password-stdin", reg.url, root=None, input="pw1\n").check()

    pushed = run_cli("push", "clip:v1", ref, "--json", root=src_root).check().json()
    assert isinstance(pushed, dict)
    assert pushed["digest"] == desc.digest
    dst_root = tmp_path / "dst"
    pulled = run_cli("pull", ref, "--all-platforms", "--json", root=dst_root).check().json()
    assert isinstance(pulled, dict)
    assert pulled["digest"] == desc.digest
    assert Store(dst_root).resolve(ref).digest == desc.digest

    run_cli("logout", reg.url, root=None).check()
    again = run_cli("pull", ref, root=tmp_path / "other")
    assert again.exit_code == AuthError.exit_code


def test_docker_engine_pulls_and_runs_what_we_push(
    registry: Registry, docker_engine: DockerEngine, hello_go_binary: Path, tmp_path: Path
) -> None:
    store = make_store(tmp_path / "s")
    layer = add_layer(store, {"hello": hello_go_binary.read_bytes()}, mode=0o755)
    image = add_image(store, "amd64", [layer], entrypoint=("/hello",))
    store.tag("hello:v1", image)
    ref = registry.ref("it/hello", "v1")
    with regs() as r:
        push(store, "hello:v1", ref, registries=r)
    docker_engine.run("pull", ref)
    out = docker_engine.run("run", "--rm", "--network", "none", ref).stdout
    assert HELLO_LINE in out
    inspected = json.loads(docker_engine.run("image", "inspect", ref).stdout)
    # docker lists every repository holding the same image (other tests push it too)
    assert f"{Reference.parse(ref).name}@{image.digest}" in inspected[0]["RepoDigests"]


def test_large_blobs_go_up_in_chunks(proxy: Proxy, tmp_path: Path) -> None:
    src = make_store(tmp_path / "src")
    payload = hashlib.shake_256(b"incompressible").digest(300_000)
    layer = add_layer(src, {"big.bin": payload}, mode=0o644)
    image = add_image(src, "amd64", [layer])
    src.tag("chunky:v1", image)
    ref = f"{proxy.host}/it/chunky:v1"
    chunk = 64 * 1024
    assert layer.descriptor.size > chunk
    with regs() as r:
        push(src, "chunky:v1", ref, registries=r, chunk_size=chunk)
    patches = proxy.state.count("PATCH", "/blobs/uploads/")
    assert patches == -(-layer.descriptor.size // chunk)
    dst = make_store(tmp_path / "dst")
    with regs() as r:
        pull(dst, ref, registries=r)
    assert dst.read_blob(layer.descriptor.digest) == src.read_blob(layer.descriptor.digest)


def test_cli_mirror_flag_and_config(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import run_cli

    src = make_store(tmp_path / "src")
    desc = add_multiarch(src, "viamirror:v1")
    with regs() as r:
        push(src, "viamirror:v1", registry.ref("it/viamirror", "v1"), registries=r)
    # The origin's name does not resolve: only the mirror can serve the pull.
    origin_ref = "origin.invalid/it/viamirror:v1"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    flagged = run_cli(
        "pull", "--all-platforms", "--registry-mirror", registry.url, "--json", origin_ref,
        root=tmp_path / "a",
    ).check().json()  # fmt: skip
    assert isinstance(flagged, dict)
    assert (flagged["endpoint"], flagged["digest"]) == (registry.url, desc.digest)
    assert Store(tmp_path / "a").resolve(origin_ref).digest == desc.digest

    config = tmp_path / "xdg" / "distroless" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[registry."origin.invalid"]\nmirrors = ["{registry.url}"]\n')
    configured = run_cli("pull", "--all-platforms", "--json", origin_ref, root=tmp_path / "b")
    result = configured.check().json()
    assert isinstance(result, dict)
    assert result["endpoint"] == registry.url

    config.write_text('[registry."origin.invalid"]\nmirror = "typo"\n')
    bad = run_cli("pull", origin_ref, root=tmp_path / "c")
    assert bad.exit_code == 3
    assert "mirror" in bad.stderr


@contextlib.contextmanager
def tls_registry(root: Path) -> Iterator[tuple[str, Path]]:
    """docker-registry serving HTTPS on 127.0.0.1 with a fresh self-signed certificate."""
    from tests.helpers import free_port, require_tool, run, wait_until

    registry_bin = require_tool("docker-registry", "/usr/bin/docker-registry")
    openssl = require_tool("openssl")
    root.mkdir(parents=True)
    cert, key = root / "cert.pem", root / "key.pem"
    run([
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", key, "-out", cert,
    ])  # fmt: skip
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        json.dumps(
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": True}},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
                "http": {
                    "addr": f"127.0.0.1:{port}",
                    "tls": {"certificate": str(cert), "key": str(key)},
                },
            }
        )
    )
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen([registry_bin, "serve", config], stdout=log, stderr=subprocess.STDOUT)
    trusted = ssl.create_default_context(cafile=str(cert))

    def answers() -> bool:
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=2) as sock,
                trusted.wrap_socket(sock, server_hostname="127.0.0.1"),
            ):
                return True
        except OSError:
            return False

    try:
        wait_until(
            answers,
            timeout=30,
            what="the TLS registry",
            abort=lambda: None if proc.poll() is None else "registry exited",
        )
        yield f"127.0.0.1:{port}", cert
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def test_https_registry_is_verified_against_the_system_trust_store(tmp_path: Path) -> None:
    from tests.helpers import run_cli_subprocess

    with tls_registry(tmp_path / "tls") as (host, cert):
        src_root = tmp_path / "src"
        add_multiarch(make_store(src_root), "secure:v1")
        # An explicit https:// mirror URL is the way to speak TLS to a loopback address.
        xdg = tmp_path / "xdg"
        (xdg / "distroless").mkdir(parents=True)
        (xdg / "distroless" / "config.toml").write_text(
            f'[registry."origin.invalid"]\nmirrors = ["https://{host}"]\n'
        )
        env = {"XDG_CONFIG_HOME": str(xdg), "DOCKER_CONFIG": str(tmp_path / "docker")}
        untrusted = run_cli_subprocess(
            "pull", "origin.invalid/it/secure:v1", root=tmp_path / "a", env=env
        )
        assert untrusted.exit_code == RegistryError.exit_code
        assert "certificate" in untrusted.stderr.lower()
        assert "cannot resolve the name of registry origin.invalid" in untrusted.stderr

        skopeo(
            "copy", "--all", "--dest-tls-verify=false",
            f"oci:{src_root}:secure:v1", f"docker://{host}/it/secure:v1",
        )  # fmt: skip
        # Trusting the CA through the system store's variable makes the same pull work.
        trusted = run_cli_subprocess(
            "pull", "--all-platforms", "--json", "origin.invalid/it/secure:v1",
            root=tmp_path / "b", env={**env, "SSL_CERT_FILE": str(cert)},
        )  # fmt: skip
        assert trusted.ok, trusted.stderr
        assert json.loads(trusted.stdout)["endpoint"] == host


def test_loopback_registry_redirecting_to_https_is_verified_by_the_system_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain-HTTP registry on this machine builds its TLS only when it redirects to
    HTTPS; that TLS still trusts exactly the system store."""
    from distroless.transports.registry.client import Endpoint, RegistryClient, system_trust
    from tests.transports.registry.support import Exchange, Origin

    with tls_registry(tmp_path / "tls") as (host, cert):

        def redirect(ex: Exchange) -> None:
            ex.reply(307, headers={"Location": f"https://{host}{ex.path}"})

        origin = Origin(redirect)
        try:
            monkeypatch.delenv("SSL_CERT_FILE", raising=False)
            system_trust.cache_clear()
            with (
                RegistryClient(Endpoint.for_host(origin.host), retry=FAST) as client,
                pytest.raises(RegistryError, match="TLS connection"),
            ):
                client.request("GET", "/v2/").close()
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            system_trust.cache_clear()
            with RegistryClient(Endpoint.for_host(origin.host), retry=FAST) as client:
                resp = client.request("GET", "/v2/")
                resp.close()
            assert resp.status_code == 200
            assert str(resp.url).startswith(f"https://{host}/")
        finally:
            system_trust.cache_clear()
            origin.stop()
