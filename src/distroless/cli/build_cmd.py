"""``distroless build``: from a spec file (``--spec``) or a Dockerfile."""

from __future__ import annotations

from pathlib import Path

import click

from distroless.assemble.spec_build import build_spec
from distroless.assemble.time import source_date_epoch
from distroless.cli.context import App, pass_app
from distroless.cli.output import TerminalReporter
from distroless.errors import UsageError
from distroless.oci.models import Platform
from distroless.spec import load_spec
from distroless.store import Store


@click.command()
@click.argument("context", required=False, type=click.Path(file_okay=False))
@click.option(
    "--spec", "spec_file", type=click.Path(dir_okay=False), help="Declarative image spec."
)
@click.option("-t", "--tag", "tags", multiple=True, help="Name for the image (repeatable).")
@click.option("--platform", "platforms", multiple=True, help="os/arch to build (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the image digest.")
@pass_app
def build(
    app: App,
    context: str | None,
    spec_file: str | None,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    quiet: bool,
) -> None:
    """Build an image from a spec file (--spec) or from a Dockerfile in CONTEXT."""
    if spec_file is None:
        raise UsageError("give --spec FILE (Dockerfile builds need a CONTEXT directory)")
    spec = load_spec(Path(spec_file))
    store = Store(app.root_path)
    reporter = TerminalReporter()
    try:
        with store.session():
            desc = build_spec(
                store,
                spec,
                platforms=[Platform.parse(p) for p in platforms],
                source_date_epoch=source_date_epoch(),
                reporter=reporter,
            )
            for name in tags or spec.tags:
                store.tag(name, desc)
    finally:
        reporter.close()
    click.echo(desc.digest if quiet else f"Built {desc.digest}")
