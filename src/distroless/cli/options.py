"""Flags several commands take, spelled once so their names, defaults and help agree."""

from __future__ import annotations

import click

from distroless.cli.output import PROGRESS_MODES

mirror_option = click.option(
    "--mirror",
    envvar="DISTROLESS_MIRROR",
    help="Debian mirror URL (default: the host's apt sources).",
)
progress_option = click.option(
    "--progress",
    type=click.Choice(PROGRESS_MODES),
    default="auto",
    show_default=True,
    help="auto: bars on a terminal, nothing extra in a pipe; plain: one line per step; "
    "quiet: only warnings; tty: bars even when stderr is not a terminal.",
)
