"""``distroless run``: start an image's entrypoint in a sandbox, docker-style flags."""

from __future__ import annotations

import click

from distroless.cli.context import App, pass_app
from distroless.errors import UsageError


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--rm", "remove", is_flag=True, help="Remove the container's state when it exits.")
@click.option(
    "-e", "--env", "env", multiple=True, metavar="K=V", help="Set an environment variable."
)
@click.option("-u", "--user", metavar="USER[:GROUP]", help="User (name or uid) to run as.")
@click.option("-w", "--workdir", metavar="DIR", help="Working directory inside the container.")
@click.option(
    "-v",
    "--volume",
    "volumes",
    multiple=True,
    metavar="SRC:DST[:ro]",
    help="Bind-mount a host path.",
)
@click.option(
    "--network",
    type=click.Choice(["private", "host", "none"]),
    default="private",
    show_default=True,
    help="private: own namespace, outbound access only (slirp4netns); none: loopback "
    "only; host: the host's network (loopback services, ports, traffic).",
)
@click.option(
    "--security-opt",
    "security_opts",
    multiple=True,
    metavar="seccomp=unconfined",
    help="Turn the default seccomp filter off (no-new-privileges is always on).",
)
@click.option("--entrypoint", metavar="CMD", help="Override the image's entrypoint.")
@click.option("--name", metavar="NAME", help="Container name (default: a random id).")
@click.option("--runtime", type=click.Choice(["runc", "crun"]), default="runc", show_default=True)
@click.option(
    "-i", "--interactive", is_flag=True, help="Accepted for docker parity: stdin always passes."
)
@click.option("-t", "--tty", is_flag=True, hidden=True)
@click.argument("image")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def run(
    app: App,
    remove: bool,
    env: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    volumes: tuple[str, ...],
    network: str,
    security_opts: tuple[str, ...],
    entrypoint: str | None,
    name: str | None,
    runtime: str,
    interactive: bool,
    tty: bool,
    image: str,
    args: tuple[str, ...],
) -> None:
    """Run IMAGE's entrypoint (with ARGs as its command); the exit code passes through."""
    from distroless.runtime.container import run_image
    from distroless.runtime.options import (
        RunOptions,
        check_network,
        parse_env,
        parse_security_opts,
        parse_volume,
    )
    from distroless.store import Store

    if tty:
        raise UsageError("-t/--tty is not supported: containers run without a terminal")
    if image.startswith("-"):
        raise UsageError(f"unknown option {image!r} before the image name")
    options = RunOptions(
        args=args,
        entrypoint=None if entrypoint is None else ((entrypoint,) if entrypoint else ()),
        env=parse_env(env),
        user=user,
        workdir=workdir,
        mounts=tuple(parse_volume(v) for v in volumes),
        network=check_network(network),
        seccomp=parse_security_opts(security_opts),
        name=name,
        runtime=runtime,
        remove=remove,
    )
    code = run_image(Store(app.root_path), image, options)
    if code:
        raise click.exceptions.Exit(code)
