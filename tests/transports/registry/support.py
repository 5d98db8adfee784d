"""Test support for the registry transport: tiny images in a store, and a scriptable proxy.

The proxy sits in front of a real registry and can count requests, answer 503, drop a
connection half-way through a body, flip a byte of a blob, or demand Bearer tokens that it
issues itself (the registry's own token auth would need certificates).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import (
    ContainerConfig,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    Platform,
)
from distroless.store import Store
from tests.helpers.images import put_image
from tests.helpers.rawtar import Member, tar_of

# --- images ------------------------------------------------------------------------------


def layer_bytes(files: dict[str, bytes], mode: int = 0o644) -> tuple[bytes, bytes]:
    """(gzip blob, uncompressed tar) of a layer holding ``files``; small test data only."""
    tar_bytes = tar_of([Member(name, data=data, mode=mode) for name, data in sorted(files.items())])
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


def add_layer(store: Store, files: dict[str, bytes], mode: int = 0o644) -> Layer:
    blob, tar_bytes = layer_bytes(files, mode)
    digest = store.put_bytes(blob)
    return Layer(Descriptor(mt.OCI_LAYER_GZIP, digest, len(blob)), sha256_bytes(tar_bytes))


def add_image(
    store: Store,
    arch: str,
    layers: list[Layer],
    entrypoint: tuple[str, ...] = ("/hello",),
) -> Descriptor:
    """A single-platform OCI image made of ``layers``; returns its manifest descriptor."""
    return put_image(
        store,
        layers,
        config=ContainerConfig(entrypoint=entrypoint, env=("PATH=/",)),
        platform=Platform("linux", arch),
        created="1970-01-01T00:00:00Z",
    )


def add_multiarch(store: Store, name: str, marker: bytes = b"hello") -> Descriptor:
    """An index with an amd64 and an arm64 image (one layer each), tagged ``name``."""
    children = []
    for arch in ("amd64", "arm64"):
        layer = add_layer(store, {f"{arch}.txt": marker + arch.encode()})
        children.append(add_image(store, arch, [layer]))
    desc = store.put_index(Index(tuple(children)))
    store.tag(name, desc)
    return desc


def blob_files(store: Store) -> set[str]:
    return {p.name for p in store.blobs.iterdir()}


# --- proxy ---------------------------------------------------------------------------------

_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass
class Fault:
    """Do ``action`` to the next ``times`` requests whose method and path match.

    Actions: ``"503"`` answer 503; ``"drop"`` cut the connection half-way through the
    request body (uploads) or response body (downloads); ``"flip"`` flip one byte of the
    response body; ``"gate"`` answer 503 once the state's ``gate`` is set (so a test can
    order this failure after other work).
    """

    method: str
    path_contains: str
    action: str
    times: int = 1


@dataclass
class ProxyState:
    upstream: str  # host:port
    log: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    ranges: list[tuple[str, str]] = field(default_factory=list)  # (path, Range header)
    bearer_user: tuple[str, str] | None = None  # demand tokens issued for these credentials
    tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> granted scopes
    token_requests: list[list[str]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, method: str, path: str) -> str | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.path_contains in path:
                    fault.times -= 1
                    return fault.action
        return None

    def count(self, method: str, contains: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.log if m == method and contains in p)

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()


def _repo_and_action(method: str, path: str) -> tuple[str, str] | None:
    parts = urlsplit(path).path.split("/")
    if len(parts) < 3 or parts[1] != "v2" or parts[2] == "":
        return None
    for i, word in enumerate(parts):
        if word in ("blobs", "manifests", "tags") and i > 2:
            repo = "/".join(parts[2:i])
            return repo, "pull" if method in ("GET", "HEAD") else "push"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response_only(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body_chunks(self) -> Iterator[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _token(self) -> None:
        state = self.server.state
        query = parse_qs(urlsplit(self.path).query)
        scopes = query.get("scope", [])
        state.token_requests.append(scopes)
        expected = state.bearer_user
        header = self.headers.get("Authorization", "")
        if expected is not None:
            good = "Basic " + base64.b64encode(f"{expected[0]}:{expected[1]}".encode()).decode()
            if header != good:
                self._reply(401, b'{"details":"bad credentials"}')
                return
        token = secrets.token_hex(8)
        granted: set[str] = set()
        for scope in scopes:
            for item in scope.split(" "):
                _, repo, actions = item.split(":", 2)
                granted.update(f"{repo}:{a}" for a in actions.split(","))
        with state.lock:
            state.tokens[token] = granted
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self._reply(200, body, {"Content-Type": "application/json"})

    def _authorised(self) -> bool:
        state = self.server.state
        if state.bearer_user is None:
            return True
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        with state.lock:
            granted = state.tokens.get(token)
        need = _repo_and_action(self.command, self.path)
        if granted is not None and (need is None or f"{need[0]}:{need[1]}" in granted):
            return True
        scope = f'scope="repository:{need[0]}:pull,push",' if need else ""
        realm = f"http://{self.headers.get('Host')}/token"
        for _ in self._body_chunks():
            pass
        challenge = f'Bearer realm="{realm}",service="test-registry",{scope}'.rstrip(",")
        self._reply(
            401,
            b'{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}',
            {
                "WWW-Authenticate": challenge,
                "Content-Type": "application/json",
            },
        )
        return False

    def _handle(self) -> None:
        state = self.server.state
        with state.lock:
            state.log.append((self.command, self.path))
            state.auth_headers.append(self.headers.get("Authorization"))
            if self.headers.get("Range"):
                state.ranges.append((self.path, self.headers["Range"]))
        if self.path.startswith("/token"):
            self._token()
            return
        if not self._authorised():
            return
        action = state.take_fault(self.command, self.path)
        if action == "gate":
            state.gate.wait(timeout=120)
            action = "503"
        if action == "503":
            for _ in self._body_chunks():
                pass
            self._reply(503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
            return
        has_body = bool(int(self.headers.get("Content-Length") or 0)) or (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        )
        if action == "drop" and has_body:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(max(1, length // 2))
            self._drop()
            return
        conn = http.client.HTTPConnection(state.upstream, timeout=60)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            for key, value in self.headers.items():
                if key.lower() in _HOP or (key.lower() == "authorization" and state.bearer_user):
                    continue
                conn.putheader(key, value)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in self._body_chunks():
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            if chunked:
                conn.send(b"0\r\n\r\n")
            resp = conn.getresponse()
            self.send_response_only(resp.status, resp.reason)
            declared = resp.getheader("Content-Length")
            for key, value in resp.getheaders():
                if key.lower() in _HOP:
                    continue
                self.send_header(key, value)
            body_expected = self.command != "HEAD" and resp.status not in (204, 304)
            if declared is None and body_expected:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.end_headers()
            if not body_expected:
                return
            total = int(declared or 0)
            sent = 0
            flipped = False
            while chunk := resp.read(1 << 16):
                if action == "flip" and not flipped:
                    chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    flipped = True
                if action == "drop" and sent + len(chunk) >= total // 2:
                    self.wfile.write(chunk[: max(1, total // 2 - sent)])
                    self.wfile.flush()
                    self._drop()
                    return
                self.wfile.write(chunk)
                sent += len(chunk)
        finally:
            conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: ProxyState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a pull stopping its other downloads after a fault) is
        not an error of the proxy's; socketserver would print a traceback to stderr, where
        an in-process CLI run captures it as the command's own output."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class Proxy:
    state: ProxyState
    server: _ProxyServer
    thread: threading.Thread

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def start_proxy(upstream: str) -> Proxy:
    state = ProxyState(upstream=upstream)
    server = _ProxyServer(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Proxy(state, server, thread)


def write_docker_config(path: Path, auths: dict[str, tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "auths": {
            host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
            for host, (u, p) in auths.items()
        }
    }
    path.write_text(json.dumps(data))
    return path


# --- scripted origins (hostile-registry tests) ----------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request an :class:`Origin` received, headers with lower-case names."""

    method: str
    path: str
    headers: dict[str, str]


class Exchange:
    """One request being answered by a test's handler function."""

    def __init__(self, handler: _OriginHandler) -> None:
        self._h = handler
        self.method = handler.command
        self.path = handler.path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.origin: Origin = handler.server.origin
        self.extra: dict[str, str] = {}  # sent with every answer
        self.body = handler.body

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.begin(status, {**(headers or {}), "Content-Length": str(len(body))})
        if self.method != "HEAD":
            self.write(body)

    def begin(self, status: int, headers: dict[str, str]) -> None:
        """Send the status line and headers; the body follows with :meth:`write`."""
        self._h.send_response_only(status)
        for key, value in {**self.extra, **headers}.items():
            self._h.send_header(key, value)
        self._h.end_headers()

    def stream_zeros(
        self, total: int | None, status: int = 200, headers: dict[str, str] | None = None
    ) -> int:
        """Answer with ``total`` zero bytes (endless when None); returns how many were sent
        before the client went away."""
        hdrs = dict(headers or {})
        if total is None:
            hdrs["Connection"] = "close"  # a body that ends only when the connection does
            self._h.close_connection = True
        else:
            hdrs["Content-Length"] = str(total)
        self.begin(status, hdrs)
        zeros = bytes(1 << 16)
        sent = 0
        while total is None or sent < total:
            piece = zeros if total is None else zeros[: total - sent]
            if not self.write(piece):
                break
            sent += len(piece)
        return sent

    def write(self, data: bytes) -> bool:
        """Send part of a body; False once the client has gone away."""
        try:
            self._h.wfile.write(data)
            self._h.wfile.flush()
        except OSError:
            self._h.close_connection = True
            return False
        return True

    def wait_for_disconnect(self) -> None:
        """Block until the client closes (or shuts down) this connection."""
        with contextlib.suppress(OSError):
            while self._h.connection.recv(1 << 16):
                pass
        self._h.close_connection = True


class _OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _OriginServer
    body = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        origin = self.server.origin
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        with origin.lock:
            origin.seen.append(seen)
        origin.handler(Exchange(self))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class _OriginServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, origin: Origin) -> None:
        super().__init__(("127.0.0.1", 0), _OriginHandler)
        self.origin = origin

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-answer are what these tests provoke.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Origin:
    """A local HTTP server on a free port whose answers are a test's function.

    Every request is recorded, so a decoy origin can prove it never saw a credential.
    """

    def __init__(self, handler: Callable[[Exchange], None]) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._server = _OriginServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def secrets(self) -> list[str]:
        """Every credential-like header this origin received."""
        with self.lock:
            return [
                f"{name}: {s.headers[name]}"
                for s in self.seen
                for name in ("authorization", "cookie", "proxy-authorization")
                if name in s.headers
            ]

    def paths(self) -> list[str]:
        with self.lock:
            return [s.path for s in self.seen]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


USER = ("alice", "s3cret-pw")
BASIC = "Basic " + base64.b64encode(f"{USER[0]}:{USER[1]}".encode()).decode()


class HostileRegistry:
    """A small registry (one repository, Bearer tokens issued for :data:`USER`) whose
    answers a test replaces path by path through ``routes`` (exact path -> handler)."""

    def __init__(self, repository: str = "app") -> None:
        self.repository = repository
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.routes: dict[str, Callable[[Exchange], None]] = {}
        self.tokens: set[str] = set()
        self.auth = True
        self.extra_headers: dict[str, str] = {}
        self.origin = Origin(self._handle)
        self.image = Descriptor(mt.OCI_MANIFEST, sha256_bytes(b""), 0)
        self._add_image()

    # -- content -----------------------------------------------------------------------
    def _add_image(self) -> Descriptor:
        layer, tar = layer_bytes({"hello.txt": b"hello"})
        return self.set_layers([(self.add_blob(layer, mt.OCI_LAYER_GZIP), sha256_bytes(tar))])

    def set_layers(self, layers: list[tuple[Descriptor, str]]) -> Descriptor:
        """Make ``v1`` an amd64 image of ``layers`` ((descriptor, diff_id) pairs)."""
        config = ImageConfig(
            architecture="amd64",
            os="linux",
            diff_ids=tuple(diff for _, diff in layers),  # type: ignore[misc]
            created="1970-01-01T00:00:00Z",
        ).to_bytes()
        config_desc = self.add_blob(config, mt.OCI_CONFIG)
        manifest = Manifest(config=config_desc, layers=tuple(d for d, _ in layers))
        data = manifest.to_bytes()
        desc = Descriptor(mt.OCI_MANIFEST, sha256_bytes(data), len(data))
        self.manifests[desc.digest] = self.manifests["v1"] = (mt.OCI_MANIFEST, data)
        self.image = desc
        return desc

    def set_index(self, children: list[Descriptor]) -> None:
        """Make ``v1`` an OCI index of ``children``."""
        data = Index(tuple(children)).to_bytes()
        self.manifests["v1"] = (mt.OCI_INDEX, data)

    def add_blob(self, data: bytes, media_type: str = "application/octet-stream") -> Descriptor:
        digest = sha256_bytes(data)
        self.blobs[digest] = data
        return Descriptor(media_type, digest, len(data))

    @property
    def layer(self) -> Descriptor:
        return Manifest.from_bytes(self.manifests[self.image.digest][1]).layers[0]

    @property
    def host(self) -> str:
        return self.origin.host

    @property
    def url(self) -> str:
        return self.origin.url

    def ref(self, tag: str = "v1") -> str:
        return f"{self.host}/{self.repository}:{tag}"

    # -- protocol ----------------------------------------------------------------------
    def challenge(self) -> str:
        return f'Bearer realm="{self.url}/token",service="hostile"'

    def authorised(self, ex: Exchange) -> bool:
        """True for a request with a token we issued; else answer it with our challenge."""
        if ex.headers.get("authorization", "").removeprefix("Bearer ") in self.tokens:
            return True
        ex.reply(401, b"", {"WWW-Authenticate": self.challenge()})
        return False

    def _handle(self, ex: Exchange) -> None:
        path = urlsplit(ex.path).path
        ex.extra = self.extra_headers
        route = self.routes.get(path)
        if route is not None:
            route(ex)
            return
        if path == "/token":
            if ex.headers.get("authorization") != BASIC:
                ex.reply(401, b'{"details":"bad credentials"}')
                return
            token = secrets.token_hex(8)
            self.tokens.add(token)
            ex.reply(
                200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"}
            )
            return
        if self.auth and not self.authorised(ex):
            return
        if path == "/v2/":
            ex.reply(200)
            return
        kind, _, ref = path.removeprefix(f"/v2/{self.repository}/").partition("/")
        if ex.method == "HEAD" and kind == "blobs":
            ex.reply(200 if ref in self.blobs else 404)
        elif ex.method == "POST" and kind == "blobs" and ref == "uploads/":
            ex.reply(202, headers={"Location": f"/upload/{secrets.token_hex(4)}"})
        elif ex.method == "PUT" and path.startswith("/upload/"):
            digest = parse_qs(urlsplit(ex.path).query).get("digest", [""])[0]
            ok = sha256_bytes(ex.body) == digest
            if ok:
                self.blobs[digest] = ex.body
            ex.reply(201 if ok else 400)
        elif ex.method == "PUT" and kind == "manifests":
            media_type = ex.headers.get("content-type", "")
            self.manifests[ref] = (media_type, ex.body)
            ex.reply(201, headers={"Docker-Content-Digest": sha256_bytes(ex.body)})
        elif kind == "manifests" and ref in self.manifests:
            media_type, data = self.manifests[ref]
            ex.reply(200, data, {"Content-Type": media_type})
        elif kind == "blobs" and ref in self.blobs:
            ex.reply(200, self.blobs[ref])
        else:
            ex.reply(404, b'{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}')

    def stop(self) -> None:
        self.origin.stop()
