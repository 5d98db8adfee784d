"""The list of command modules attached to the ``distroless`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add every command; each module exposes its click commands at import."""
    from distroless.cli import build_cmd, registry_cmds, run_cmd, store_cmds

    group.add_command(build_cmd.build)
    group.add_command(build_cmd.lock)
    for command in store_cmds.COMMANDS:
        group.add_command(command)

    group.add_command(run_cmd.run)
    for command in registry_cmds.COMMANDS:
        group.add_command(command)

    from distroless.cli import verify_cmds

    for command in verify_cmds.COMMANDS:
        group.add_command(command)
