"""Shared state of one CLI invocation: where the store is, and how to report progress."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click


def default_root() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share")
    return Path(base) / "distroless"


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "distroless"


@dataclass
class App:
    root: str | None = None
    debug: bool = False

    @property
    def root_path(self) -> Path:
        return Path(self.root) if self.root else default_root()

    @property
    def cache_path(self) -> Path:
        return (
            Path(os.environ["DISTROLESS_CACHE"])
            if os.environ.get("DISTROLESS_CACHE")
            else default_cache()
        )


pass_app = click.make_pass_decorator(App)
