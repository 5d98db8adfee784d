"""Image references with docker's normalisation.

``golang:1.17`` means ``docker.io/library/golang:1.17``; ``localhost:5000/x@sha256:…``
keeps its registry.  The grammar follows the distribution project's reference rules so a
name accepted here is accepted by registries and by ``docker``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from distroless.errors import ReferenceFormatError
from distroless.oci.digest import Digest, is_digest

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_REGISTRIES = {"index.docker.io", "registry-1.docker.io"}

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)
_MAX_NAME = 255
#: DNS limits (RFC 1035): a host name no registry could have is refused here, in one line,
#: rather than by the URL library when the first request is built
_MAX_LABEL = 63
_MAX_HOST = 253
_MAX_PORT = 65535


def _check_host(registry: str, original: str) -> None:
    """Refuse a registry that matches the grammar but that no DNS name or port could be."""
    if registry.startswith("["):  # an IPv6 literal: the grammar is all it needs
        host, port = "", registry.partition("]")[2].removeprefix(":")
    else:
        host, _, port = registry.partition(":")
    if port and (len(port) > len(str(_MAX_PORT)) or int(port) > _MAX_PORT):
        raise ReferenceFormatError(
            f"invalid reference {original!r}: port {port} is above {_MAX_PORT}"
        )
    if len(host) > _MAX_HOST:
        raise ReferenceFormatError(
            f"invalid reference {original!r}: the registry host is longer than "
            f"{_MAX_HOST} characters"
        )
    for label in host.split(".") if host else ():
        if len(label) > _MAX_LABEL:
            raise ReferenceFormatError(
                f"invalid reference {original!r}: the registry host has a label longer than "
                f"{_MAX_LABEL} characters ({label[:16]}...)"
            )


@dataclass(frozen=True)
class Reference:
    """An image name as :meth:`parse` normalises it, in docker's rules.

    Invariants (of parsed references): ``registry`` is a host with an optional port,
    docker's default registry when the name gave none (its legacy aliases folded into
    it); ``repository`` is lowercase path components, with ``library/`` before a
    one-component name on the default registry; at least one of ``tag`` and ``digest`` is
    set (a bare name gets ``latest``), and ``digest`` is ``sha256:`` and 64 hex digits.
    So two spellings of one image compare equal.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise; a bare name gets the ``latest`` tag."""
        original = text
        if not text or text != text.strip():
            raise ReferenceFormatError(f"invalid reference {original!r}: empty or padded")
        digest: Digest | None = None
        if "@" in text:
            text, _, dig = text.partition("@")
            if not is_digest(dig):
                raise ReferenceFormatError(
                    f"invalid reference {original!r}: digest must be sha256:<64 hex digits>"
                )
            digest = Digest(dig)
        tag: str | None = None
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not _TAG.match(tag):
                raise ReferenceFormatError(f"invalid reference {original!r}: bad tag {tag!r}")
        first, sep, rest = text.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
            registry, path = first, rest
            if not _DOMAIN.match(registry):
                raise ReferenceFormatError(
                    f"invalid reference {original!r}: bad registry {registry!r}"
                )
            _check_host(registry, original)
        else:
            registry, path = DEFAULT_REGISTRY, text
        if registry in _LEGACY_REGISTRIES:
            registry = DEFAULT_REGISTRY
        if not path:
            raise ReferenceFormatError(f"invalid reference {original!r}: empty repository name")
        if path != path.lower():
            raise ReferenceFormatError(
                f"invalid reference {original!r}: repository name must be lowercase"
            )
        for component in path.split("/"):
            if not _COMPONENT.match(component):
                raise ReferenceFormatError(
                    f"invalid reference {original!r}: bad path component {component!r}"
                )
        if registry == DEFAULT_REGISTRY and "/" not in path:
            path = "library/" + path
        if len(path) > _MAX_NAME:
            raise ReferenceFormatError(f"invalid reference {original!r}: name too long")
        if tag is None and digest is None:
            tag = DEFAULT_TAG
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def familiar(self) -> str:
        """The short form docker prints (``golang:1.17``, ``me/app:v1``)."""
        name = self.name
        if self.registry == DEFAULT_REGISTRY:
            name = self.repository.removeprefix("library/")
        if self.tag:
            name += f":{self.tag}"
        if self.digest:
            name += f"@{self.digest}"
        return name

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag=tag, digest=None)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(self.registry, self.repository, tag=self.tag, digest=digest)
