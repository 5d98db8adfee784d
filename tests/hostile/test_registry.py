"""Hostile registries: credentials stay with their registry, bodies stay small, failures stop.

Each registry here is a local HTTP server on a free port (``HostileRegistry``), and each
attack has a decoy origin (``Origin``) that records every credential it is sent; the tests
assert that it was sent none.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import subprocess
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from distroless.errors import (
    ArchiveError,
    AuthError,
    IntegrityError,
    NotFoundError,
    RegistryError,
)
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Descriptor, Manifest, Platform
from distroless.registry_config import Login, UserConfig, save_login
from distroless.store import Store
from distroless.transports.registry import (
    Credentials,
    Endpoint,
    Registries,
    RegistryClient,
    RetryPolicy,
    pull,
    push,
)
from distroless.transports.registry.auth import CredentialLookup, default_lookup
from distroless.transports.registry.mount_hints import BlobSources
from tests.helpers.cli import run_cli
from tests.transports.registry.support import (
    BASIC,
    USER,
    Exchange,
    HostileRegistry,
    Origin,
    add_image,
    add_layer,
    blob_files,
    layer_bytes,
    write_docker_config,
)

Server = Origin | HostileRegistry
StartOrigin = Callable[[Callable[[Exchange], None]], Origin]


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def registry(servers: list[Server]) -> HostileRegistry:
    reg = HostileRegistry()
    servers.append(reg)
    return reg


@pytest.fixture
def origin(servers: list[Server]) -> StartOrigin:
    def start(handler: Callable[[Exchange], None]) -> Origin:
        started = Origin(handler)
        servers.append(started)
        return started

    return start


def only_for(reg: HostileRegistry) -> CredentialLookup:
    """Credentials for ``reg`` alone, as a login would hold them."""
    creds = Credentials(*USER)
    return lambda host: creds if host == reg.host else None


def registries(
    credentials: CredentialLookup, config: UserConfig | None = None, timeout: float = 60.0
) -> Registries:
    return Registries(
        config,
        credentials=credentials,
        retry=RetryPolicy(attempts=2, base_delay=0, max_delay=0),
        timeout=timeout,
    )


def demand_own_token(ex: Exchange) -> None:
    """What an attacker's origin answers: authenticate, with a realm I name myself."""
    if ex.path.startswith("/token"):
        ex.reply(200, b'{"token":"evil"}', {"Content-Type": "application/json"})
        return
    realm = f"http://{ex.origin.host}/token"
    ex.reply(401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil"'})


def redirect_blob_to(reg: HostileRegistry, target: Origin) -> None:
    """The registry answers its layer's GET (once authorised) with a redirect to ``target``."""
    layer = reg.layer

    def route(ex: Exchange) -> None:
        if reg.authorised(ex):
            ex.reply(307, headers={"Location": f"{target.url}/storage/{layer.digest}"})

    reg.routes[f"/v2/app/blobs/{layer.digest}"] = route


def unchanged(store: Store) -> None:
    assert blob_files(store) == set()
    assert store.refs() == []


def _helper(tmp_path: Path, reg: HostileRegistry, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker-credential-decoy`` that knows ``reg`` and logs every server asked about."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "helper.log"
    script = bin_dir / "docker-credential-decoy"
    answer = json.dumps({"Username": USER[0], "Secret": USER[1]})
    script.write_text(
        "#!/bin/sh\n"
        "read server\n"
        f'echo "$server" >> {log}\n'
        f'[ "$server" = "{reg.host}" ] || exit 1\n'
        f"echo '{answer}'\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def lookup_from(
    source: str, tmp_path: Path, reg: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> CredentialLookup:
    """The real credential search, with ``reg``'s login held in ``source``."""
    logins, docker = tmp_path / "auth.json", tmp_path / "docker" / "config.json"
    if source == "login-file":
        save_login(reg.host, Login(*USER), logins)
    elif source == "docker-config":
        write_docker_config(docker, {reg.host: USER})
    else:
        _helper(tmp_path, reg, monkeypatch)
        docker.parent.mkdir()
        docker.write_text(json.dumps({"credHelpers": {reg.host: "decoy"}}))
    return default_lookup(logins, docker)


# --- credentials cross hosts ---------------------------------------------------------------


@pytest.mark.parametrize("source", ["login-file", "docker-config", "credential-helper"])
def test_redirect_target_challenge_gets_no_credentials(
    tmp_path: Path,
    registry: HostileRegistry,
    origin: StartOrigin,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blob redirect to an origin that answers 401 with a Bearer realm of its own."""
    evil = origin(demand_own_token)
    redirect_blob_to(registry, evil)
    store = Store(tmp_path / "store")
    lookup = lookup_from(source, tmp_path, registry, monkeypatch)
    with registries(lookup) as regs, pytest.raises(AuthError, match="redirected .* demands"):
        pull(store, registry.ref(), registries=regs)
    assert evil.paths(), "the redirect was never followed"
    assert evil.secrets() == []
    assert registry.tokens, "the registry's own challenge was not answered"
    unchanged(store)
    if source == "credential-helper":
        assert set((tmp_path / "helper.log").read_text().split()) == {registry.host}


def test_ping_redirect_target_challenge_gets_no_credentials(
    tmp_path: Path, registry: HostileRegistry, origin: StartOrigin
) -> None:
    """``GET /v2/`` itself redirected to an origin that names its own realm."""
    evil = origin(demand_own_token)
    registry.routes["/v2/"] = lambda ex: ex.reply(302, headers={"Location": f"{evil.url}/v2/"})
    store = Store(tmp_path / "store")
    with registries(only_for(registry)) as regs, pytest.raises(AuthError, match="redirected"):
        pull(store, registry.ref(), registries=regs)
    assert evil.paths() == ["/v2/"]
    assert evil.secrets() == []
    unchanged(store)


def test_token_service_redirect_is_not_followed(
    tmp_path: Path, registry: HostileRegistry, origin: StartOrigin
) -> None:
    """The registry's own token realm answering with a redirect elsewhere."""
    evil = origin(demand_own_token)
    registry.routes["/token"] = lambda ex: ex.reply(307, headers={"Location": f"{evil.url}/token"})
    store = Store(tmp_path / "store")
    with registries(only_for(registry)) as regs, pytest.raises(AuthError, match="redirect"):
        pull(store, registry.ref(), registries=regs)
    assert evil.seen == []
    unchanged(store)


@pytest.mark.parametrize("via", ["upload", "mount"])
def test_upload_location_on_another_origin_gets_no_credentials(
    tmp_path: Path, registry: HostileRegistry, origin: StartOrigin, via: str
) -> None:
    """Upload sessions (plain or after a cross-repository mount) placed on another origin."""
    evil = origin(lambda ex: ex.reply(201 if ex.method == "PUT" else 202))
    store = Store(tmp_path / "store")
    layer = add_layer(store, {"a.txt": b"a"})
    image = add_image(store, "amd64", [layer])
    store.tag("app:v1", image)
    if via == "mount":
        BlobSources(store.state_dir("registry")).record(
            registry.host, "base", [layer.descriptor.digest]
        )

    def start_upload(ex: Exchange) -> None:
        if registry.authorised(ex):
            ex.reply(202, headers={"Location": f"{evil.url}/upload/elsewhere"})

    registry.routes["/v2/app/blobs/uploads/"] = start_upload
    with registries(only_for(registry)) as regs:
        push(store, "app:v1", registry.ref(), registries=regs)
    assert [p for p in evil.paths() if p.startswith("/upload/elsewhere")]
    assert evil.secrets() == []
    posts = [s.path for s in registry.origin.seen if s.method == "POST"]
    assert any("mount=" in p for p in posts) == (via == "mount")


def test_registry_cookies_do_not_reach_a_redirect_target(
    tmp_path: Path, registry: HostileRegistry, origin: StartOrigin
) -> None:
    """Cookies are not scoped by port: the registry's session cookie would follow a
    redirect to any other server on its host."""
    layer = registry.layer
    storage = origin(lambda ex: ex.reply(200, registry.blobs[layer.digest]))
    registry.extra_headers["Set-Cookie"] = "session=registry-secret; Path=/"
    redirect_blob_to(registry, storage)
    store = Store(tmp_path / "store")
    with registries(only_for(registry)) as regs:
        pull(store, registry.ref(), registries=regs)
    assert store.has_blob(layer.digest)
    assert storage.secrets() == []
    assert all("cookie" not in s.headers for s in registry.origin.seen)


def test_mirror_is_not_sent_the_registrys_credentials(
    tmp_path: Path, registry: HostileRegistry, origin: StartOrigin
) -> None:
    """A mirror (or a reference naming a registry's mirror) answers with its own realm."""
    mirror = origin(demand_own_token)
    config = UserConfig.from_dict({"registry": {registry.host: {"mirrors": [mirror.host]}}})
    store = Store(tmp_path / "store")
    with registries(only_for(registry), config) as regs:
        result = pull(store, registry.ref(), registries=regs)
    assert result.endpoint == registry.host
    assert mirror.paths(), "the mirror was not tried"
    # The mirror's own anonymous token is all it may see.
    assert set(mirror.secrets()) == {"authorization: Bearer evil"}


class _Recorder:
    """An in-memory HTTPS registry for the downgrade cases (the local servers speak HTTP)."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def secrets_sent_to(self, host: str) -> list[str]:
        return [
            r.headers["authorization"]
            for r in self.requests
            if r.url.host == host and "authorization" in r.headers
        ]


def _https_client(recorder: _Recorder) -> RegistryClient:
    return RegistryClient(
        Endpoint("reg.test", "https://reg.test"),
        credentials=lambda host: Credentials(*USER) if host == "reg.test" else None,
        retry=RetryPolicy(attempts=1),
        transport=httpx.MockTransport(recorder),
        sleep=lambda _s: None,
    )


@pytest.mark.parametrize(
    ("realm", "reason"),
    [
        ("http://auth.test/token", "plain-HTTP"),
        ("https://127.0.0.1:1/token", "an address of this machine"),
    ],
)
def test_remote_registry_realm_may_not_downgrade_or_point_at_loopback(
    realm: str, reason: str
) -> None:
    """An HTTPS registry naming a plain-HTTP token service (credentials in clear text), or
    a local service of this machine (credentials to whatever listens there)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host != "reg.test":
            return httpx.Response(200, json={"token": "t"})
        challenge = f'Bearer realm="{realm}",service="reg.test"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    recorder = _Recorder(handle)
    with _https_client(recorder) as c, pytest.raises(AuthError, match=reason):
        c.request("GET", "/v2/app/manifests/v1", scopes=("repository:app:pull",))
    assert {r.url.host for r in recorder.requests} == {"reg.test"}


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://reg.test/v2/app/blobs/x", "refusing to leave HTTPS"),
        ("http://storage.test/x", "refusing to leave HTTPS"),
        ("http://127.0.0.1:2375/containers/json", "an address of this machine"),
        ("file:///etc/shadow", "not an http"),
    ],
)
def test_remote_registry_redirect_may_not_downgrade_or_point_at_loopback(
    target: str, reason: str
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "reg.test" and request.url.scheme == "https":
            if request.headers.get("authorization") != BASIC:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, content=b"blob")

    recorder = _Recorder(handle)
    with _https_client(recorder) as c, pytest.raises(RegistryError, match=reason):
        c.request("GET", "/v2/app/blobs/x").close()
    assert all(r.url.scheme == "https" and r.url.host == "reg.test" for r in recorder.requests)
    assert recorder.secrets_sent_to("reg.test") == [BASIC]


# --- bodies read whole into memory ---------------------------------------------------------

LINUX = Platform("linux", "amd64")
LIMIT = 32 << 20  # what one pull may hold in memory here; the bodies below are far larger
BIG = 256 << 20  # large enough to show reading it whole, small enough for the old code


@functools.cache
def gzip_bomb(expanded: int) -> bytes:
    """``expanded`` zero bytes, gzip-compressed (about a thousandth of the size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    mib = bytes(1 << 20)
    return b"".join([*(packer.compress(mib) for _ in range(expanded >> 20)), packer.flush()])


class Peak:
    """The most memory Python held while the block ran (every thread's allocations)."""

    def __enter__(self) -> Peak:
        tracemalloc.start()
        self.bytes = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


class Counted:
    """A route that records how many body bytes ``answer`` got out before the client left."""

    def __init__(self, answer: Callable[[Exchange], int]) -> None:
        self._answer = answer
        self._sent: list[int] = []
        self._done = threading.Event()

    def __call__(self, ex: Exchange) -> None:
        try:
            self._sent.append(self._answer(ex))
        finally:
            self._done.set()

    def sent(self) -> int:
        assert self._done.wait(30), "the server never finished its answer"
        return self._sent[0]


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert len(text) < 1000
    return text


def failed_pull(
    reg: HostileRegistry, store: Store, error: type[Exception], **kwargs: object
) -> tuple[str, int]:
    """Pull from ``reg``, which must fail with ``error``: (its message, the peak memory)."""
    with Peak() as peak, registries(only_for(reg)) as regs, pytest.raises(error) as exc:
        pull(store, reg.ref(), registries=regs, **kwargs)  # type: ignore[arg-type]
    return one_line(exc), peak.bytes


def test_huge_error_body_is_not_read(tmp_path: Path, registry: HostileRegistry) -> None:
    registry.auth = False
    route = Counted(lambda ex: ex.stream_zeros(BIG, status=404))
    registry.routes["/v2/app/manifests/v1"] = route
    store = Store(tmp_path / "store")
    message, peak = failed_pull(registry, store, NotFoundError)
    assert route.sent() < LIMIT
    assert peak < LIMIT
    assert "HTTP 404" in message
    unchanged(store)


def test_gzip_bomb_error_body_is_not_expanded(tmp_path: Path, registry: HostileRegistry) -> None:
    registry.auth = False
    bomb = gzip_bomb(BIG)
    registry.routes["/v2/app/manifests/v1"] = lambda ex: ex.reply(
        404, bomb, {"Content-Encoding": "gzip"}
    )
    store = Store(tmp_path / "store")
    message, peak = failed_pull(registry, store, NotFoundError)
    assert peak < LIMIT
    assert "HTTP 404" in message
    unchanged(store)


def test_registry_error_text_is_one_printable_line(
    tmp_path: Path, registry: HostileRegistry
) -> None:
    registry.auth = False
    message = "line one\r\n\x1b[2J\x1b]0;owned\x07" + "A" * 5000
    body = json.dumps({"errors": [{"code": "DENIED\n", "message": message}]}).encode()
    registry.routes["/v2/app/manifests/v1"] = lambda ex: ex.reply(403, body)
    with registries(only_for(registry)) as regs, pytest.raises(AuthError) as exc:
        pull(Store(tmp_path / "store"), registry.ref(), registries=regs)
    assert "DENIED" in one_line(exc)


def test_endless_token_response_is_cut_off(tmp_path: Path, registry: HostileRegistry) -> None:
    route = Counted(lambda ex: ex.stream_zeros(BIG, headers={"Content-Type": "application/json"}))
    registry.routes["/token"] = route
    store = Store(tmp_path / "store")
    message, peak = failed_pull(registry, store, AuthError)
    assert route.sent() < LIMIT
    assert peak < LIMIT
    assert "more than" in message
    unchanged(store)


@pytest.mark.parametrize("where", ["tag", "child"])
def test_content_encoded_manifest_may_not_expand_past_its_limit(
    tmp_path: Path, registry: HostileRegistry, where: str
) -> None:
    """By tag (no descriptor: the 4 MiB ceiling) and as an index's child (its size)."""
    registry.auth = False
    bomb = gzip_bomb(BIG)
    image = registry.image
    error: type[Exception]
    if where == "child":
        registry.set_index([Descriptor(image.media_type, image.digest, image.size, platform=LINUX)])
        path, error = f"/v2/app/manifests/{image.digest}", IntegrityError
    else:
        path, error = "/v2/app/manifests/v1", RegistryError
    registry.routes[path] = lambda ex: ex.reply(
        200, bomb, {"Content-Encoding": "gzip", "Content-Type": image.media_type}
    )
    store = Store(tmp_path / "store")
    message, peak = failed_pull(registry, store, error, platform=LINUX)
    assert peak < LIMIT
    assert "larger than" in message
    unchanged(store)


def test_content_encoded_blob_may_not_expand_past_its_descriptor(
    tmp_path: Path, registry: HostileRegistry
) -> None:
    registry.auth = False
    bomb = gzip_bomb(BIG)
    registry.routes[f"/v2/app/blobs/{registry.layer.digest}"] = lambda ex: ex.reply(
        200, bomb, {"Content-Encoding": "gzip"}
    )
    store = Store(tmp_path / "store")
    message, peak = failed_pull(registry, store, IntegrityError)
    assert peak < LIMIT
    assert "expands beyond" in message
    unchanged(store)


def test_endless_blob_stream_is_cut_at_its_descriptor(
    tmp_path: Path, registry: HostileRegistry
) -> None:
    registry.auth = False
    route = Counted(lambda ex: ex.stream_zeros(None))
    registry.routes[f"/v2/app/blobs/{registry.layer.digest}"] = route
    store = Store(tmp_path / "store")
    message, peak = failed_pull(registry, store, IntegrityError)
    assert route.sent() < LIMIT
    assert peak < LIMIT
    assert "more than" in message
    unchanged(store)


def test_index_of_huge_manifests_is_refused_before_fetching_them(
    tmp_path: Path, registry: HostileRegistry
) -> None:
    """Each child may be 4 MiB; thousands of them must not all be held at once."""
    registry.auth = False
    children = [
        Descriptor(mt.OCI_MANIFEST, sha256_bytes(b"%d" % i), 4 << 20, platform=LINUX)
        for i in range(64)
    ]
    registry.set_index(children)
    store = Store(tmp_path / "store")
    with registries(only_for(registry)) as regs, pytest.raises(RegistryError, match="add up"):
        pull(store, registry.ref(), all_platforms=True, registries=regs)
    assert [p for p in registry.origin.paths() if "/manifests/sha256:" in p] == []
    unchanged(store)


def test_a_stored_blob_is_not_taken_for_a_descriptor_of_another_size(
    tmp_path: Path, registry: HostileRegistry
) -> None:
    """The registry names a blob we already have with a wrong size: refused, not skipped."""
    registry.auth = False
    store = Store(tmp_path / "store")
    data, tar = layer_bytes({"hello.txt": b"mine"})
    store.put_bytes(data)
    wrong = Descriptor(mt.OCI_LAYER_GZIP, sha256_bytes(data), len(data) + 1)
    registry.set_layers([(wrong, sha256_bytes(tar))])
    before = blob_files(store)
    message, _ = failed_pull(registry, store, IntegrityError)
    assert f"says {len(data) + 1} bytes" in message
    assert blob_files(store) == before
    assert store.refs() == []


def test_an_oversized_config_is_refused_before_it_is_fetched(
    tmp_path: Path, registry: HostileRegistry
) -> None:
    registry.auth = False
    manifest = Manifest.from_bytes(registry.manifests[registry.image.digest][1])
    huge = Descriptor(mt.OCI_CONFIG, sha256_bytes(b"huge"), 200 << 20)
    data = Manifest(config=huge, layers=manifest.layers).to_bytes()
    registry.manifests["v1"] = (mt.OCI_MANIFEST, data)
    store = Store(tmp_path / "store")
    with registries(only_for(registry)) as regs, pytest.raises(ArchiveError, match="more than"):
        pull(store, registry.ref(), registries=regs)
    assert [p for p in registry.origin.paths() if "/blobs/" in p] == []
    unchanged(store)


# --- a failed pull stops its other downloads -----------------------------------------------


def test_failed_layer_stops_the_other_downloads(tmp_path: Path, registry: HostileRegistry) -> None:
    """One layer fails while another is half-way through a download from a server that
    would keep the connection open forever: the pull fails at once, the download is not
    resumed, and its connection is shut down."""
    registry.auth = False
    slow = registry.add_blob(os.urandom(1 << 20), mt.OCI_LAYER_GZIP)
    bad = registry.add_blob(b"this layer is gone", mt.OCI_LAYER_GZIP)
    registry.set_layers([(slow, slow.digest), (bad, bad.digest)])
    streaming, closed = threading.Event(), threading.Event()

    def slow_route(ex: Exchange) -> None:
        ex.begin(200, {"Content-Length": str(slow.size)})
        ex.write(registry.blobs[slow.digest][: slow.size // 2])
        streaming.set()
        ex.wait_for_disconnect()
        closed.set()

    def bad_route(ex: Exchange) -> None:
        assert streaming.wait(30)
        ex.reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"gone"}]}')

    registry.routes[f"/v2/app/blobs/{slow.digest}"] = slow_route
    registry.routes[f"/v2/app/blobs/{bad.digest}"] = bad_route
    store = Store(tmp_path / "store")
    # The read timeout only ends the wait of a pull that does not stop its downloads.
    with (
        registries(only_for(registry), timeout=5.0) as regs,
        pytest.raises(NotFoundError, match="BLOB_UNKNOWN"),
    ):
        pull(store, registry.ref(), registries=regs, workers=4)
    assert closed.wait(30)
    assert registry.origin.paths().count(f"/v2/app/blobs/{slow.digest}") == 1
    unchanged(store)


# --- push from a store that cannot be written ----------------------------------------------


@pytest.fixture(params=["used", "fresh"])
def read_only_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Path, Path]]:
    """(a store with image ``app:v1``, the same store seen read-only).

    A "used" store has had a writer (its gc lock file exists), a "fresh" one has not. As
    root (whom file modes do not stop) the view is a read-only bind mount; otherwise the
    store's files and directories lose their write bits.
    """
    source = tmp_path / "store"
    store = Store(source)
    image = add_image(store, "amd64", [add_layer(store, {"a.txt": b"a"})])
    store.tag("app:v1", image)
    if request.param == "used":
        with store.session():
            pass
        BlobSources(store.state_dir("registry")).record("elsewhere.test", "app", [image.digest])
    if os.geteuid() != 0:
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        yield source, source
        for path in [source, *source.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        return
    view = tmp_path / "read-only"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(source), str(view)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield source, view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def test_push_from_a_read_only_store(
    tmp_path: Path, registry: HostileRegistry, read_only_store: tuple[Path, Path]
) -> None:
    source, view = read_only_store
    registry.auth = False
    before = _tree(source)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "DOCKER_CONFIG": str(tmp_path / "docker")}
    result = run_cli("push", "app:v1", registry.ref(), "--json", root=view, env=env).check()
    pushed = json.loads(result.stdout)
    assert registry.manifests["v1"][1] == Store(source).read_blob(pushed["digest"])
    assert _tree(source) == before
