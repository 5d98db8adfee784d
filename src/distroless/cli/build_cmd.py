"""``distroless build`` (from a spec file or a Dockerfile) and ``distroless lock``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from distroless.assemble.time import source_date_epoch
from distroless.cli.context import App, pass_app
from distroless.cli.output import TerminalReporter
from distroless.dockerfile.resolve_base import BaseBuilder, DistrolessBase, Puller
from distroless.errors import UsageError
from distroless.oci.models import Descriptor, Platform
from distroless.store import Store
from distroless.store.store import normalize_name

# The spec and Debian modules are imported where they are used: a cached Dockerfile build
# should not pay for loading the package resolver.

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
@click.option(
    "-f", "--file", "dockerfile", type=click.Path(dir_okay=False),
    help="Dockerfile to build (default: CONTEXT/Dockerfile).",
)  # fmt: skip
@click.option("-t", "--tag", "tags", multiple=True, help="Name for the image (repeatable).")
@click.option("--build-arg", "build_args", multiple=True, help="Set a build ARG: KEY=VALUE.")
@click.option(
    "--secret", "secrets", multiple=True, metavar="id=NAME[,src=FILE|env=VAR]",
    help="Give RUN --mount=type=secret a value (repeatable); never stored in the image.",
)  # fmt: skip
@click.option(
    "--allow", "allow", multiple=True, metavar="network.host",
    help="Let RUN --network=host share the host's network (BuildKit's entitlement).",
)  # fmt: skip
@click.option("--target", help="Build only up to this stage (default: the last one).")
@click.option("--platform", "platforms", multiple=True, help="os/arch to build (repeatable).")
@click.option("--no-cache", is_flag=True, help="Execute every step; ignore the build cache.")
@click.option(
    "--pull", is_flag=True,
    help="Take every FROM image from its registry (or mirror), even when stored or built in.",
)  # fmt: skip
@click.option(
    "--registry-mirror", "registry_mirrors", multiple=True, metavar="HOST[:PORT]",
    help="Try this mirror before the default registry for FROM images (repeatable).",
)  # fmt: skip
@mirror_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the image digest.")
@click.option(
    "--sbom/--no-sbom", default=True, show_default=True,
    help="Attach an SPDX SBOM to the built image (pushed as an OCI referrer).",
)  # fmt: skip
@pass_app
def build(
    app: App,
    context: str | None,
    spec_file: str | None,
    dockerfile: str | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    secrets: tuple[str, ...],
    allow: tuple[str, ...],
    target: str | None,
    platforms: tuple[str, ...],
    no_cache: bool,
    pull: bool,
    registry_mirrors: tuple[str, ...],
    mirror: str | None,
    quiet: bool,
    sbom: bool,
) -> None:
    """Build an image from a Dockerfile in CONTEXT, or from a spec file (--spec)."""
    if spec_file is not None:
        if context is not None:
            raise UsageError("give either --spec FILE or a CONTEXT directory, not both")
        for flag, given in (
            ("-f", dockerfile), ("--build-arg", build_args), ("--target", target),
            ("--secret", secrets), ("--pull", pull), ("--registry-mirror", registry_mirrors),
            ("--allow", allow),
        ):  # fmt: skip
            if given:
                raise UsageError(f"{flag} applies to Dockerfile builds, not to --spec")
        _build_spec(app, spec_file, tags, platforms, mirror, quiet, sbom=sbom)
        return
    if context is None:
        raise UsageError("give a CONTEXT directory (Dockerfile build) or --spec FILE")
    _build_dockerfile(
        app,
        Path(context),
        dockerfile=Path(dockerfile) if dockerfile else None,
        tags=tags,
        build_args=build_args,
        secrets=secrets,
        allow=allow,
        target=target,
        platforms=platforms,
        no_cache=no_cache,
        pull=pull,
        registry_mirrors=registry_mirrors,
        mirror=mirror,
        quiet=quiet,
        sbom=sbom,
    )


class _QuietSteps(TerminalReporter):
    """``--quiet``: progress bars still show on a terminal, but no step log lines."""

    def event(self, kind: str, **data: Any) -> None:
        if kind != "step":
            super().event(kind, **data)


def _stderr_fd() -> int | None:
    """RUN output goes straight to our stderr when it is a real file descriptor."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _parse_build_args(items: tuple[str, ...]) -> dict[str, str]:
    """``K=V`` sets; a bare ``K`` takes the value from the environment (docker's rule)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}: expected KEY=VALUE")
        if sep:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def _build_dockerfile(
    app: App,
    context: Path,
    *,
    dockerfile: Path | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    secrets: tuple[str, ...] = (),
    allow: tuple[str, ...] = (),
    target: str | None,
    platforms: tuple[str, ...],
    no_cache: bool,
    pull: bool = False,
    registry_mirrors: tuple[str, ...] = (),
    mirror: str | None,
    quiet: bool,
    sbom: bool = True,
) -> None:
    from distroless.dockerfile.executor import ENTITLEMENTS, BuildOptions, build_dockerfile
    from distroless.dockerfile.resolve_base import BaseResolver
    from distroless.dockerfile.secrets import load_secrets

    if len(platforms) > 1:
        raise UsageError("Dockerfile builds take one --platform at a time")
    if not context.is_dir():
        raise UsageError(f"build context {str(context)!r} is not a directory")
    for tag in tags:
        normalize_name(tag)  # a bad -t fails before any work is done
    for entitlement in allow:
        if entitlement not in ENTITLEMENTS:
            raise UsageError(
                f"unknown --allow {entitlement!r}: the entitlements are {', '.join(ENTITLEMENTS)}"
            )
    options = BuildOptions(
        context=context,
        dockerfile=dockerfile,
        build_args=_parse_build_args(build_args),
        secrets=load_secrets(secrets),
        allow=frozenset(allow),
        target=target,
        platform=Platform.parse(platforms[0]) if platforms else None,
        no_cache=no_cache,
        source_date_epoch=source_date_epoch(),
        run_output=None if quiet else _stderr_fd(),
    )
    store = Store(app.root_path)
    reporter = _QuietSteps() if quiet else TerminalReporter()
    try:
        resolver = BaseResolver(
            store,
            base_builder=_base_builder(app, store, mirror, reporter),
            puller=_puller(store, reporter, registry_mirrors),
            reporter=reporter,
            pull=pull,
        )
        with store.session():
            result = build_dockerfile(store, options, resolver=resolver, reporter=reporter)
            if sbom:
                from distroless.verify.attach import attach_sbom

                # the files the final stage's COPY/ADD wrote, hashed from the built image
                attach_sbom(
                    store,
                    result.descriptor,
                    added_files=list(result.added_files),
                    source_date_epoch=options.source_date_epoch,
                )
            for name in tags:
                store.tag(name, result.descriptor)
    finally:
        reporter.close()
    click.echo(result.descriptor.digest if quiet else f"Built {result.descriptor.digest}")


def _base_builder(
    app: App, store: Store, mirror: str | None, reporter: TerminalReporter
) -> BaseBuilder:
    """Builds a ``FROM gcr.io/distroless/...`` base from its built-in recipe and lock.

    The bases and Debian modules load only when a base is actually missing.
    """

    def build(base: DistrolessBase, image: str, platform: Platform) -> Descriptor:
        from distroless.bases.build import ProviderDebs, build_bases
        from distroless.bases.locks import read_lock
        from distroless.bases.recipe import DEFAULT_DISTRO, Recipes
        from distroless.debian.provider import PackageSource

        distro = base.distro or DEFAULT_DISTRO
        recipes = Recipes.builtin()
        recipe = recipes.get(base.name, distro)
        lock = read_lock(recipes, distro)
        source = PackageSource(app.cache_path, mirror=mirror, reporter=reporter)
        try:
            built = build_bases(
                store,
                ProviderDebs(source),
                [recipe],
                [(base.name, (base.tag,))],
                lock,
                archs=(platform.architecture,),
                source_date_epoch=source_date_epoch(),
                reporter=reporter,
            )
        finally:
            source.close()
        return built[0].descriptor

    return build


def _puller(store: Store, reporter: TerminalReporter, mirrors: tuple[str, ...] = ()) -> Puller:
    """Pull from a registry once, quickly: a machine without registry access fails fast.

    ``mirrors`` (``--registry-mirror``) serve the default registry, as docker's daemon does.
    """

    def pull_image(image: str, platform: Platform) -> Descriptor:
        from distroless.config import UserConfig
        from distroless.oci.reference import DEFAULT_REGISTRY
        from distroless.transports.registry.client import RetryPolicy
        from distroless.transports.registry.endpoints import Registries
        from distroless.transports.registry.pull import pull

        config = UserConfig.load()
        if mirrors:
            config = config.with_mirrors(DEFAULT_REGISTRY, mirrors)
        with Registries(config, retry=RetryPolicy(attempts=1), timeout=20.0) as regs:
            result = pull(store, image, platform=platform, registries=regs, reporter=reporter)
        return result.descriptor

    return pull_image


def _build_spec(
    app: App,
    spec_file: str,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    mirror: str | None,
    quiet: bool,
    *,
    sbom: bool = True,
) -> None:
    from distroless.assemble.spec_build import build_spec, platforms_of
    from distroless.debian.provider import PackageSource, SpecPackages
    from distroless.spec import load_spec

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
            if sbom:
                from distroless.verify.attach import attach_sbom

                # the files: entries with content, by path; hashed from the built image
                added = [f.dst for f in spec.files if f.src is not None or f.content is not None]
                attach_sbom(store, desc, added_files=added, source_date_epoch=source_date_epoch())
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
    from distroless.assemble.spec_build import platforms_of
    from distroless.debian.provider import PackageSource, spec_inputs
    from distroless.spec import load_spec

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
