"""The README's flow, as a user runs it: ``make demo``, then the seed's two commands.

``make demo`` builds the Go builder image (distroless/builder-go) and the distroless base
from Debian packages, builds examples/hello-go from its Dockerfile and runs it.  Then, inside a
copy of the example, the commands the classic tutorial gives (``build -t
my-distroless-app .`` and ``run --rm my-distroless-app``) print the greeting too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.helpers import distroless_executable, require_root, require_tool

REPO = Path(__file__).resolve().parents[2]
HELLO = "Hello, Distroless World!"


# The demo's store holds distroless/builder-go, a builder image with a shell on purpose; the
# image the demo ships is checked explicitly below instead.
@pytest.mark.unsafe_images
def test_make_demo_then_the_tutorial_commands(tmp_path: Path, package_cache: Path) -> None:
    require_root()
    require_tool("runc")
    require_tool("make")
    env = {
        **os.environ,
        "DISTROLESS_ROOT": str(tmp_path / "store"),
        "DISTROLESS_CACHE": str(package_cache),
    }
    demo = subprocess.run(
        ["make", "-s", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert demo.stdout.strip().splitlines()[-1] == HELLO

    app = tmp_path / "my-app"
    shutil.copytree(REPO / "examples" / "hello-go", app, ignore=shutil.ignore_patterns("myapp"))
    exe = str(distroless_executable())
    built = subprocess.run(
        [exe, "build", "-t", "my-distroless-app", "."],
        cwd=app, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    assert "CACHED" in built.stderr  # the demo already built these very steps
    ran = subprocess.run(
        [exe, "run", "--rm", "my-distroless-app"],
        cwd=app, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == HELLO
    checked = subprocess.run(
        [exe, "check", "my-distroless-app"],
        cwd=app, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout
