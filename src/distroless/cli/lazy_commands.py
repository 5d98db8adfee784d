"""The command table of the ``distroless`` group, loaded lazily.

Each command's module is imported only when that command runs, so ``distroless run``
does not pay for the imports of the Dockerfile builder or the registry client; start-up
time is part of every command a user types.
"""

from __future__ import annotations

import importlib

import click

#: command name -> (module, attribute)
LAZY: dict[str, tuple[str, str]] = {
    "build": ("distroless.cli.build_cmd", "build"),
    "lock": ("distroless.cli.build_cmd", "lock"),
    "images": ("distroless.cli.store_cmds", "images"),
    "inspect": ("distroless.cli.store_cmds", "inspect"),
    "tag": ("distroless.cli.store_cmds", "tag"),
    "rmi": ("distroless.cli.store_cmds", "rmi"),
    "prune": ("distroless.cli.store_cmds", "prune"),
    "fsck": ("distroless.cli.store_cmds", "fsck"),
    "system": ("distroless.cli.store_cmds", "system"),
    "save": ("distroless.cli.store_cmds", "save"),
    "load": ("distroless.cli.store_cmds", "load"),
    "run": ("distroless.cli.run_cmd", "run"),
    "ps": ("distroless.cli.container_cmds", "ps"),
    "logs": ("distroless.cli.container_cmds", "logs"),
    "stop": ("distroless.cli.container_cmds", "stop"),
    "kill": ("distroless.cli.container_cmds", "kill"),
    "rm": ("distroless.cli.container_cmds", "rm"),
    "exec": ("distroless.cli.container_cmds", "exec_cmd"),
    "wait": ("distroless.cli.container_cmds", "wait"),
    "debug": ("distroless.cli.debug_cmd", "debug"),
    "copy": ("distroless.cli.copy_cmd", "copy_cmd"),
    "pull": ("distroless.cli.registry_cmds", "pull_cmd"),
    "push": ("distroless.cli.registry_cmds", "push_cmd"),
    "login": ("distroless.cli.registry_cmds", "login_cmd"),
    "logout": ("distroless.cli.registry_cmds", "logout_cmd"),
    "check": ("distroless.cli.verify_cmds", "check"),
    "test": ("distroless.cli.verify_cmds", "test_cmd"),
    "sbom": ("distroless.cli.verify_cmds", "sbom"),
    "key": ("distroless.cli.sign_cmds", "key_group"),
    "sign": ("distroless.cli.sign_cmds", "sign_cmd"),
    "verify": ("distroless.cli.sign_cmds", "verify_cmd"),
    "referrers": ("distroless.cli.sign_cmds", "referrers_cmd"),
    "attestations": ("distroless.cli.sign_cmds", "attestations_cmd"),
    "bases": ("distroless.cli.bases_cmd", "bases"),
    "index": ("distroless.cli.index_cmd", "index"),
    "pack": ("distroless.cli.pack_cmd", "pack"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in LAZY:
            return found
        module, attribute = LAZY[cmd_name]
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        self.add_command(command, cmd_name)
        return command
