"""Fixtures made once for the whole run, whichever test process asks first.

``make test`` runs the suite in several pytest workers, each with its own session, so a
session fixture is made once per worker.  For the few that take minutes (a Go builder made
from Debian's packages) the first worker makes it in the run's common temporary directory
while the others wait on a lock, then all of them read the same copy, which none writes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """``name``'s directory, made by ``make(path)`` unless a worker has made it already."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the directory every worker's own base temp lives in
    target = base / f"shared-{name}"
    with (base / f"shared-{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / f"shared-{name}.done").exists():
            shutil.rmtree(target, ignore_errors=True)  # what a failed attempt left
            target.mkdir()
            make(target)
            (base / f"shared-{name}.done").touch()
    return target


def copied_store(shared: Path, into: Path) -> Path:
    """A copy of the store ``shared`` at ``into`` to build in (``cp -a``: owners and modes
    kept, as the store's unpacked layers need)."""
    subprocess.run(["cp", "-a", str(shared), str(into)], check=True)
    return into
