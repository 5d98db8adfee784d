"""``login``: check credentials against the registry before saving them, like docker does."""

from __future__ import annotations

from pathlib import Path

from distroless.errors import AuthError
from distroless.registry_config import Login, remove_login, save_login
from distroless.transports.registry.auth import Credentials
from distroless.transports.registry.client import Endpoint, RegistryClient, RetryPolicy


def login(
    host: str,
    username: str,
    password: str,
    *,
    insecure: bool = False,
    path: Path | None = None,
    retry: RetryPolicy | None = None,
) -> Path:
    """Verify ``username``/``password`` with ``host`` and save them; returns the file."""
    creds = Credentials(username, password)
    with RegistryClient(
        Endpoint.for_host(host, insecure), credentials=lambda _h: creds, retry=retry
    ) as client:
        challenge = client.ping()
        if challenge is not None:
            # Any authorised request proves the credentials; /v2/ with no scope is the
            # cheapest one both Basic and Bearer registries answer.
            resp = client.request("GET", "/v2/")
            resp.close()
            if resp.status_code >= 300:
                raise AuthError(f"registry {host} rejected the credentials of user {username!r}")
    return save_login(host, Login(username, password), path)


def logout(host: str, *, path: Path | None = None) -> bool:
    """Forget the saved credentials of ``host``; False if there were none."""
    return remove_login(host, path)
