"""The list of command modules attached to the ``distroless`` group."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add every command; each module exposes its click commands at import."""
