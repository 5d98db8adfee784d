"""A private OCI registry (Debian's ``docker-registry``) on 127.0.0.1 for push/pull tests."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.helpers.proc import Timeout, run, wait_until

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
_START_ATTEMPTS = 3


def find_registry() -> Path | None:
    found = shutil.which("docker-registry") or (
        "/usr/bin/docker-registry" if os.access("/usr/bin/docker-registry", os.X_OK) else None
    )
    return Path(found) if found else None


class RegistryStartError(RuntimeError):
    """The registry did not answer /v2/; the message carries the tail of its log."""


@dataclass(frozen=True)
class Registry:
    """A running registry. ``url`` is ``127.0.0.1:PORT`` (a reference prefix, no scheme)."""

    url: str
    root: Path
    auth: tuple[str, str] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` for direct HTTP requests."""
        return f"http://{self.url}"

    def ref(self, repository: str, tag: str = "latest") -> str:
        """A reference into this registry, e.g. ``127.0.0.1:5000/app:latest``."""
        return f"{self.url}/{repository}:{tag}"

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` (e.g. ``/v2/``) with Basic auth if configured; returns (status, body)."""
        request = urllib.request.Request(self.base_url + path)
        if self.auth is not None:
            token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return _http_get(request)


class RegistryFactory(Protocol):
    """The ``registry_factory`` fixture: start one more registry, stopped when the test ends."""

    def __call__(self, htpasswd: tuple[str, str] | None = None) -> Registry: ...


# The environment may name an HTTP proxy; 127.0.0.1 must never go through it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_get(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with _OPENER.open(request, timeout=5) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def free_port() -> int:
    """A port that was free a moment ago; the caller retries if it is taken before use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def htpasswd_line(user: str, password: str) -> str:
    """A bcrypt htpasswd entry made by apache2-utils' ``htpasswd -Bbn``."""
    tool = shutil.which("htpasswd")
    if tool is None:
        raise FileNotFoundError("htpasswd is not installed (Debian package apache2-utils)")
    return run([tool, "-Bbn", user, password]).stdout.strip()


def _config(root: Path, port: int, htpasswd_file: Path | None, access_log: bool) -> str:
    # JSON is valid YAML; writing it this way needs no YAML emitter and no quoting rules.
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": not access_log}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if htpasswd_file is not None:
        config["auth"] = {"htpasswd": {"realm": "distroless-test", "path": str(htpasswd_file)}}
    return json.dumps(config, indent=2)


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def registry(
    root: Path, *, htpasswd: tuple[str, str] | None = None, access_log: bool = False
) -> Iterator[Registry]:
    """Start a registry storing under ``root`` (Basic auth if ``htpasswd``); stop it on exit.

    With ``access_log`` every request is written to the log (:func:`blob_bytes_served`)."""
    binary = find_registry()
    if binary is None:
        raise FileNotFoundError("docker-registry is not installed (Debian package docker-registry)")
    root.mkdir(parents=True, exist_ok=True)
    htpasswd_file: Path | None = None
    if htpasswd is not None:
        htpasswd_file = root / "htpasswd"
        htpasswd_file.write_text(htpasswd_line(*htpasswd) + "\n")
    errors: list[str] = []
    for attempt in range(_START_ATTEMPTS):
        port = free_port()
        config = root / "config.yml"
        config.write_text(_config(root, port, htpasswd_file, access_log))
        log = root / f"registry-{attempt}.log"
        with open(log, "wb") as logfh:
            proc = subprocess.Popen(
                [str(binary), "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=logfh,
                stderr=subprocess.STDOUT,
            )
        reg = Registry(url=f"127.0.0.1:{port}", root=root, auth=htpasswd)
        ready_codes = {401} if htpasswd is not None else {200}

        def died(proc: subprocess.Popen[bytes] = proc, log: Path = log) -> str | None:
            code = proc.poll()
            return None if code is None else f"registry exited with {code}:\n{_log_tail(log)}"

        def answers(reg: Registry = reg, ready_codes: set[int] = ready_codes) -> bool:
            try:
                status, _ = _http_get(urllib.request.Request(reg.base_url + "/v2/"))
            except OSError:
                return False
            return status in ready_codes

        try:
            wait_until(
                answers, timeout=READY_TIMEOUT, what="the registry to answer /v2/", abort=died
            )
        except Timeout as exc:
            _stop(proc)
            errors.append(str(exc))
            continue
        try:
            yield reg
        finally:
            _stop(proc)
        return
    raise RegistryStartError("registry did not start:\n" + "\n".join(errors))


#: a combined-format access log line of a blob GET: its path and the bytes written
_BLOB_GET = re.compile(
    r'"GET /v2/(?P<repo>\S+)/blobs/(?P<digest>sha256:[0-9a-f]{64}) [^"]*" 200 (?P<size>\d+)'
)


def blob_bytes_served(reg: Registry) -> dict[str, int]:
    """Bytes of each blob the registry has sent (a registry started with ``access_log``)."""
    served: dict[str, int] = {}
    for log in sorted(reg.root.glob("registry-*.log")):
        for match in _BLOB_GET.finditer(log.read_text(errors="replace")):
            served[match["digest"]] = served.get(match["digest"], 0) + int(match["size"])
    return served
