"""Registry authentication: challenges and where credentials come from.

A registry says how it wants to be spoken to in the ``WWW-Authenticate`` header of a 401
(``Bearer realm=...,service=...,scope=...`` or ``Basic realm=...``).  Credentials are looked
up in this order: our own ``distroless login`` file, then docker's ``config.json``
(``credHelpers`` for the host, then ``auths``, then ``credsStore``), so a machine already
logged in with docker works unchanged.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distroless.errors import AuthError
from distroless.oci.reference import DEFAULT_REGISTRY
from distroless.registry_config import Login, load_logins

DOCKER_HUB = DEFAULT_REGISTRY
# docker keeps the default registry's credentials under a legacy URL key (first here) and
# older files use its other historical names; none of them is a host we contact.
_HUB_KEYS = (
    f"https://index.{DEFAULT_REGISTRY}/v1/",
    f"index.{DEFAULT_REGISTRY}",
    f"registry-1.{DEFAULT_REGISTRY}",
)

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge."""

    scheme: str  # lower case: "bearer" or "basic"
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges (quoted commas are safe)."""
    out: list[Challenge] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        m = re.match(r"\s*([A-Za-z][A-Za-z0-9_-]*)\s*", text[pos:])
        if not m:
            break
        scheme = m.group(1).lower()
        pos += m.end()
        params: dict[str, str] = {}
        while pos < len(text):
            pm = _PARAM.match(text, pos)
            if not pm or not pm.group(0).strip():
                break
            # A bare word not followed by '=' starts the next challenge.
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            pos = pm.end()
        out.append(Challenge(scheme, params))
        while pos < len(text) and text[pos] in ", ":
            pos += 1
    return out


@dataclass(frozen=True)
class Credentials:
    """A username and secret; ``identity_token`` is an OAuth2 refresh token from a helper."""

    username: str = ""
    password: str = ""
    identity_token: str | None = None

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


CredentialLookup = Callable[[str], "Credentials | None"]


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def _host_of_key(key: str) -> str:
    """docker's ``auths`` keys may be URLs; reduce them to a host[:port]."""
    host = re.sub(r"^[a-z]+://", "", key).split("/", 1)[0]
    return DOCKER_HUB if key in _HUB_KEYS or host in _HUB_KEYS else host


def run_credential_helper(helper: str, server: str) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` about ``server``; None when it knows nothing."""
    try:
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=server,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise AuthError(
            f"docker-credential-{helper} is named in {docker_config_path()} but is not installed"
        ) from None
    if proc.returncode != 0:
        # Helpers report "credentials not found" with a non-zero exit: that is "no login".
        return None
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise AuthError(f"docker-credential-{helper} returned invalid JSON for {server}") from None
    user, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
    if user == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(user, secret)


def _helper_server(host: str) -> str:
    return _HUB_KEYS[0] if host == DOCKER_HUB else host


def docker_credentials(host: str, config: Mapping[str, Any]) -> Credentials | None:
    """Credentials for ``host`` from a parsed docker ``config.json``."""
    helpers = config.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if _host_of_key(key) == host:
                return run_credential_helper(str(helper), _helper_server(host))
    auths = config.get("auths") or {}
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if _host_of_key(key) != host or not isinstance(entry, dict):
                continue
            if entry.get("identitytoken"):
                return Credentials(identity_token=str(entry["identitytoken"]))
            if entry.get("auth"):
                try:
                    raw = base64.b64decode(str(entry["auth"]), validate=True).decode()
                except (ValueError, UnicodeDecodeError):
                    raise AuthError(
                        f"{docker_config_path()}: the auth entry for {key} is not valid base64"
                    ) from None
                user, _, password = raw.partition(":")
                return Credentials(user, password)
            if entry.get("username"):
                return Credentials(str(entry["username"]), str(entry.get("password", "")))
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return run_credential_helper(store, _helper_server(host))
    return None


def default_lookup(
    logins_path: Path | None = None, docker_path: Path | None = None
) -> CredentialLookup:
    """The standard credential search (our login file, then docker's) as a function."""

    def lookup(host: str) -> Credentials | None:
        own: dict[str, Login] = load_logins(logins_path)
        if host in own:
            return Credentials(own[host].username, own[host].password)
        path = docker_path or docker_config_path()
        try:
            config = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise AuthError(f"{path}: cannot be read as JSON ({exc})") from None
        return docker_credentials(host, config) if isinstance(config, dict) else None

    return lookup
