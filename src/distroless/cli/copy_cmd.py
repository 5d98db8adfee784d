"""``distroless copy SRC DST`` between the store, registries, OCI layouts and tarballs."""

from __future__ import annotations

import click

from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.output import TerminalReporter
from distroless.oci.models import Platform
from distroless.registry_config import UserConfig
from distroless.store import Store
from distroless.transports.copy import copy as copy_image
from distroless.transports.registry import Registries


@click.command(
    "copy",
    epilog=examples(
        "distroless copy --all-platforms distroless/static oci:./layout:static",
        "distroless copy oci:./layout:static docker://127.0.0.1:5000/static:1",
        "distroless copy docker://127.0.0.1:5000/static:1 docker-archive:static.tar:static:1",
    ),
)
@click.argument("source")
@click.argument("destination")
@click.option("--platform", help="Platform to take from a multi-platform source (os/arch).")
@click.option("--all-platforms", "-a", is_flag=True, help="Copy every platform of an index.")
@click.option("--insecure-registry", multiple=True, help="Registry host to reach over plain HTTP.")
@pass_app
def copy_cmd(
    app: App,
    source: str,
    destination: str,
    platform: str | None,
    all_platforms: bool,
    insecure_registry: tuple[str, ...],
) -> None:
    """Copy an image: NAME, store:NAME, docker://REF, oci:DIR[:TAG], oci-archive:FILE[:NAME]
    or docker-archive:FILE[:NAME]."""
    store = Store(app.root_path)
    reporter = TerminalReporter()
    try:
        with Registries(UserConfig.load(), insecure=insecure_registry) as registries:
            desc, where = copy_image(
                store,
                source,
                destination,
                platform=Platform.parse(platform) if platform else None,
                all_platforms=all_platforms,
                registries=registries,
                reporter=reporter,
            )
    finally:
        reporter.close()
    click.echo(f"Copied {desc.digest} to {where}")
