"""``distroless debug``: a toolbox shell in an image or a running container."""

from __future__ import annotations

import sys

import click

from distroless.cli.context import App, pass_app
from distroless.errors import NotFoundError, UsageError

DEBUG_EXAMPLES = """\b
Examples:
  distroless debug my-distroless-app
  distroless debug web
  distroless debug web cat /proc/1/environ
"""


@click.command(
    "debug",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog=DEBUG_EXAMPLES,
)
@click.option("-e", "--env", "env", multiple=True, metavar="K=V", help="Set a variable (image).")
@click.option("-u", "--user", metavar="USER[:GROUP]", help="User to run as (image).")
@click.option(
    "--network",
    type=click.Choice(["private", "host", "none"]),
    default="private",
    show_default=True,
    help="Network of a debugged image (a container's own is always shared).",
)
@click.argument("target")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_app
def debug(
    app: App,
    env: tuple[str, ...],
    user: str | None,
    network: str,
    target: str,
    command: tuple[str, ...],
) -> None:
    """Open a shell (or run COMMAND) with a busybox toolbox in TARGET, an image or a
    running container, without changing it.

    The toolbox is a static busybox mounted read-only at /.debug and added to PATH. An
    image runs in a throw-away container; a running container is joined in its process,
    network, IPC and host-name namespaces, over its own files, with its environment,
    user and confinement. With a terminal on stdin and stdout, the shell gets one.
    """
    from distroless.runtime.debug import debug_container, debug_image
    from distroless.runtime.lifecycle import get
    from distroless.runtime.options import RunOptions, check_network, parse_env
    from distroless.runtime.toolbox import toolbox
    from distroless.store import Store
    from distroless.store.store import host_platform_default

    if target.startswith("-"):
        raise UsageError(f"unknown option {target!r} before the image or container")
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    arch = host_platform_default().architecture
    try:
        container = get(app.root_path, target)
    except (NotFoundError, UsageError):
        container = None
    if container is not None:
        if env or user:
            raise UsageError("-e and -u apply to an image; a container's own are used")
        tools = toolbox(app.cache_path, arch)
        code = debug_container(app.root_path, container, tools, command, tty=tty, stdin=0)
    else:
        store = Store(app.root_path)
        store.resolve(target)  # a clear "not found" before the toolbox is looked for
        tools = toolbox(app.cache_path, arch)
        options = RunOptions(env=parse_env(env), user=user, network=check_network(network), tty=tty)
        code = debug_image(store, target, tools, options, command, stdin=0 if tty else None)
    if code:
        raise click.exceptions.Exit(code)
