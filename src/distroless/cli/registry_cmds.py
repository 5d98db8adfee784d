"""Registry commands: pull, push, login, logout."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

import click

from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples
from distroless.errors import UsageError
from distroless.oci.reference import Reference

if TYPE_CHECKING:
    from distroless.transports.registry import Registries

# The HTTP client and the config validator are imported when a command runs, not when the
# CLI starts: every other command would pay for them otherwise.

_mirror_option = click.option(
    "--registry-mirror",
    "mirrors",
    multiple=True,
    metavar="HOST[:PORT]|URL",
    help="Try this mirror before the registry (repeatable); adds to config.toml's mirrors.",
)
_insecure_option = click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Speak plain HTTP to this registry or mirror (repeatable).",
)


def _registries(ref: Reference, mirrors: tuple[str, ...], insecure: tuple[str, ...]) -> Registries:
    from distroless.registry_config import UserConfig
    from distroless.transports.registry import Registries

    config = UserConfig.load()
    if mirrors:
        config = config.with_mirrors(ref.registry, mirrors)
    return Registries(config, insecure=insecure)


@click.command(
    "pull",
    epilog=examples(
        "distroless pull 127.0.0.1:5000/hello:1",
        "distroless pull --platform linux/arm64 127.0.0.1:5000/hello:1",
    ),
)
@click.argument("reference")
@click.option("--platform", help="os/arch[/variant] to pull from a multi-platform image.")
@click.option("--all-platforms", is_flag=True, help="Keep the whole index, every platform.")
@_mirror_option
@_insecure_option
@click.option(
    "--no-referrers", is_flag=True, help="Leave the image's SBOMs, signatures and attestations."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def pull_cmd(
    app: App,
    reference: str,
    platform: str | None,
    all_platforms: bool,
    mirrors: tuple[str, ...],
    insecure: tuple[str, ...],
    no_referrers: bool,
    as_json: bool,
) -> None:
    """Pull REFERENCE from its registry into the local store.

    Its referrers (SBOMs, signatures, attestations) come along, and the policy of
    config.toml applies: an image it refuses is not pulled.
    """
    from distroless.cli.output import TerminalReporter, emit_json
    from distroless.oci.models import Platform
    from distroless.store import Store
    from distroless.transports.registry import pull

    if platform and all_platforms:
        raise UsageError("--platform and --all-platforms exclude each other")
    ref = Reference.parse(reference)
    reporter = TerminalReporter()
    try:
        with _registries(ref, mirrors, insecure) as regs:
            result = pull(
                Store(app.root_path),
                ref,
                platform=Platform.parse(platform) if platform else None,
                all_platforms=all_platforms,
                registries=regs,
                reporter=reporter,
                referrers=not no_referrers,
            )
    finally:
        reporter.close()
    data: dict[str, Any] = {
        "reference": str(result.reference),
        "name": result.name,
        "digest": result.descriptor.digest,
        "mediaType": result.descriptor.media_type,
        "endpoint": result.endpoint,
        "blobsFetched": result.blobs_fetched,
        "bytesFetched": result.bytes_fetched,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(f"{result.name or result.reference}: {result.descriptor.digest}")


@click.command(
    "push",
    epilog=examples(
        "distroless push my-distroless-app 127.0.0.1:5000/hello:1",
        "distroless push --no-referrers 127.0.0.1:5000/hello:1",
    ),
)
@click.argument("image")
@click.argument("reference", required=False)
@_insecure_option
@click.option(
    "--no-referrers",
    is_flag=True,
    help="Do not push the SBOMs, signatures and attestations attached to the image.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_app
def push_cmd(
    app: App,
    image: str,
    reference: str | None,
    insecure: tuple[str, ...],
    no_referrers: bool,
    as_json: bool,
) -> None:
    """Push IMAGE from the local store to REFERENCE (default: IMAGE's own name)."""
    from distroless.cli.output import TerminalReporter, emit_json
    from distroless.store import Store
    from distroless.transports.registry import push

    ref = Reference.parse(reference or image)
    reporter = TerminalReporter()
    try:
        with _registries(ref, (), insecure) as regs:
            result = push(
                Store(app.root_path),
                image,
                ref,
                registries=regs,
                reporter=reporter,
                referrers=not no_referrers,
            )
    finally:
        reporter.close()
    data = {
        "reference": str(result.reference),
        "digest": result.descriptor.digest,
        "mediaType": result.descriptor.media_type,
        "uploaded": result.uploaded,
        "mounted": result.mounted,
        "skipped": result.skipped,
        "bytesUploaded": result.bytes_uploaded,
        "referrers": result.referrers,
        "signatureTags": result.signature_tags,
    }
    if as_json:
        emit_json(data)
    else:
        click.echo(f"{result.reference}: {result.descriptor.digest}")


def _host(registry: str) -> str:
    """``host[:port]`` from what a user typed (a URL is accepted, docker-style)."""
    host = re.sub(r"^[a-z]+://", "", registry.strip()).split("/", 1)[0]
    if "@" in host:
        # Not quoted back: the part before '@' is a password more often than not.
        raise UsageError(
            "give the registry as host[:port] without credentials in it; "
            "use --username and --password-stdin"
        )
    if not host:
        raise UsageError(f"{registry!r} is not a registry host[:port]")
    # Normalise the default registry's legacy names the way references do.
    return Reference.parse(f"{host}/x").registry if "." in host or ":" in host else host


@click.command(
    "login",
    epilog=examples(
        "distroless login -u me 127.0.0.1:5000",
        'echo "$TOKEN" | distroless login -u ci --password-stdin registry.example',
    ),
)
@click.argument("registry")
@click.option("-u", "--username", help="User name (prompted for when omitted).")
@click.option("-p", "--password", help="Password; prefer --password-stdin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_insecure_option
def login_cmd(
    registry: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    insecure: tuple[str, ...],
) -> None:
    """Check credentials with REGISTRY and save them for pull and push."""
    from distroless.registry_config import UserConfig
    from distroless.transports.registry import login

    if password and password_stdin:
        raise UsageError("--password and --password-stdin exclude each other")
    if password_stdin:
        if not username:
            raise UsageError("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    host = _host(registry)
    insecure_config = UserConfig.load().with_insecure(*insecure)
    path = login(host, username, password, insecure=insecure_config.is_insecure(host))
    click.echo(f"Login succeeded; credentials saved in {path}")


@click.command(
    "logout",
    epilog=examples("distroless logout 127.0.0.1:5000", "distroless logout registry.example"),
)
@click.argument("registry")
def logout_cmd(registry: str) -> None:
    """Forget the saved credentials of REGISTRY."""
    from distroless.registry_config import auth_path
    from distroless.transports.registry import logout

    host = _host(registry)
    if logout(host):
        click.echo(f"Removed the login of {host}")
    else:
        click.echo(f"Not logged in to {host} (nothing in {auth_path()})")
