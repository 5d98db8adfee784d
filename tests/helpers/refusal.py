"""The house rule for bad Dockerfiles, as one assertion: a build that must be refused fails
with one line naming the Dockerfile's line, no traceback, and leaves the store as it was."""

from __future__ import annotations

import os
from pathlib import Path

from distroless.store import Store
from tests.helpers.cli import Cli


def store_state(root: Path) -> tuple[object, ...]:
    """What a refused build must not change: the blobs, the index and the store's tmp."""
    store = Store(root)
    index = store.root / "index.json"
    return (
        sorted(os.listdir(store.blobs)),
        index.read_bytes() if index.exists() else None,
        sorted(os.listdir(store.tmp)),
    )


def refused_build(cli: Cli, context: Path, dockerfile: str, line: int) -> str:
    """Build ``dockerfile`` in ``context`` through the CLI and return its one-line error."""
    (context / "Dockerfile").write_text(dockerfile)
    cli("images").check()  # the store exists before the build
    before = store_state(cli.root)
    result = cli("build", "-q", context)
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert "\n" not in message, message
    assert "Traceback" not in message
    assert f"Dockerfile:{line}:" in message, message
    assert store_state(cli.root) == before
    scratch = cli.root / "state" / "build-scratch"
    assert not scratch.exists() or os.listdir(scratch) == []
    return message
