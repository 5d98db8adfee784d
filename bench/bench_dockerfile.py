"""Benchmark: the Go example's Dockerfile, ``distroless build`` against ``docker build``.

examples/hello-go/Dockerfile is built cold (no build cache: ``--no-cache`` on both sides;
the builder image and the base are present, their layers already unpacked) and warm (a
repeat with nothing changed).  The peers are ``docker build`` with BuildKit
(``DOCKER_BUILDKIT=1``) and with the classic builder (``DOCKER_BUILDKIT=0``) in a private
engine into which the very same ``distroless/builder-go:1.24-debian13`` and
``gcr.io/distroless/base`` images are loaded from our store.  Cold runs of ours and of
the peer alternate, so a change in the load of a shared machine falls on both.  RUN steps
use the host network on both sides (the private engine has no bridge).  Sizes are the
final image's uncompressed size (docker's ``Size``; the sum of our layers' tar sizes).
buildah (``bench/peers.py``) builds the same context from the same two images in a private
store: cold is plain ``buildah bud`` (no build cache), warm is ``bud --layers`` with its
cache filled.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import peers
from common import Context, Row, measure, package_env

REPO = Path(__file__).resolve().parents[1]
#: the builder examples/hello-go names, made from its recipe on both sides
BUILDER = "distroless/builder-go:1.24-debian13"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _uncompressed_size(root: Path, name: str) -> int:
    from distroless.store import Store

    store = Store(root)
    total = 0
    for layer in store.load_image(name).layers:
        with store.open_blob(layer.digest) as fh:
            stream = gzip.GzipFile(fileobj=fh) if "gzip" in layer.media_type else fh
            while chunk := stream.read(1 << 20):
                total += len(chunk)
    return total


def run(ctx: Context) -> list[Row]:
    from tests.helpers.cli import distroless_executable
    from tests.helpers.docker import docker_engine

    exe = str(distroless_executable())
    root = ctx.workdir / "store"
    env = package_env()

    def ours(*args: str) -> list[str]:
        return [exe, "--root", str(root), *args]

    subprocess.run(
        ours("bases", "build", "builder-go", "--arch", "amd64"),
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ours("bases", "build", "base:latest", "--arch", "amd64"),
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    context = ctx.workdir / "hello-go"
    shutil.copytree(REPO / "examples/hello-go", context, ignore=shutil.ignore_patterns("myapp"))

    repeat = 3 if ctx.quick else max(3, ctx.repeat)
    build = ours("build", "-q", "-t", "bench-app", str(context))
    cold_build = [*build[:-1], "--no-cache", str(context)]
    # one untimed build unpacks the builder's layers once, as docker's load did for docker
    measure(cold_build, repeat=1, env=env)
    warm = measure(build, repeat=repeat, warmup=1, env=env)
    our_size = _uncompressed_size(root, "bench-app")

    rows: list[Row] = []
    archives: list[tuple[Path, str]] = []
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(docker_engine(ctx.workdir / "dockerd"))
        for name in (BUILDER, "gcr.io/distroless/base:latest"):
            tar = ctx.workdir / (name.replace("/", "_").replace(":", "_") + ".tar")
            subprocess.run(ours("save", name, "-o", str(tar)), env=env, check=True)
            engine.load(tar)
            archives.append((tar, name))
        for builder, flag in (("BuildKit", "1"), ("classic builder", "0")):
            peer_env = {**engine.env, "DOCKER_BUILDKIT": flag}
            tag = f"bench-app-{flag}"
            argv = [str(engine.cli), "build", "-q", "--network", "host", "-t", tag, str(context)]
            peer_argv = [*argv[:2], "--no-cache", *argv[2:]]
            measure(peer_argv, repeat=1, env=peer_env)  # warm-up
            # cold runs alternate with ours, so a change in the machine's load hits both
            ours_times, peer_times = [], []
            for _ in range(repeat):
                ours_times.append(measure(cold_build, repeat=1, env=env).median_s)
                peer_times.append(measure(peer_argv, repeat=1, env=peer_env).median_s)
            cold_s, peer_cold_s = statistics.median(ours_times), statistics.median(peer_times)
            peer_warm = measure(argv, repeat=repeat, warmup=1, env=peer_env)
            size = engine.run("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip()
            peer_name = f"docker build ({builder})"
            rows += [
                Row(
                    benchmark="build examples/hello-go, cold (no build cache)",
                    ours=cold_s, peer=peer_cold_s, peer_name=peer_name,
                    target="ratio <= 0.9" if flag == "1" else "ratio <= 1.0",
                    notes=f"runs alternating, load {os.getloadavg()[0]:.1f}",
                ),
                Row(
                    benchmark="build examples/hello-go, warm (nothing changed)",
                    ours=warm.median_s, peer=peer_warm.median_s, peer_name=peer_name,
                    target="ratio <= 1.0",
                ),
                Row(
                    benchmark="examples/hello-go image size (uncompressed)",
                    ours=our_size / 1e6, peer=int(size) / 1e6, unit="MB",
                    peer_name=peer_name, target="ratio <= 1.0",
                ),
            ]  # fmt: skip
    # ours timed again for buildah's cold row, next to it in time as for the docker rows
    cold = measure(cold_build, repeat=repeat, env=env)
    with peers.containers_tool("buildah", ctx.workdir / "buildah", archives) as buildah:
        rows += peers.buildah_build_rows(
            buildah, context, cold=cold, warm=warm, repeat=repeat,
            cold_name="build examples/hello-go, cold (no build cache)",
            warm_name="build examples/hello-go, warm (nothing changed)",
        )  # fmt: skip
    return rows
