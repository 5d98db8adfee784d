"""What a caller asks of a container, independent of how runc is driven.

The CLI parses flags into :class:`RunOptions` at the boundary (``parse_env``,
``parse_volume``); the Dockerfile executor builds one directly from a stage's state.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from distroless.assignments import parse_assignments
from distroless.errors import UsageError

#: ``private``: a namespace of its own with outbound access through slirp4netns (the
#: default); ``none``: loopback only; ``host``: the host's (an explicit opt-in).
Network = Literal["private", "host", "none"]
NETWORKS: tuple[Network, ...] = ("private", "host", "none")

#: The host name of every ``RUN`` step, BuildKit's.
BUILD_HOSTNAME = "buildkitsandbox"


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into the container."""

    source: Path
    destination: str
    readonly: bool = False


@dataclass(frozen=True)
class SecretFile:
    """A value shown to the container as a read-only file at ``destination``.

    It reaches the container through a tmpfs only the runtime's mount namespace has
    (:mod:`distroless.runtime.launcher`), never through a file on the host's disks.
    """

    destination: str
    data: bytes = field(repr=False)
    mode: int = 0o400
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class RunOptions:
    """Everything ``distroless run`` lets a user override on top of the image config.

    ``entrypoint`` is None to keep the image's; an empty tuple clears it (docker's
    ``--entrypoint ""``).  ``args`` replaces the image's ``Cmd`` when non-empty.
    ``secret_env`` are variables that, like ``secrets``, must never be written to disk
    (they are in ``config.json``, which then lives in the private tmpfs too).
    ``seccomp`` off is ``--security-opt seccomp=unconfined``.  ``tty`` gives the process
    a pseudo-terminal; ``init`` runs it under a static ``tini`` from the host.
    ``build_step`` gives the container the identity BuildKit gives a ``RUN`` step, in
    every network mode: the host name :data:`BUILD_HOSTNAME`, BuildKit's ``/etc/hosts``,
    no ``/etc/hostname`` and no ``HOSTNAME`` variable, so nothing of the host's name or
    hosts file reaches a build and the step sees what it sees under ``docker build``.
    """

    args: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None
    workdir: str | None = None
    mounts: tuple[Mount, ...] = ()
    network: Network = "private"
    hostname: str | None = None
    name: str | None = None
    runtime: str = "runc"
    remove: bool = True
    seccomp: bool = True
    secrets: tuple[SecretFile, ...] = ()
    secret_env: Mapping[str, str] = field(default_factory=dict)
    tty: bool = False
    init: bool = False
    build_step: bool = False


def parse_env(items: Sequence[str], host_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``K=V`` sets, ``K`` alone copies the host's value (and is dropped if unset)."""
    return parse_assignments(items, what="environment variable", host_env=host_env)


def parse_volume(text: str) -> Mount:
    """``SRC:DST[:ro|rw]`` with an absolute host source (named volumes do not exist here)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise UsageError(f"invalid volume {text!r}: expected /host/path:/container/path[:ro]")
    readonly = False
    if len(parts) == 3:
        if parts[2] not in ("ro", "rw"):
            raise UsageError(f"invalid volume {text!r}: the mode must be 'ro' or 'rw'")
        readonly = parts[2] == "ro"
    if not parts[0].startswith("/"):
        raise UsageError(f"invalid volume {text!r}: the host path must be absolute")
    if not parts[1].startswith("/"):
        raise UsageError(f"invalid volume {text!r}: the container path must be absolute")
    dest = posixpath.normpath(parts[1])
    if dest == "/":
        raise UsageError(f"invalid volume {text!r}: cannot mount over the container's root")
    return Mount(Path(parts[0]), dest, readonly)


def check_network(value: str) -> Network:
    for network in NETWORKS:
        if value == network:
            return network
    raise UsageError(f"unsupported network {value!r}: use 'private', 'host' or 'none'")


def parse_security_opts(items: Sequence[str]) -> bool:
    """``--security-opt`` values; returns whether the seccomp filter stays on.

    ``no-new-privileges`` is accepted for docker parity: it is always on.
    """
    seccomp = True
    for item in items:
        key, sep, value = item.partition("=")
        if key == "seccomp" and sep and value == "unconfined":
            seccomp = False
        elif key == "no-new-privileges" and value in ("", "true"):
            continue
        else:
            raise UsageError(
                f"unsupported --security-opt {item!r}: use seccomp=unconfined "
                "(no-new-privileges is always on)"
            )
    return seccomp
