"""Which endpoints serve a registry host: its mirrors first, then the host itself.

Mirrors come from ``config.toml`` and from ``--registry-mirror``; they are used for pulls
only (a push always goes to the registry named in the reference).  One
:class:`Registries` object owns the HTTP clients of a command so that connections and
tokens are shared between the images it moves.
"""

from __future__ import annotations

import threading

import httpx

from distroless.registry_config import UserConfig
from distroless.transports.registry.auth import CredentialLookup
from distroless.transports.registry.client import Endpoint, RegistryClient, RetryPolicy


class Registries:
    """Factory and cache of :class:`RegistryClient` objects for one command."""

    def __init__(
        self,
        config: UserConfig | None = None,
        *,
        credentials: CredentialLookup | None = None,
        retry: RetryPolicy | None = None,
        insecure: tuple[str, ...] = (),
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = (
            (config or UserConfig()).with_insecure(*insecure)
            if insecure
            else (config or UserConfig())
        )
        self._credentials = credentials
        self._retry = retry
        self._timeout = timeout
        self._transport = transport
        self._clients: dict[Endpoint, RegistryClient] = {}
        self._lock = threading.Lock()

    def origin(self, host: str) -> Endpoint:
        return Endpoint.for_host(host, self.config.is_insecure(host))

    def mirrors(self, host: str) -> list[Endpoint]:
        return [
            Endpoint.parse(m, self.config.is_insecure(m.split("://")[-1].strip("/")))
            for m in self.config.mirrors_for(host)
        ]

    def pull_endpoints(self, host: str) -> list[Endpoint]:
        """Mirrors in configured order, then the origin."""
        return [*self.mirrors(host), self.origin(host)]

    def client(self, endpoint: Endpoint) -> RegistryClient:
        with self._lock:
            found = self._clients.get(endpoint)
            if found is None:
                found = RegistryClient(
                    endpoint,
                    credentials=self._credentials,
                    retry=self._retry,
                    timeout=self._timeout,
                    transport=self._transport,
                )
                self._clients[endpoint] = found
            return found

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()

    def __enter__(self) -> Registries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
