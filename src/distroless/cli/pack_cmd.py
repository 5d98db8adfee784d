"""``distroless pack``: programs and exactly their ELF closure as an image."""

from __future__ import annotations

from pathlib import Path

import click

from distroless.assemble.time import source_date_epoch
from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.output import TerminalReporter
from distroless.oci.models import Platform
from distroless.store import Store


@click.command(
    epilog=examples(
        "distroless pack /usr/bin/curl --from debian-tools:12 --with nss,certs -t curl:packed",
        "distroless pack ./myapp --base static -t myapp:packed",
    )
)
@click.argument("programs", nargs=-1, required=True)
@click.option("-t", "--tag", "tags", multiple=True, required=True, help="Name for the image.")
@click.option(
    "--from", "source", metavar="IMAGE",
    help="Stored image the programs were built in (default: the host).",
)  # fmt: skip
@click.option(
    "--from-dir", "source_dir", type=click.Path(file_okay=False, exists=True),
    help="A root directory to take the programs from instead of the host's /.",
)  # fmt: skip
@click.option("--arch", help="Architecture of the --from image to use (amd64, arm64, ...).")
@click.option(
    "--base", default="scratch", show_default=True,
    help="scratch, a built-in base (static, base-nossl, base, cc, python3) or an image.",
)  # fmt: skip
@click.option(
    "--with", "extras", multiple=True, metavar="nss,libgcc_s,gconv,certs,tzdata",
    help="Add what glibc loads with dlopen, or data files (comma-separated, repeatable).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Report what was packed as JSON.")
@click.option("--sbom/--no-sbom", default=True, show_default=True, help="Attach an SPDX SBOM.")
@pass_app
def pack(
    app: App,
    programs: tuple[str, ...],
    tags: tuple[str, ...],
    source: str | None,
    source_dir: str | None,
    arch: str | None,
    base: str,
    extras: tuple[str, ...],
    as_json: bool,
    sbom: bool,
) -> None:
    """Build the smallest image PROGRAMS start in: each one and its ELF closure."""
    from distroless.build import PackRequest, build_image
    from distroless.cli.output import emit_json

    request = PackRequest(
        programs=programs,
        tags=tags,
        source=source,
        source_root=Path(source_dir) if source_dir else None,
        platform=Platform("linux", arch) if arch else None,
        base=base,
        extras=frozenset(extras),
        sbom=sbom,
        source_date_epoch=source_date_epoch(),
        package_cache=app.cache_path,
    )
    reporter = TerminalReporter()
    try:
        outcome = build_image(Store(app.root_path), request, reporter)
    finally:
        reporter.close()
    packed = outcome.packed
    assert packed is not None
    for warning in packed.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        emit_json(
            {
                "digest": str(outcome.descriptor.digest),
                "tags": list(outcome.tags),
                "files": packed.files,
                "packages": list(packed.packages),
                "unowned": list(packed.unowned),
                "warnings": list(packed.warnings),
            }
        )
        return
    click.echo(
        f"Packed {packed.files} paths from {len(packed.packages)} packages: "
        f"{' '.join(packed.packages)}"
    )
    click.echo(f"Built {outcome.descriptor.digest}")
