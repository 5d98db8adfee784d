"""``distroless build`` (from a spec file or a Dockerfile) and ``distroless lock``."""

from __future__ import annotations

from pathlib import Path

import click

from distroless.assemble.spec_build import build_spec, platforms_of
from distroless.assemble.time import source_date_epoch
from distroless.cli.context import App, pass_app
from distroless.cli.output import TerminalReporter
from distroless.debian.provider import PackageSource, SpecPackages, spec_inputs
from distroless.errors import UsageError
from distroless.oci.models import Platform
from distroless.spec import load_spec
from distroless.store import Store

mirror_option = click.option(
    "--mirror",
    envvar="DISTROLESS_MIRROR",
    help="Debian mirror URL (default: the host's apt sources).",
)


@click.command()
@click.argument("context", required=False, type=click.Path(file_okay=False))
@click.option(
    "--spec", "spec_file", type=click.Path(dir_okay=False), help="Declarative image spec."
)
@click.option("-t", "--tag", "tags", multiple=True, help="Name for the image (repeatable).")
@click.option("--platform", "platforms", multiple=True, help="os/arch to build (repeatable).")
@mirror_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the image digest.")
@pass_app
def build(
    app: App,
    context: str | None,
    spec_file: str | None,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    mirror: str | None,
    quiet: bool,
) -> None:
    """Build an image from a spec file (--spec) or from a Dockerfile in CONTEXT."""
    if spec_file is None:
        raise UsageError("give --spec FILE (Dockerfile builds need a CONTEXT directory)")
    spec = load_spec(Path(spec_file))
    store = Store(app.root_path)
    reporter = TerminalReporter()
    chosen = platforms_of(spec, [Platform.parse(p) for p in platforms])
    source = PackageSource(
        app.cache_path, mirror=mirror, repositories=spec.repositories, reporter=reporter
    )
    try:
        with store.session():
            desc = build_spec(
                store,
                spec,
                package_layers=SpecPackages(source, [p.architecture for p in chosen]),
                platforms=chosen,
                source_date_epoch=source_date_epoch(),
                reporter=reporter,
            )
            for name in tags or spec.tags:
                store.tag(name, desc)
    finally:
        source.close()
        reporter.close()
    click.echo(desc.digest if quiet else f"Built {desc.digest}")


@click.command()
@click.argument("spec_file", type=click.Path(dir_okay=False))
@mirror_option
@pass_app
def lock(app: App, spec_file: str, mirror: str | None) -> None:
    """Resolve the spec's packages and write SPEC.lock.json beside it."""
    spec = load_spec(Path(spec_file))
    archs = [p.architecture for p in platforms_of(spec)]
    reporter = TerminalReporter()
    source = PackageSource(
        app.cache_path, mirror=mirror, repositories=spec.repositories, reporter=reporter
    )
    try:
        result = source.lock(spec_inputs(spec, archs))
    finally:
        source.close()
        reporter.close()
    result.write(spec.lock_path)
    count = sum(len(p) for p in result.archs.values())
    click.echo(f"Wrote {spec.lock_path} ({count} packages for {', '.join(sorted(result.archs))})")
