"""``distroless index create``: one multi-platform index from images pushed one by one."""

from __future__ import annotations

import json
from typing import Any

import click

from distroless.cli.help_text import examples
from distroless.errors import UsageError
from distroless.oci.reference import Reference


def _pairs(values: tuple[str, ...], option: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.rpartition("=")
        if not sep or not key or not rest:
            raise UsageError(f"{option} {value!r}: expected {what}")
        out[key] = rest
    return out


@click.group(
    "index",
    epilog=examples(
        "distroless index create 127.0.0.1:5000/app:1 127.0.0.1:5000/app-amd64:1"
        " 127.0.0.1:5000/app-arm64:1",
        "distroless index create --dry-run 127.0.0.1:5000/app:1 127.0.0.1:5000/app-amd64:1",
    ),
)
def index() -> None:
    """Multi-platform image indexes in a registry."""


@index.command(
    "create",
    epilog=examples(
        "distroless index create 127.0.0.1:5000/app:1 127.0.0.1:5000/app-amd64:1"
        " 127.0.0.1:5000/app-arm64:1",
        "distroless index create --dry-run 127.0.0.1:5000/app:1 127.0.0.1:5000/app-amd64:1",
    ),
)
@click.argument("target")
@click.argument("images", nargs=-1, required=True)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="IMAGE=OS/ARCH[/VARIANT]",
    help="Record IMAGE under this platform (its config's os/arch plus a variant); repeatable.",
)
@click.option(
    "--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="Index annotation."
)
@click.option("--dry-run", is_flag=True, help="Print the index instead of pushing it.")
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Speak plain HTTP to this registry (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def create(
    target: str,
    images: tuple[str, ...],
    platforms: tuple[str, ...],
    annotations: tuple[str, ...],
    dry_run: bool,
    insecure: tuple[str, ...],
    as_json: bool,
) -> None:
    """Push to TARGET one index of IMAGES, each already in a registry, without pulling layers.

    Blobs are mounted from the images' repositories on TARGET's registry and streamed
    across only from another registry.
    """
    from distroless.cli.output import TerminalReporter, emit_json
    from distroless.oci.models import Platform
    from distroless.registry_config import UserConfig
    from distroless.transports.registry import Registries
    from distroless.transports.registry.index import create_index

    wanted = {
        image: Platform.parse(p)
        for image, p in _pairs(platforms, "--platform", "IMAGE=os/arch[/variant]").items()
    }
    ref = Reference.parse(target)
    reporter = TerminalReporter()
    try:
        with Registries(UserConfig.load(), insecure=insecure) as regs:
            result = create_index(
                ref,
                images,
                platforms=wanted,
                annotations=_pairs(annotations, "--annotation", "KEY=VALUE"),
                registries=regs,
                reporter=reporter,
                dry_run=dry_run,
            )
    finally:
        reporter.close()
    if dry_run:
        click.echo(json.dumps(json.loads(result.data), indent=2))
        return
    data: dict[str, Any] = {
        "reference": str(result.reference),
        "digest": result.descriptor.digest,
        "mediaType": result.descriptor.media_type,
        "manifests": [
            {"digest": c.document.digest, "platform": str(c.platform) if c.platform else None}
            for c in result.children
        ],
        "present": result.present,
        "mounted": result.mounted,
        "copied": result.copied,
        "bytesCopied": result.bytes_copied,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(f"{result.reference}: {result.descriptor.digest}")
