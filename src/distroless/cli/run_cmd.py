"""``distroless run``: start an image's entrypoint in a sandbox, docker-style flags."""

from __future__ import annotations

import sys

import click

from distroless.cli.context import App, pass_app
from distroless.errors import UsageError

RUN_EXAMPLES = """\b
Examples:
  distroless run --rm my-distroless-app
  distroless run -it --rm distroless/static:debug
  distroless run -d --name web --network host distroless/python3 -m http.server 8000
"""


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog=RUN_EXAMPLES,
)
@click.option("--rm", "remove", is_flag=True, help="Remove the container's state when it exits.")
@click.option(
    "-d", "--detach", is_flag=True, help="Run in the background and print the container's id."
)
@click.option(
    "-i", "--interactive", is_flag=True, help="Keep stdin open and pass it to the container."
)
@click.option("-t", "--tty", is_flag=True, help="Give the container a pseudo-terminal.")
@click.option(
    "--init", "use_init", is_flag=True,
    help="Run a tiny init (the host's static tini) as PID 1 to reap zombies and pass signals.",
)  # fmt: skip
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
    "--platform", metavar="os/arch[/variant]",
    help="Platform to take from a multi-platform image (default: this host's); a foreign "
    "one runs under QEMU user emulation when binfmt_misc has it registered.",
)  # fmt: skip
@click.argument("image")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@pass_app
def run(
    app: App,
    remove: bool,
    detach: bool,
    interactive: bool,
    tty: bool,
    use_init: bool,
    env: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    volumes: tuple[str, ...],
    network: str,
    security_opts: tuple[str, ...],
    entrypoint: str | None,
    name: str | None,
    runtime: str,
    platform: str | None,
    image: str,
    args: tuple[str, ...],
) -> None:
    """Run IMAGE's entrypoint (with ARGs as its command); the exit code passes through.

    In the foreground the container's exit code is ours; with -d its id is printed and
    `distroless ps`, `logs`, `exec`, `stop` and `rm` take it from there.
    """
    import subprocess

    from distroless.oci.models import Platform
    from distroless.runtime.container import run_detached, run_image
    from distroless.runtime.options import (
        RunOptions,
        check_network,
        parse_env,
        parse_security_opts,
        parse_volume,
    )
    from distroless.store import Store

    if tty and interactive and not detach and not sys.stdin.isatty():
        raise UsageError("the input device is not a TTY; drop -t, or run from a terminal")
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
        tty=tty,
        init=use_init,
    )
    chosen = Platform.parse(platform) if platform is not None else None
    store = Store(app.root_path)
    if detach:
        click.echo(run_detached(store, image, options, interactive=interactive, platform=chosen))
        return
    if tty:
        stdin: int | None = 0 if interactive else None
    else:
        stdin = None if interactive else subprocess.DEVNULL
    code = run_image(store, image, options, stdin=stdin, platform=chosen)
    if code:
        raise click.exceptions.Exit(code)
