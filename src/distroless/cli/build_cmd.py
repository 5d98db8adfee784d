"""``distroless build`` (from a spec file or a Dockerfile) and ``distroless lock``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from distroless.assemble.time import source_date_epoch
from distroless.assignments import parse_assignments
from distroless.cli.build_outputs import Exporting, exporting_options, parse_exporting
from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.cli.options import mirror_option, progress_option
from distroless.cli.output import ProgressMode, TerminalReporter, emit_json
from distroless.errors import UsageError
from distroless.oci.models import Platform
from distroless.store import Store

if TYPE_CHECKING:
    from distroless.build import BuildOutcome, BuildRequest
    from distroless.sign.keys import PrivateKey
    from distroless.transports.registry.push import PushResult

# The builder, spec and Debian modules are imported where they are used: a cached
# Dockerfile build should not pay for loading the package resolver.

json_option = click.option(
    "--json", "as_json", is_flag=True,
    help="Events as JSON lines on stderr, the result as JSON on stdout.",
)  # fmt: skip


class _BuildCommand(click.Command):
    """Reads buildx's ``--provenance=true|false`` as ``--provenance`` / ``--no-provenance``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, [_provenance_flag(a) for a in args])


def _provenance_flag(arg: str) -> str:
    name, eq, value = arg.partition("=")
    if name != "--provenance" or not eq:
        return arg
    if value.lower() in ("true", "1"):
        return "--provenance"
    if value.lower() in ("false", "0"):
        return "--no-provenance"
    raise UsageError(
        f"invalid {arg!r}: give --provenance=true or false (the statement always holds "
        "everything BuildKit's mode=max does, without secrets)"
    )


@click.command(
    cls=_BuildCommand,
    epilog=examples(
        "distroless build -t my-distroless-app examples/hello-go",
        "distroless build --spec image.yaml -t my-spec-app",
        "distroless build --platform linux/amd64,linux/arm64 -t hello-multiarch"
        " examples/hello-go-multiarch",
    ),
)
@exporting_options
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
@click.option(
    "--isolation", type=click.Choice(["auto", "oci", "chroot"]), default="auto",
    show_default=True,
    help="How RUN steps are confined: oci (runc in namespaces over an overlay) or chroot "
    "(no namespaces, for unprivileged containers; shares their network and processes). "
    "auto takes chroot only where namespaces are refused.",
)  # fmt: skip
@click.option("--target", help="Build only up to this stage (default: the last one).")
@click.option(
    "--platform", "platforms", multiple=True, metavar="os/arch[/variant][,...]",
    help="Platform to build for (default: this host's). Several (a comma list, or the "
    "flag repeated) build one image each and store one index; RUN steps of a foreign "
    "platform run under QEMU user emulation (binfmt_misc).",
)  # fmt: skip
@click.option("--no-cache", is_flag=True, help="Execute every step; ignore the build cache.")
@click.option(
    "--pull", is_flag=True,
    help="Take every FROM image from its registry (or mirror), even when stored or built in.",
)  # fmt: skip
@click.option(
    "--registry-mirror", "registry_mirrors", multiple=True, metavar="HOST[:PORT]",
    help="Try this mirror before the default registry for FROM images (repeatable).",
)  # fmt: skip
@click.option(
    "--cache-to", "cache_to", metavar="type=registry,ref=REF[,mode=min|max]|type=local,dest=DIR",
    help="Export the build cache to a registry or a directory, for other machines.",
)  # fmt: skip
@click.option(
    "--cache-from", "cache_from", multiple=True, metavar="type=registry,ref=REF|type=local,src=DIR",
    help="Use the build cache another machine exported (repeatable).",
)  # fmt: skip
@mirror_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the image digest.")
@progress_option
@json_option
@click.option(
    "--sbom/--no-sbom", default=True, show_default=True,
    help="Attach an SPDX SBOM to the built image (pushed as an OCI referrer).",
)  # fmt: skip
@click.option(
    "--provenance/--no-provenance", default=None,
    help="Attach SLSA provenance: the bases, Dockerfile, context and build args by digest "
    "(default: on when the build pushes). --provenance=true|false as in buildx.",
)  # fmt: skip
@click.option(
    "--provenance-key", type=click.Path(dir_okay=False, path_type=Path),
    help="Sign the provenance (DSSE) with this cosign private key; implies --provenance.",
)  # fmt: skip
@click.option(
    "--key-passphrase-file", type=click.Path(dir_okay=False, path_type=Path),
    help="Read the passphrase of --provenance-key from this file.",
)  # fmt: skip
@pass_app
def build(
    app: App,
    /,
    context: str | None,
    spec_file: str | None,
    dockerfile: str | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    secrets: tuple[str, ...],
    allow: tuple[str, ...],
    isolation: str,
    target: str | None,
    platforms: tuple[str, ...],
    no_cache: bool,
    pull: bool,
    registry_mirrors: tuple[str, ...],
    cache_to: str | None,
    cache_from: tuple[str, ...],
    mirror: str | None,
    quiet: bool,
    progress: str,
    as_json: bool,
    sbom: bool,
    provenance: bool | None,
    provenance_key: Path | None,
    key_passphrase_file: Path | None,
    **exporting_flags: Any,
) -> None:
    """Build an image from a Dockerfile in CONTEXT, or from a spec file (--spec).

    \b
    A build that pushes (--push, -o type=registry) attaches SLSA provenance unless
    --provenance=false, as buildx does.
    """
    exporting = parse_exporting(tags=tags, **exporting_flags)
    output = _Output(quiet=quiet, progress=progress, as_json=as_json, exporting=exporting)
    if provenance is False and provenance_key is not None:
        raise UsageError("--provenance-key signs the provenance that --provenance=false turns off")
    with_provenance = provenance_key is not None or (
        exporting.pushes if provenance is None else provenance
    )
    if spec_file is not None:
        if context is not None:
            raise UsageError("give either --spec FILE or a CONTEXT directory, not both")
        for flag, given in (
            ("-f", dockerfile), ("--build-arg", build_args), ("--target", target),
            ("--secret", secrets), ("--pull", pull), ("--allow", allow),
            ("--isolation", isolation != "auto"),
            ("--cache-to", cache_to), ("--cache-from", cache_from),
            *((f, True) for f in exporting.dockerfile_only()),
        ):  # fmt: skip
            if given:
                raise UsageError(f"{flag} applies to Dockerfile builds, not to --spec")
        _build_spec(
            app, spec_file, tags, platforms, mirror, output, sbom=sbom,
            registry_mirrors=registry_mirrors,
            provenance=with_provenance,
            provenance_key=provenance_key, key_passphrase_file=key_passphrase_file,
        )  # fmt: skip
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
        isolation=isolation,
        target=target,
        platforms=platforms,
        no_cache=no_cache,
        pull=pull,
        registry_mirrors=registry_mirrors,
        cache_to=cache_to,
        cache_from=cache_from,
        mirror=mirror,
        output=output,
        sbom=sbom,
        provenance=with_provenance,
        provenance_key=provenance_key,
        key_passphrase_file=key_passphrase_file,
    )


class _Output:
    """How a build talks: ``-q``, ``--progress`` and ``--json`` together."""

    def __init__(
        self, *, quiet: bool, progress: str, as_json: bool, exporting: Exporting | None = None
    ) -> None:
        self.quiet = quiet
        self.as_json = as_json
        self.exporting = exporting or Exporting()
        mode: ProgressMode = "json" if as_json else progress  # type: ignore[assignment]
        self.mode = mode

    def reporter(self) -> TerminalReporter:
        return _QuietSteps(mode=self.mode) if self.quiet else TerminalReporter(mode=self.mode)

    @property
    def run_output_to_stderr(self) -> bool:
        """RUN output shows in the build log unless the log is quiet or machine-read."""
        return not self.quiet and self.mode in ("auto", "plain", "tty")


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


def parse_platforms(items: tuple[str, ...]) -> tuple[Platform, ...]:
    """``--platform`` values: each a comma list (buildx's form), repeats allowed."""
    platforms: list[Platform] = []
    for item in items:
        for part in item.split(","):
            if not part.strip():
                raise UsageError(f"invalid --platform {item!r}: an empty entry in the list")
            platforms.append(Platform.parse(part))
    return tuple(dict.fromkeys(platforms))


def _build(app: App, request: BuildRequest, output: _Output) -> None:
    from distroless.build import build_image

    reporter = output.reporter()
    try:
        outcome = build_image(Store(app.root_path), request, reporter)
    finally:
        reporter.close()
    _write_build_files(app, outcome, output.exporting)
    pushed = _push(app, outcome, output)
    digest = outcome.descriptor.digest
    err = output.exporting.to_stdout  # stdout carries an --output: our lines go to stderr
    if output.as_json:
        emit_json(
            {
                "digest": str(digest),
                "mediaType": outcome.descriptor.media_type,
                "tags": list(outcome.tags),
                "sboms": [str(d.digest) for d in outcome.sboms],
                "provenance": str(outcome.provenance.digest) if outcome.provenance else None,
                "pushed": [
                    {"reference": str(p.reference), "referrers": p.referrers} for p in pushed
                ],
            },
            err=err,
        )
        return
    click.echo(digest if output.quiet else f"Built {digest}", err=err)
    if not output.quiet:
        for result in pushed:
            click.echo(f"Pushed {result.reference}: {result.descriptor.digest}", err=err)


def _push(app: App, outcome: BuildOutcome, output: _Output) -> list[PushResult]:
    """``--push`` / ``type=registry``: the stored image and its referrers, to each name."""
    if not output.exporting.pushes:
        return []
    from distroless.exporters.registry import push_built
    from distroless.registry_config import UserConfig
    from distroless.transports.registry import Registries

    reporter = output.reporter()
    try:
        with Registries(UserConfig.load()) as regs:
            return push_built(
                Store(app.root_path),
                outcome.descriptor,
                output.exporting.push_to,
                registries=regs,
                reporter=reporter,
            )
    finally:
        reporter.close()


def _write_build_files(app: App, outcome: BuildOutcome, exporting: Exporting) -> None:
    """``--iidfile`` and ``--metadata-file``, once the image is stored."""
    if exporting.iidfile is None and exporting.metadata_file is None:
        return
    from distroless.exporters.metadata import write_iidfile, write_metadata_file

    store = Store(app.root_path)
    if exporting.iidfile is not None:
        write_iidfile(store, outcome.descriptor, exporting.iidfile)
    if exporting.metadata_file is not None:
        write_metadata_file(store, outcome.descriptor, outcome.tags, exporting.metadata_file)


def _build_dockerfile(
    app: App,
    context: Path,
    *,
    dockerfile: Path | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    secrets: tuple[str, ...] = (),
    allow: tuple[str, ...] = (),
    isolation: str = "auto",
    target: str | None,
    platforms: tuple[str, ...],
    no_cache: bool,
    pull: bool = False,
    registry_mirrors: tuple[str, ...] = (),
    cache_to: str | None = None,
    cache_from: tuple[str, ...] = (),
    mirror: str | None,
    output: _Output,
    sbom: bool = True,
    provenance: bool = False,
    provenance_key: Path | None = None,
    key_passphrase_file: Path | None = None,
) -> None:
    from distroless.build import DockerfileRequest
    from distroless.dockerfile.cache_flags import parse_cache_from, parse_cache_to
    from distroless.dockerfile.secrets import load_secrets

    key = _provenance_key(provenance_key, key_passphrase_file)
    args = parse_assignments(build_args, what="--build-arg")
    sde = source_date_epoch()
    warm = None
    if not (no_cache or pull or secrets or cache_to or cache_from or output.exporting.given):
        from distroless.warm import WarmInputs

        warm = WarmInputs(
            context=str(context),
            dockerfile=str(dockerfile) if dockerfile is not None else None,
            build_args=args,
            target=target,
            platform=platforms[0] if platforms else None,
            sbom=sbom,
            source_date_epoch=sde,
        )
    request = DockerfileRequest(
        context=context,
        dockerfile=dockerfile,
        tags=tags,
        build_args=args,
        secrets=load_secrets(secrets),
        allow=frozenset(allow),
        isolation=isolation,
        target=target,
        platforms=parse_platforms(platforms),
        no_cache=no_cache,
        pull=pull,
        registry_mirrors=registry_mirrors,
        sbom=sbom,
        source_date_epoch=sde,
        package_cache=app.cache_path,
        mirror=mirror,
        run_output=_stderr_fd() if output.run_output_to_stderr else None,
        provenance=provenance,
        provenance_key=key,
        cache_from=tuple(parse_cache_from(c) for c in cache_from),
        cache_to=parse_cache_to(cache_to) if cache_to is not None else None,
        warm=warm,
        **_exporting_fields(output.exporting),
        ssh=output.exporting.ssh,
        build_contexts=output.exporting.build_contexts,
    )
    _build(app, request, output)


def _exporting_fields(exporting: Exporting) -> dict[str, Any]:
    """The request fields of the exporting flags both kinds of build take."""
    return {
        "labels": exporting.labels,
        "outputs": exporting.outputs,
        "stdout": sys.stdout.buffer if exporting.to_stdout else None,
    }


def _provenance_key(path: Path | None, passphrase_file: Path | None) -> PrivateKey | None:
    if path is None:
        return None
    from distroless.cli.sign_cmds import load_private

    return load_private(path, passphrase_file)


def _build_spec(
    app: App,
    spec_file: str,
    tags: tuple[str, ...],
    platforms: tuple[str, ...],
    mirror: str | None,
    output: _Output,
    *,
    sbom: bool = True,
    registry_mirrors: tuple[str, ...] = (),
    provenance: bool = False,
    provenance_key: Path | None = None,
    key_passphrase_file: Path | None = None,
) -> None:
    from distroless.build import SpecRequest

    request = SpecRequest(
        provenance=provenance,
        provenance_key=_provenance_key(provenance_key, key_passphrase_file),
        spec=Path(spec_file),
        tags=tags,
        platforms=parse_platforms(platforms),
        sbom=sbom,
        source_date_epoch=source_date_epoch(),
        package_cache=app.cache_path,
        mirror=mirror,
        registry_mirrors=registry_mirrors,
        **_exporting_fields(output.exporting),
    )
    _build(app, request, output)


@click.command(
    epilog=examples(
        "distroless lock image.yaml",
        "distroless lock --progress plain --mirror http://127.0.0.1:8000/debian image.yaml",
    )
)
@click.argument("spec_file", type=click.Path(dir_okay=False))
@mirror_option
@progress_option
@pass_app
def lock(app: App, spec_file: str, mirror: str | None, progress: str) -> None:
    """Resolve the spec's packages and wheels and write SPEC.lock.json beside it."""
    from distroless.build import SpecRequest, lock_spec_file

    request = SpecRequest(
        spec=Path(spec_file),
        source_date_epoch=source_date_epoch(),
        package_cache=app.cache_path,
        mirror=mirror,
    )
    reporter = TerminalReporter(mode=progress)  # type: ignore[arg-type]
    try:
        path, result = lock_spec_file(Store(app.root_path), request, reporter)
    finally:
        reporter.close()
    count = sum(len(p) for p in result.archs.values())
    wheels = ""
    python = result.sections.get("python")
    if isinstance(python, dict):
        total = sum(len(a.get("wheels", [])) for a in python.values() if isinstance(a, dict))
        wheels = f", {total} wheels"
    archs = ", ".join(sorted(result.archs))
    click.echo(f"Wrote {path} ({count} packages{wheels} for {archs})")
