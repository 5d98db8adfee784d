"""Hostile registries: credentials stay with their registry, bodies stay small, failures stop.

Each registry here is a local HTTP server on a free port (``HostileRegistry``), and each
attack has a decoy origin (``Origin``) that records every credential it is sent; the tests
assert that it was sent none.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from distroless.config import Login, UserConfig, save_login
from distroless.errors import AuthError, RegistryError
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
from distroless.transports.registry.sources import BlobSources
from tests.transports.registry.support import (
    BASIC,
    USER,
    Exchange,
    HostileRegistry,
    Origin,
    add_image,
    add_layer,
    blob_files,
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
        BlobSources(store.state_dir("registry")).record(registry.host, "base", [layer[0].digest])

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


def test_https_registry_naming_a_plain_http_realm_gets_no_credentials() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(200, json={"token": "t"})
        challenge = 'Bearer realm="http://auth.test/token",service="reg.test"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    recorder = _Recorder(handle)
    with _https_client(recorder) as c, pytest.raises(AuthError, match="plain-HTTP token"):
        c.request("GET", "/v2/app/manifests/v1", scopes=("repository:app:pull",))
    assert [r.url.host for r in recorder.requests] == ["reg.test"]


def test_https_to_plain_http_redirect_is_refused() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if request.headers.get("authorization") != BASIC:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
            return httpx.Response(302, headers={"Location": "http://reg.test/v2/app/blobs/x"})
        return httpx.Response(200, content=b"blob")

    recorder = _Recorder(handle)
    with _https_client(recorder) as c, pytest.raises(RegistryError, match="downgrade"):
        c.request("GET", "/v2/app/blobs/x").close()
    assert all(r.url.scheme == "https" for r in recorder.requests)
    assert recorder.secrets_sent_to("reg.test") == [BASIC]
