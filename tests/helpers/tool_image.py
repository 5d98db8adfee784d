"""``make image`` once for the run: the tool as its own distroless image, in a store that
tests copy from (:func:`tests.helpers.images.copy_images`) and never write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.require import require_root, require_tool
from tests.helpers.shared import made_once

REPO = Path(__file__).resolve().parents[2]
#: the name ``make image`` gives the tool's image in the tests
TOOL_IMAGE = "distroless:e2e"


def tool_image_root(tmp_path_factory: pytest.TempPathFactory, package_cache: Path) -> Path:
    """A store holding :data:`TOOL_IMAGE` (and the python3 base it was built on)."""
    require_root()
    require_tool("runc")
    require_tool("make")

    def make(shared: Path) -> None:
        env = {**os.environ, "DISTROLESS_CACHE": str(package_cache)}
        made = subprocess.run(
            ["make", "-s", "image", f"IMAGE={TOOL_IMAGE}", f"IMAGE_ROOT={shared / 'store'}",
             f"IMAGE_STAGE={shared / 'stage'}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1200, check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr[-3000:]

    return made_once(tmp_path_factory, "tool-image", make) / "store"
