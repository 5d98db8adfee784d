"""The registry transport: the OCI distribution API over HTTP (pull, push, login, mirrors)."""

from distroless.transports.registry.auth import Challenge, Credentials, parse_challenges
from distroless.transports.registry.client import Endpoint, RegistryClient, RetryPolicy
from distroless.transports.registry.endpoints import Registries
from distroless.transports.registry.login import login, logout
from distroless.transports.registry.pull import PullResult, fetch_manifest, pull
from distroless.transports.registry.push import PushResult, push

__all__ = [
    "Challenge",
    "Credentials",
    "Endpoint",
    "PullResult",
    "PushResult",
    "Registries",
    "RegistryClient",
    "RetryPolicy",
    "fetch_manifest",
    "login",
    "logout",
    "parse_challenges",
    "pull",
    "push",
]
