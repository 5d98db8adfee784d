"""RUN steps in the real runc sandbox: what the step sees, and what its layer keeps.

The base is a static busybox alone (``/bin/sh``), so the root has no ``/dev``, ``/proc``,
``/sys`` or ``/etc`` of its own: every mount point the runtime needs is made for the step.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from distroless.store import Store
from tests.dockerfile.executor_helpers import build, busybox_image, static_busybox
from tests.helpers.require import require_tool

# The RUN base has a shell, as a builder stage does.
pytestmark = [pytest.mark.integration, pytest.mark.unsafe_images]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    require_tool("runc")
    static_busybox()
    store = Store(tmp_path / "store")
    busybox_image(store, "shell:latest")
    return store


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    return root


def _run_layer(store: Store, ctx: Path, dockerfile: str) -> dict[str, tuple[str, int, int, int]]:
    """The last layer's entries: path -> (kind, mode, uid, gid)."""
    built = build(store, ctx, dockerfile)
    layer = built.layers()[-1]
    return {
        path: (
            "dir" if info.isdir() else "file" if info.isreg() else "other",
            stat.S_IMODE(info.mode),
            info.uid,
            info.gid,
        )
        for path, (info, _) in layer.items()
    }


def test_a_run_on_a_root_without_kernel_directories_keeps_them_empty(
    store: Store, ctx: Path
) -> None:
    layer = _run_layer(store, ctx, "FROM shell\nRUN echo made > /made.txt\n")
    assert layer == {
        "dev": ("dir", 0o755, 0, 0),
        "made.txt": ("file", 0o644, 0, 0),
        "proc": ("dir", 0o755, 0, 0),
        "sys": ("dir", 0o755, 0, 0),
    }  # /etc, made only for /etc/hosts and /etc/resolv.conf, is not kept


def test_a_run_on_a_root_with_kernel_directories_leaves_them_alone(store: Store, ctx: Path) -> None:
    # the first step's layer gives the root its /dev, /proc and /sys
    layer = _run_layer(store, ctx, "FROM shell\nRUN echo one > /one\nRUN echo two > /two\n")
    assert layer == {"two": ("file", 0o644, 0, 0)}
