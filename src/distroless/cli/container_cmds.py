"""Containers after ``run``: ps, logs, stop, kill, rm, exec, wait (docker's flags)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import click

from distroless.cli.context import App, pass_app
from distroless.cli.help_text import examples as _examples
from distroless.cli.output import emit_json, table
from distroless.errors import UsageError


def human_duration(seconds: float) -> str:
    """Docker's wording for a duration ("5 seconds", "About a minute", "3 hours")."""
    s = int(max(0.0, seconds))
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    days = hours // 24
    if days < 14:
        return f"{days} days"
    if days < 60:
        return f"{days // 7} weeks"
    if days < 730:
        return f"{days // 30} months"
    return f"{days // 365} years"


def _status_text(container: Any, now: float) -> str:
    record, ended = container.record, container.exit
    if container.status == "exited":
        if ended is None:
            return "Exited (unknown)"
        return f"Exited ({ended.code}) {human_duration(now - ended.finished)} ago"
    if container.status == "created":
        return "Created"
    since = human_duration(now - record.created) if record is not None else "?"
    return f"Up {since}" + (" (Paused)" if container.status == "paused" else "")


def _summary(container: Any) -> dict[str, Any]:
    record, ended = container.record, container.exit
    return {
        "id": record.id if record else None,
        "name": container.name,
        "image": record.image if record else None,
        "image_digest": record.image_digest if record else None,
        "command": list(record.command) if record else [],
        "created": record.created if record else None,
        "status": container.status,
        "pid": container.pid or None,
        "exit_code": ended.code if ended else None,
        "finished": ended.finished if ended else None,
        "error": ended.error if ended else None,
        "detached": record.detached if record else False,
    }


def _command_text(command: tuple[str, ...], width: int = 22) -> str:
    text = '"' + " ".join(command) + '"'
    return text if len(text) <= width else text[: width - 4] + '…"'


@click.command(
    "ps",
    epilog=_examples("distroless ps", "distroless ps -a", "distroless rm -f $(distroless ps -aq)"),
)
@click.option("-a", "--all", "everything", is_flag=True, help="Show exited containers too.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the container ids.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def ps(app: App, everything: bool, quiet: bool, as_json: bool) -> None:
    """List containers: running ones, or all of them with -a."""
    from distroless.runtime.lifecycle import list_containers

    found = list_containers(app.root_path, everything=everything)
    if as_json:
        emit_json([_summary(c) for c in found])
        return
    if quiet:
        for container in found:
            click.echo(container.record.id[:12] if container.record else container.name)
        return
    now = time.time()
    rows = []
    for c in found:
        r = c.record
        rows.append((
            r.id[:12] if r else "-",
            r.image if r else "-",
            _command_text(r.command) if r else "-",
            f"{human_duration(now - r.created)} ago" if r else "-",
            _status_text(c, now),
            c.name,
        ))  # fmt: skip
    table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"], rows)


@click.command(
    "logs",
    epilog=_examples("distroless logs web", "distroless logs -f --tail 10 web"),
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the container ends.")
@click.option("-n", "--tail", type=int, metavar="N", help="Only the last N lines of each stream.")
@click.argument("container")
@pass_app
def logs(app: App, follow: bool, tail: int | None, container: str) -> None:
    """Print what a background container wrote (its stdout and stderr, on ours)."""
    from distroless.runtime.lifecycle import get
    from distroless.runtime.logs import follow_logs, read_logs

    found = get(app.root_path, container)
    chunks = follow_logs(found, tail=tail) if follow else read_logs(found, tail=tail)
    streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for name, data in chunks:
        streams[name].write(data)
        streams[name].flush()


@click.command(
    "stop",
    epilog=_examples("distroless stop web", "distroless stop -t 2 web worker"),
)
@click.option(
    "-t", "--time", "timeout", type=float, default=10, show_default=True,
    help="Seconds to wait after the stop signal before SIGKILL.",
)  # fmt: skip
@click.argument("containers", nargs=-1, required=True)
@pass_app
def stop(app: App, timeout: float, containers: tuple[str, ...]) -> None:
    """Stop containers: their stop signal (SIGTERM), then SIGKILL after a timeout."""
    from distroless.runtime.lifecycle import get
    from distroless.runtime.lifecycle import stop as stop_container

    for ref in containers:
        stop_container(get(app.root_path, ref), timeout)
        click.echo(ref)


@click.command(
    "kill",
    epilog=_examples("distroless kill web", "distroless kill -s HUP web"),
)
@click.option("-s", "--signal", "sig", default="KILL", show_default=True, help="Signal to send.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def kill(app: App, sig: str, containers: tuple[str, ...]) -> None:
    """Send a signal to the first process of running containers."""
    from distroless.runtime.lifecycle import get, parse_signal
    from distroless.runtime.lifecycle import kill as kill_container

    signum = parse_signal(sig)
    for ref in containers:
        kill_container(get(app.root_path, ref), signum)
        click.echo(ref)


@click.command(
    "rm",
    epilog=_examples(
        "distroless rm web", "distroless rm -f web", "distroless rm $(distroless ps -aq)"
    ),
)
@click.option("-f", "--force", is_flag=True, help="Kill a running container first.")
@click.argument("containers", nargs=-1, required=True)
@pass_app
def rm(app: App, force: bool, containers: tuple[str, ...]) -> None:
    """Remove containers: their state, logs and root file system."""
    from distroless.runtime.lifecycle import get, remove

    for ref in containers:
        remove(get(app.root_path, ref), force=force)
        click.echo(ref)


@click.command(
    "wait",
    epilog=_examples(
        "distroless wait web", 'code=$(distroless wait job) && echo "job exited $code"'
    ),
)
@click.argument("containers", nargs=-1, required=True)
@pass_app
def wait(app: App, containers: tuple[str, ...]) -> None:
    """Block until containers stop, then print their exit codes."""
    from distroless.runtime.lifecycle import get
    from distroless.runtime.lifecycle import wait as wait_container

    for ref in containers:
        click.echo(wait_container(get(app.root_path, ref)))


@click.command(
    "exec",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog=_examples(
        "distroless exec web python3 -c 'import os; print(os.getpid())'",
        "distroless exec -it shell sh",
        "distroless exec -e DEBUG=1 -u nonroot web env",
    ),
)
@click.option("-i", "--interactive", is_flag=True, help="Keep stdin open and pass it on.")
@click.option("-t", "--tty", is_flag=True, help="Give the process a pseudo-terminal.")
@click.option("-e", "--env", "env", multiple=True, metavar="K=V", help="Set a variable.")
@click.option("-u", "--user", metavar="USER[:GROUP]", help="User (name or uid) to run as.")
@click.option("-w", "--workdir", metavar="DIR", help="Working directory inside the container.")
@click.argument("container")
@click.argument("args", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
def exec_cmd(
    app: App,
    interactive: bool,
    tty: bool,
    env: tuple[str, ...],
    user: str | None,
    workdir: str | None,
    container: str,
    args: tuple[str, ...],
) -> None:
    """Run a command in a running container, in its namespaces and under its filter."""
    from distroless.runtime.exec_process import exec_process
    from distroless.runtime.lifecycle import get
    from distroless.runtime.options import parse_env

    if container.startswith("-"):
        raise UsageError(f"unknown option {container!r} before the container name")
    if tty and interactive and not sys.stdin.isatty():
        raise UsageError("the input device is not a TTY; drop -t, or run from a terminal")
    if tty:
        stdin: int | None = 0 if interactive else None
    else:
        stdin = None if interactive else subprocess.DEVNULL
    code = exec_process(
        get(app.root_path, container),
        args,
        env=parse_env(env),
        user=user,
        workdir=workdir,
        tty=tty,
        stdin=stdin,
    )
    if code:
        raise click.exceptions.Exit(code)
