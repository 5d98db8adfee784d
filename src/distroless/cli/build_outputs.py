"""``build``'s buildx flags for what leaves the build: ``--output``, ``--push``,
``--iidfile``, ``--metadata-file``, ``--label``, ``--ssh`` and ``--build-context``.

They are read here, once, before anything is built: a bad value is a one-line usage
error and the store is not touched.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from distroless.errors import DistrolessError, UsageError
from distroless.exporters import OutputSpec, check_destinations, parse_output
from distroless.exporters.registry import push_references
from distroless.oci.reference import Reference

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "-o", "--output", "outputs", multiple=True,
        metavar="type=local|tar|oci|docker|registry,...|DIR",
        help="Also write the result: its files (local, tar) or the image (oci, docker); "
        "dest=- is stdout. A bare DIR is type=local. type=registry pushes, as --push.",
    ),
    click.option(
        "--push", is_flag=True,
        help="Push the image and its SBOM, provenance and signatures to each -t name "
        "(type=registry). Attaches provenance unless --provenance=false.",
    ),
    click.option(
        "--iidfile", type=click.Path(dir_okay=False, path_type=Path),
        help="Write the image id (the config digest; an index's digest) to this file.",
    ),
    click.option(
        "--metadata-file", type=click.Path(dir_okay=False, path_type=Path),
        help="Write buildx's build metadata (containerimage.digest, ...) as JSON here.",
    ),
    click.option(
        "--label", "labels", multiple=True, metavar="KEY=VALUE",
        help="Set a label on the image, after the Dockerfile's (repeatable).",
    ),
    click.option(
        "--ssh", "ssh", multiple=True, metavar="default|ID=SOCKET",
        help="Forward an SSH agent socket to RUN --mount=type=ssh (default: $SSH_AUTH_SOCK).",
    ),
    click.option(
        "--build-context", "build_contexts", multiple=True,
        metavar="NAME=DIR|NAME=docker-image://REF",
        help="A named context for FROM, COPY --from and RUN --mount=from (repeatable).",
    ),
)  # fmt: skip


def exporting_options(f: F) -> F:
    """The flags above, on a click command."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


@dataclass(frozen=True)
class Exporting:
    """The parsed flags; the build command hands them to the request and writes the files."""

    outputs: tuple[OutputSpec, ...] = ()
    #: where the pushing outputs send the image (their ``name=``, else the ``-t`` names)
    push_to: tuple[Reference, ...] = ()
    iidfile: Path | None = None
    metadata_file: Path | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ssh: Mapping[str, Path] = field(default_factory=dict)
    build_contexts: Mapping[str, str] = field(default_factory=dict)

    @property
    def given(self) -> bool:
        """Whether any of these flags was given: such a build leaves no warm record, since
        a repeat without them must not be answered with their image or their files."""
        return self != Exporting()

    @property
    def pushes(self) -> bool:
        """Whether the build is pushed (``--push``, ``type=registry``, ``push=true``)."""
        return bool(self.push_to)

    @property
    def to_stdout(self) -> bool:
        """Whether an output takes stdout (then our own lines go to stderr)."""
        return any(o.to_stdout for o in self.outputs)

    def dockerfile_only(self) -> list[str]:
        """The flags given that only a Dockerfile build can use."""
        return [
            flag
            for flag, given in (("--ssh", self.ssh), ("--build-context", self.build_contexts))
            if given
        ]


def parse_exporting(
    *,
    outputs: tuple[str, ...],
    push: bool,
    tags: tuple[str, ...],
    iidfile: Path | None,
    metadata_file: Path | None,
    labels: tuple[str, ...],
    ssh: tuple[str, ...],
    build_contexts: tuple[str, ...],
) -> Exporting:
    parsed = tuple(parse_output(o) for o in outputs)
    if push:
        parsed += (parse_output("type=registry"),)
    check_destinations(parsed)
    for flag, path in (("--iidfile", iidfile), ("--metadata-file", metadata_file)):
        if path is not None and path.is_dir():
            raise UsageError(f"{flag} {str(path)!r} is a directory")
    return Exporting(
        outputs=parsed,
        push_to=push_references(parsed, tags),
        iidfile=iidfile,
        metadata_file=metadata_file,
        labels=_parse_labels(labels),
        ssh=parse_ssh(ssh),
        build_contexts=parse_build_contexts(build_contexts),
    )


def _parse_labels(items: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE``; a bare ``KEY`` is an empty label, as docker's ``--label`` takes it."""
    out: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --label {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def parse_ssh(items: tuple[str, ...]) -> dict[str, Path]:
    """``default`` (``$SSH_AUTH_SOCK``) or ``ID=SOCKET``; each socket must exist now.

    BuildKit also takes private key files here; only agent sockets are forwarded.
    """
    out: dict[str, Path] = {}
    for item in items:
        ident, sep, where = item.partition("=")
        if not ident or (sep and not where):
            raise UsageError(f"invalid --ssh {item!r}: expected default or ID=SOCKET")
        if "," in where:
            raise UsageError(f"invalid --ssh {item!r}: give one agent socket, not key files")
        if not sep:
            where = os.environ.get("SSH_AUTH_SOCK", "")
            if not where:
                raise UsageError(f"--ssh {ident}: SSH_AUTH_SOCK is not set; give {ident}=SOCKET")
        if ident in out:
            raise UsageError(f"--ssh {ident} is given twice")
        path = Path(where)
        try:
            is_socket = stat.S_ISSOCK(path.stat().st_mode)
        except OSError:
            is_socket = False
        if not is_socket:
            raise UsageError(f"--ssh {ident}: {where!r} is not an SSH agent socket")
        out[ident] = Path(os.path.abspath(path))
    return out


DOCKER_IMAGE = "docker-image://"


def parse_build_contexts(items: tuple[str, ...]) -> dict[str, str]:
    """``NAME=DIR`` or ``NAME=docker-image://REF``, as buildx's ``--build-context``."""
    from distroless.oci.reference import Reference

    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not name or not sep or not value:
            raise UsageError(f"invalid --build-context {item!r}: expected NAME=DIR")
        if name in out:
            raise UsageError(f"--build-context {name} is given twice")
        if value.startswith(DOCKER_IMAGE):
            ref = value.removeprefix(DOCKER_IMAGE)
            try:
                Reference.parse(ref)
            except DistrolessError as exc:
                raise UsageError(f"invalid --build-context {item!r}: {exc}") from None
        elif "://" in value:
            raise UsageError(
                f"invalid --build-context {item!r}: the forms are NAME=DIR and "
                "NAME=docker-image://REF"
            )
        elif not Path(value).is_dir():
            raise UsageError(f"--build-context {name}: {value!r} is not a directory")
        else:
            value = os.path.abspath(value)
        out[name] = value
    return out
