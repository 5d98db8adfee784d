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
import io
import json
import secrets
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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

# --- images ------------------------------------------------------------------------------


def layer_bytes(files: dict[str, bytes], mode: int = 0o644) -> tuple[bytes, bytes]:
    """(gzip blob, uncompressed tar) of a layer holding ``files``; small test data only."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


def add_layer(store: Store, files: dict[str, bytes], mode: int = 0o644) -> tuple[Descriptor, str]:
    blob, tar_bytes = layer_bytes(files, mode)
    digest = store.put_bytes(blob)
    return Descriptor(mt.OCI_LAYER_GZIP, digest, len(blob)), sha256_bytes(tar_bytes)


def add_image(
    store: Store,
    arch: str,
    layers: list[tuple[Descriptor, str]],
    entrypoint: tuple[str, ...] = ("/hello",),
) -> Descriptor:
    """A single-platform OCI image made of ``layers``; returns its manifest descriptor."""
    config = ImageConfig(
        architecture=arch,
        os="linux",
        config=ContainerConfig(entrypoint=entrypoint, env=("PATH=/",)),
        diff_ids=tuple(diff for _, diff in layers),  # type: ignore[misc]
        created="1970-01-01T00:00:00Z",
    )
    data = config.to_bytes()
    config_desc = Descriptor(mt.OCI_CONFIG, store.put_bytes(data), len(data))
    manifest = Manifest(config=config_desc, layers=tuple(d for d, _ in layers))
    return store.put_manifest(manifest, platform=Platform("linux", arch))


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
    response body.
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
