"""The registry HTTP client against scripted in-memory servers (httpx.MockTransport)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest

from distroless.errors import AuthError, NotFoundError, RegistryError
from distroless.transports.registry.auth import Credentials
from distroless.transports.registry.client import (
    Endpoint,
    RegistryClient,
    RetryPolicy,
    is_local_host,
    registry_error,
    repo_scope,
)

Handler = Callable[[httpx.Request], httpx.Response]
REALM = "https://auth.test/token"


@dataclass
class Server:
    """Records requests and answers them with ``handler``."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)

    def paths(self, host: str | None = None) -> list[str]:
        return [r.url.path for r in self.requests if host is None or r.url.host == host]


def client(
    server: Server,
    creds: Credentials | None = None,
    attempts: int = 3,
    sleeps: list[float] | None = None,
) -> RegistryClient:
    record = sleeps if sleeps is not None else []
    return RegistryClient(
        Endpoint("reg.test", "https://reg.test"),
        credentials=lambda _h: creds,
        retry=RetryPolicy(attempts=attempts, base_delay=0.25, max_delay=1.0),
        transport=httpx.MockTransport(server),
        sleep=record.append,
    )


def bearer_registry(valid: set[str], issued: list[str]) -> Handler:
    """A registry whose token server issues tok-N and accepts only tokens in ``valid``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            token = f"tok-{len(issued) + 1}"
            issued.append(token)
            valid.add(token)
            return httpx.Response(200, json={"token": token, "expires_in": 300})
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ") in valid:
            return httpx.Response(200, content=b"ok")
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}",service="reg.test"'},
        )

    return handle


def test_anonymous_registry_gets_no_authorization() -> None:
    server = Server(lambda r: httpx.Response(200))
    with client(server) as c:
        assert c.ping() is None
        c.request("GET", "/v2/a/tags/list").close()
    assert all("authorization" not in r.headers for r in server.requests)


def test_bearer_token_per_scope_is_cached() -> None:
    issued: list[str] = []
    server = Server(bearer_registry(set(), issued))
    with client(server, Credentials("u", "p")) as c:
        for _ in range(3):
            c.request("GET", "/v2/a/manifests/x", scopes=(repo_scope("a", "pull"),)).close()
        c.request("GET", "/v2/b/manifests/x", scopes=(repo_scope("b", "pull"),)).close()
    token_requests = [r for r in server.requests if r.url.host == "auth.test"]
    assert [r.url.params.get_list("scope") for r in token_requests] == [
        ["repository:a:pull"],
        ["repository:b:pull"],
    ]
    assert token_requests[0].url.params["service"] == "reg.test"
    basic = "Basic " + base64.b64encode(b"u:p").decode()
    assert token_requests[0].headers["authorization"] == basic
    # The registry itself never sees the password.
    assert all(
        r.headers.get("authorization", "").startswith("Bearer ")
        for r in server.requests
        if r.url.host == "reg.test" and r.url.path != "/v2/"
    )


def test_token_refreshed_once_on_401() -> None:
    issued: list[str] = []
    valid: set[str] = set()
    server = Server(bearer_registry(valid, issued))
    with client(server) as c:
        c.request("GET", "/v2/a/blobs/x", scopes=("repository:a:pull",)).close()
        valid.clear()  # tokens expire server-side
        resp = c.request("GET", "/v2/a/blobs/x", scopes=("repository:a:pull",))
        assert resp.status_code == 200
    assert issued == ["tok-1", "tok-2"]


def test_token_endpoint_rejecting_credentials_is_an_auth_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(401)
        return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})

    with (
        client(Server(handle), Credentials("eve", "x")) as c,
        pytest.raises(AuthError, match="eve"),
    ):
        c.request("GET", "/v2/a/manifests/x", scopes=("repository:a:pull",))


def test_basic_auth_and_wrong_password() -> None:
    good = "Basic " + base64.b64encode(b"u:right").decode()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") == good:
            return httpx.Response(200)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    with client(Server(handle), Credentials("u", "right")) as c:
        assert c.request("GET", "/v2/a/tags/list").status_code == 200
    with (
        client(Server(handle), Credentials("u", "wrong")) as c,
        pytest.raises(AuthError, match="'u'"),
    ):
        c.request("GET", "/v2/a/tags/list")
    with client(Server(handle), None) as c, pytest.raises(AuthError, match="distroless login"):
        c.request("GET", "/v2/a/tags/list")


def test_redirect_to_other_host_drops_authorization() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.test":
            return httpx.Response(200, content=b"blob")
        if request.url.path == "/v2/":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if request.url.path == "/v2/a/blobs/one":
            return httpx.Response(307, headers={"Location": "https://storage.test/data?sig=1"})
        if request.url.path == "/v2/a/blobs/two":
            return httpx.Response(302, headers={"Location": "../blobs/moved"})
        return httpx.Response(200, content=b"same host")

    server = Server(handle)
    with client(server, Credentials("u", "p")) as c:
        assert c.request("GET", "/v2/a/blobs/one").read() == b"blob"
        assert c.request("GET", "/v2/a/blobs/two").read() == b"same host"
    storage = [r for r in server.requests if r.url.host == "storage.test"]
    assert len(storage) == 1
    assert "authorization" not in storage[0].headers
    assert storage[0].url.params["sig"] == "1"
    moved = [r for r in server.requests if r.url.path == "/v2/a/blobs/moved"]
    assert len(moved) == 1
    assert moved[0].headers["authorization"].startswith("Basic ")


def test_absolute_url_on_another_origin_gets_no_credentials() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "reg.test":
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(202)

    server = Server(handle)
    with client(server, Credentials("u", "p")) as c:
        c.request("PATCH", "https://upload.test/session/1", body=b"x").close()
    upload = [r for r in server.requests if r.url.host == "upload.test"]
    assert "authorization" not in upload[0].headers


def test_retries_5xx_and_connection_errors_with_backoff() -> None:
    answers: list[int | Exception] = [503, httpx.ConnectError("reset"), 200]

    def handle(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)

    sleeps: list[float] = []
    with client(Server(handle), sleeps=sleeps) as c:
        c._pinged = True  # skip the ping so the script applies to one request
        assert c.request("GET", "/v2/a/tags/list").status_code == 200
    assert sleeps == [0.25, 0.5]


def test_retries_are_bounded_and_body_is_resent() -> None:
    bodies: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        raise httpx.ReadTimeout("slow")

    with client(Server(handle), attempts=3) as c:
        c._pinged = True
        with pytest.raises(RegistryError, match="3 attempt"):
            c.request("PUT", "/v2/a/manifests/t", body=lambda: iter([b"ab", b"cd"]))
    assert bodies == [b"abcd"] * 3


def test_retry_after_is_honoured_within_bounds() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(200)]
    sleeps: list[float] = []
    with client(Server(lambda r: answers.pop(0)), sleeps=sleeps) as c:
        c._pinged = True
        c.request("GET", "/v2/").close()
    assert sleeps == [1.0]


def test_error_bodies_become_typed_errors() -> None:
    body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "no such tag"}]})
    resp = httpx.Response(404, content=body.encode())
    err = registry_error(resp, "fetching x")
    assert isinstance(err, NotFoundError)
    assert "MANIFEST_UNKNOWN no such tag" in str(err)
    assert isinstance(registry_error(httpx.Response(403), "x"), AuthError)
    assert type(registry_error(httpx.Response(400), "x")) is RegistryError


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("[::1]:5000", True),
        ("reg.test:5000", False),
        ("10.0.0.1", False),
    ],
)
def test_local_hosts_use_plain_http(host: str, local: bool) -> None:
    assert is_local_host(host) is local
    assert Endpoint.for_host(host).base_url.startswith("http://" if local else "https://")


def test_insecure_and_explicit_scheme_endpoints() -> None:
    assert Endpoint.for_host("reg.test", insecure=True).base_url == "http://reg.test"
    assert Endpoint.parse("https://m.test:8443/") == Endpoint("m.test:8443", "https://m.test:8443")
    assert Endpoint.parse("m.test").base_url == "https://m.test"
    with pytest.raises(RegistryError):
        Endpoint.parse("ftp://m.test")


def test_identity_token_is_exchanged_with_a_refresh_grant() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return httpx.Response(200, json={"access_token": "from-refresh"})
        if request.headers.get("authorization") == "Bearer from-refresh":
            return httpx.Response(200)
        return httpx.Response(
            401, headers={"WWW-Authenticate": f'Bearer realm="{REALM}",service="reg.test"'}
        )

    server = Server(handle)
    with client(server, Credentials(identity_token="refresh-123")) as c:
        assert c.request("GET", "/v2/a/tags/list", scopes=("repository:a:pull",)).status_code == 200
    [token_request] = [r for r in server.requests if r.url.host == "auth.test"]
    assert token_request.method == "POST"
    form = dict(x.split("=", 1) for x in token_request.content.decode().split("&"))
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "refresh-123"
    assert form["service"] == "reg.test"
    assert "authorization" not in token_request.headers
