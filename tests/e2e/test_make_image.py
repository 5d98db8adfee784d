"""``make image``: the tool as its own distroless image passes ``check`` and runs its CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tests.helpers import distroless_executable
from tests.helpers.images import copy_images
from tests.helpers.tool_image import TOOL_IMAGE, tool_image_root

from distroless.store import Store


def test_make_image_is_distroless_and_prints_the_cli_help(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, package_cache: Path
) -> None:
    store = tmp_path / "store"
    copy_images(tool_image_root(tmp_path_factory, package_cache), Store(store), (TOOL_IMAGE,))
    env = {**os.environ, "DISTROLESS_CACHE": str(package_cache)}
    exe = str(distroless_executable())
    checked = subprocess.run(
        [exe, "--root", str(store), "check", TOOL_IMAGE],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "passed" in checked.stdout.splitlines()[0]
    helped = subprocess.run(
        [exe, "--root", str(store), "run", "--rm", TOOL_IMAGE],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert helped.stdout.startswith("Usage: distroless "), helped.stdout
    for command in ("build", "push", "index", "check"):
        assert f"  {command} " in helped.stdout, helped.stdout
