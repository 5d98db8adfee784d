"""What a Dockerfile build is asked, and what it answers.

:class:`BuildOptions` mirrors ``distroless build``'s flags for a Dockerfile; the executor
returns a :class:`BuildResult`.  The platform ARGs BuildKit predefines are here too, as they
follow from the options.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from distroless.dockerfile.secrets import BuildSecret
from distroless.dockerfile.step_runner import Output
from distroless.errors import UsageError
from distroless.layers.compress import Compression
from distroless.oci.models import Descriptor, ImageConfig, Platform

#: The entitlements ``distroless build --allow`` grants (BuildKit's names).
ENTITLEMENTS = ("network.host",)


@dataclass(frozen=True)
class BuildOptions:
    """What ``distroless build [-f] [--build-arg] [--target] [--platform] CONTEXT`` asks."""

    context: Path
    dockerfile: Path | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: Platform | None = None
    no_cache: bool = False
    source_date_epoch: int = 0
    compression: Compression = "gzip"
    #: where RUN steps' stdout and stderr go; None collects them for the error message
    run_output: Output = None
    runtime: str = "runc"
    #: how RUN steps are confined: ``auto``, ``oci`` or ``chroot`` (see
    #: :func:`~distroless.dockerfile.step_runner.chosen_isolation`)
    isolation: str = "auto"
    #: stages built at the same time when they do not depend on each other
    jobs: int = 2
    #: ``--secret`` values by id, shown only to ``RUN --mount=type=secret`` steps
    secrets: Mapping[str, BuildSecret] = field(default_factory=dict)
    #: BuildKit's entitlements (``--allow network.host``): what RUN steps may ask for
    allow: frozenset[str] = frozenset()
    #: name the target platform in each step's message (one platform of several)
    platform_in_steps: bool = False
    #: ``--build-context``: names a Dockerfile uses for a directory or ``docker-image://REF``
    named_contexts: Mapping[str, str] = field(default_factory=dict)
    #: ``--ssh``: agent sockets by id, for ``RUN --mount=type=ssh``
    ssh: Mapping[str, Path] = field(default_factory=dict)
    #: list the files the target's COPY/ADD steps wrote (:attr:`BuildResult.added_files`),
    #: which reads those layers back: only an SBOM needs them
    list_added_files: bool = True


@dataclass(frozen=True)
class BuildResult:
    descriptor: Descriptor
    config: ImageConfig
    executed: tuple[str, ...]
    cached: tuple[str, ...]
    #: regular files the target's COPY/ADD steps (its own and its parent stages') wrote,
    #: as absolute paths: what an SBOM lists beside the packages
    added_files: tuple[str, ...] = ()
    #: the Dockerfile read and the sha256 of its bytes, for the build's provenance
    dockerfile: Path | None = None
    dockerfile_digest: str | None = None


def predefined_args(target: Platform, build: Platform) -> dict[str, str]:
    """BuildKit's automatic platform ARGs, visible in FROM and after a bare ``ARG NAME``."""
    return {
        "TARGETPLATFORM": str(target),
        "TARGETOS": target.os,
        "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant or "",
        "BUILDPLATFORM": str(build),
        "BUILDOS": build.os,
        "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant or "",
    }


def check_build_args(build_args: Mapping[str, str]) -> None:
    """Build args are text: one that is not UTF-8 could not be written into any config."""
    for key, value in build_args.items():
        try:
            f"{key}={value}".encode()
        except UnicodeEncodeError:
            shown = key.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise UsageError(f"--build-arg {shown}: not UTF-8 text") from None
