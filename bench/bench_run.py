"""Benchmark: starting a container, ``distroless run --rm`` against ``docker run --rm``.

Both run the same static Go hello binary as the image's entrypoint with no network; the
docker side uses a private engine started for the benchmark (as the test suite does), so
the numbers compare the whole command a user types, CLI start-up included.  Layers are
unpacked once before timing (docker's image is also already unpacked after its load).
``podman run --rm`` (``bench/peers.py``: a private store, runc, cgroupfs) runs the image
docker ran, saved from the engine and loaded into podman, after one untimed run.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import peers
from common import Context, Row, measure

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run(ctx: Context) -> list[Row]:
    from tests.helpers import go_build, hello_go_source, rootfs_tar
    from tests.helpers.cli import distroless_executable
    from tests.helpers.docker import docker_engine
    from tests.helpers.images import store_image

    from distroless.layers.entry import Entry
    from distroless.oci.models import ContainerConfig
    from distroless.store import Store

    hello = go_build(hello_go_source(), ctx.workdir / "hello")
    root = ctx.workdir / "store"
    store_image(
        Store(root),
        "bench-hello:latest",
        [[Entry.file("hello", hello.read_bytes(), mode=0o755)]],
        ContainerConfig(entrypoint=("/hello",)),
    )
    ours_argv = [
        str(distroless_executable()), "--root", str(root), "run", "--rm", "--network", "none",
        "bench-hello:latest",
    ]  # fmt: skip
    repeat = max(3, ctx.repeat if not ctx.quick else 3)
    ours = measure(ours_argv, repeat=repeat, warmup=1)

    import subprocess

    from distroless.runtime import RunOptions, run_image

    store = Store(root)
    options = RunOptions(network="none")
    library = measure(
        lambda: run_image(store, "bench-hello:latest", options, stdout=subprocess.DEVNULL),
        repeat=repeat,
        warmup=1,
    )

    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(docker_engine(ctx.workdir / "dockerd"))
        tar = rootfs_tar(ctx.workdir / "hello.tar", {"hello": hello})
        ref = engine.import_rootfs(tar, "bench-hello:latest", 'ENTRYPOINT ["/hello"]')
        docker_argv = [
            str(engine.cli), "run", "--rm", "--pull", "never", "--network", "none", ref,
        ]  # fmt: skip
        peer = measure(docker_argv, repeat=repeat, warmup=1, env=engine.env)
        saved = ctx.workdir / "hello-docker.tar"
        engine.run("save", "-o", saved, ref)
    # podman runs the very image docker ran (its own save), from a private store
    with peers.containers_tool("podman", ctx.workdir / "podman", [(saved, ref)]) as podman:
        podman_peer = peers.podman_run_stats(podman, ref, repeat=repeat)

    return [
        Row(
            benchmark="run --rm hello (static Go, --network none, warm)",
            ours=ours.median_s,
            peer=peer.median_s,
            peer_name="docker run --rm",
            target="ratio <= 1.0",
            notes=f"peak RSS {ours.peak_rss_mib:.0f} MiB" if ours.peak_rss_mib else "",
        ),
        Row(
            benchmark="run --rm hello (static Go, --network none, warm)",
            ours=ours.median_s,
            peer=podman_peer.median_s,
            peer_name=f"podman run --rm ({podman.version()}, {podman.driver}, runc)",
            target="ratio <= 1.0",
        ),
        Row(
            benchmark="run hello via run_image() in-process (no CLI start-up)",
            ours=library.median_s,
            peer=peer.median_s,
            peer_name="docker run --rm",
            target="ratio <= 1.0",
        ),
    ]
