"""``make image``: the tool as its own distroless image passes ``check`` and runs its CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import distroless_executable, require_root, require_tool

REPO = Path(__file__).resolve().parents[2]


def test_make_image_is_distroless_and_prints_the_cli_help(
    tmp_path: Path, package_cache: Path
) -> None:
    require_root()
    require_tool("runc")
    require_tool("make")
    store = tmp_path / "store"
    env = {**os.environ, "DISTROLESS_CACHE": str(package_cache)}
    made = subprocess.run(
        ["make", "-s", "image", "IMAGE=distroless:e2e", f"IMAGE_ROOT={store}",
         f"IMAGE_STAGE={tmp_path / 'stage'}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    exe = str(distroless_executable())
    checked = subprocess.run(
        [exe, "--root", str(store), "check", "distroless:e2e"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "passed" in checked.stdout.splitlines()[0]
    helped = subprocess.run(
        [exe, "--root", str(store), "run", "--rm", "distroless:e2e"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert helped.stdout.startswith("Usage: distroless "), helped.stdout
    for command in ("build", "push", "index", "check"):
        assert f"  {command} " in helped.stdout, helped.stdout
