"""Benchmark: two CI runners sharing a build cache through a registry, ours against BuildKit.

Runner A builds examples/hello-go and exports its cache to the registry the bench starts;
runner B starts from an empty store (or a fresh engine) that holds only the two bases, as a
runner image would carry them, and builds the same context with the cache imported.  Timed:
runner B's build.  Counted: the blob bytes the registry sent to runner B (its access log).

Ours: ``--cache-to type=registry,ref=…,mode=max`` on A, ``--cache-from type=registry,ref=…``
on B: every step hits, no RUN executes and only the final image's own layer is fetched.
A third runner starts from nothing (no bases, an empty package cache, no Debian mirror):
it makes both bases of the cache's layers and fetches the final image's, nothing else.
Ours is timed twice, as it runs by default (it writes the image's SBOM, which BuildKit does
not) and with ``--no-sbom``.  BuildKit: the test engine's ``docker build`` (docker 20.10, no
buildx) shares a cache through a registry only *inline* (``BUILDKIT_INLINE_CACHE=1`` on A,
pushed with the image, then ``--cache-from IMAGE`` on B).  That cache holds the final
image's steps (mode=min), and their keys chain through the builder stage's, so B matches
the final ``COPY --from`` without running the builder and fetches the final layer alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common import Context, Row, measure, package_env

REPO = Path(__file__).resolve().parents[1]
BUILDER = "distroless/builder-go:1.24-debian13"
BASE = "gcr.io/distroless/base:latest"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if TYPE_CHECKING:
    from tests.helpers.registry import Registry


def _served(reg: Registry) -> int:
    from tests.helpers.registry import blob_bytes_served

    return sum(blob_bytes_served(reg).values())


def run(ctx: Context) -> list[Row]:
    from tests.helpers.cli import distroless_executable
    from tests.helpers.docker import docker_engine
    from tests.helpers.registry import registry

    exe = str(distroless_executable())
    env = package_env()
    runner_a = ctx.workdir / "runner-a"
    repeat = 1 if ctx.quick else max(1, min(ctx.repeat, 3))

    def ours(root: Path, *args: str) -> list[str]:
        return [exe, "--root", str(root), *args]

    for name in ("builder-go", "base:latest"):
        subprocess.run(
            ours(runner_a, "bases", "build", name, "--arch", "amd64"),
            env=env, check=True, capture_output=True,
        )  # fmt: skip
    bases = ctx.workdir / "bases.tar"
    subprocess.run(ours(runner_a, "save", BUILDER, BASE, "-o", str(bases)), env=env, check=True)
    context = ctx.workdir / "hello-go"
    shutil.copytree(REPO / "examples/hello-go", context, ignore=shutil.ignore_patterns("myapp"))

    with contextlib.ExitStack() as stack:
        reg = stack.enter_context(registry(ctx.workdir / "registry", access_log=True))
        cache_ref = reg.ref("cache/hello-go", "main")
        subprocess.run(
            ours(runner_a, "build", "-q", "-t", "app", "--cache-to",
                 f"type=registry,ref={cache_ref},mode=max", str(context)),
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        our_times: dict[str, list[float]] = {"": [], "--no-sbom": []}
        our_bytes = []
        for turn in range(repeat):
            for flag, times in our_times.items():
                runner_b = ctx.workdir / f"runner-b-{turn}"
                subprocess.run(ours(runner_b, "load", "-i", str(bases)), env=env, check=True)
                before = _served(reg)
                stats = measure(
                    ours(runner_b, "build", "-q", "-t", "app", *([flag] if flag else []),
                         "--cache-from", f"type=registry,ref={cache_ref}", str(context)),
                    repeat=1, env=env,
                )  # fmt: skip
                times.append(stats.median_s)
                our_bytes.append(_served(reg) - before)
                shutil.rmtree(runner_b, ignore_errors=True)
        # a runner from nothing: no bases, no package cache, a Debian mirror that is gone
        bare_times, bare_bytes = [], []
        for turn in range(repeat):
            runner_c, no_debs = ctx.workdir / f"runner-c-{turn}", ctx.workdir / f"no-debs-{turn}"
            no_debs.mkdir()
            before = _served(reg)
            stats = measure(
                ours(runner_c, "build", "-q", "-t", "app", "--mirror", "http://127.0.0.1:9",
                     "--cache-from", f"type=registry,ref={cache_ref}", str(context)),
                repeat=1, env={**env, "DISTROLESS_CACHE": str(no_debs)},
            )  # fmt: skip
            bare_times.append(stats.median_s)
            bare_bytes.append(_served(reg) - before)
            shutil.rmtree(runner_c, ignore_errors=True)

        peer_ref = reg.ref("cache/hello-go-buildkit", "main")
        engine_a = stack.enter_context(docker_engine(ctx.workdir / "dockerd-a"))
        engine_a.load(bases)
        peer_env_a = {**engine_a.env, "DOCKER_BUILDKIT": "1"}
        subprocess.run(
            [str(engine_a.cli), "build", "-q", "--network", "host", "--build-arg",
             "BUILDKIT_INLINE_CACHE=1", "-t", peer_ref, str(context)],
            env={**os.environ, **peer_env_a}, check=True, capture_output=True,
        )  # fmt: skip
        engine_a.run("push", peer_ref)
        peer_times, peer_bytes = [], []
        for turn in range(repeat):
            with docker_engine(ctx.workdir / f"dockerd-b-{turn}") as engine_b:
                engine_b.load(bases)
                before = _served(reg)
                stats = measure(
                    [str(engine_b.cli), "build", "-q", "--network", "host", "--cache-from",
                     peer_ref, "-t", "app", str(context)],
                    repeat=1, env={**engine_b.env, "DOCKER_BUILDKIT": "1"},
                )  # fmt: skip
                peer_times.append(stats.median_s)
                peer_bytes.append(_served(reg) - before)

    load = os.getloadavg()[0]
    peer_name = "docker build (BuildKit), inline cache"
    rows = [
        Row(
            benchmark="runner B builds examples/hello-go from runner A's registry cache"
            + (" (--no-sbom)" if flag else ""),
            ours=statistics.median(times), peer=statistics.median(peer_times),
            peer_name=peer_name, target="ratio <= 1.0",
            notes=f"no RUN on either side; load {load:.1f}"
            + ("" if flag else "; ours writes the SBOM, BuildKit none"),
        )
        for flag, times in our_times.items()
    ]  # fmt: skip
    rows.append(
        Row(
            benchmark="runner B: blob bytes fetched from the registry",
            ours=statistics.median(our_bytes) / 1e6, peer=statistics.median(peer_bytes) / 1e6,
            unit="MB", peer_name=peer_name, target="ratio <= 1.0",
        )
    )  # fmt: skip
    unlike = "ours from nothing, BuildKit's runner with both bases loaded"
    rows += [
        Row(
            benchmark="runner B from nothing (empty store and package cache, no mirror)",
            ours=statistics.median(bare_times), peer=statistics.median(peer_times),
            peer_name=peer_name, notes=f"{unlike}; no .deb, no builder blob",
        ),
        Row(
            benchmark="runner B from nothing: blob bytes fetched from the registry",
            ours=statistics.median(bare_bytes) / 1e6, peer=statistics.median(peer_bytes) / 1e6,
            unit="MB", peer_name=peer_name, notes=f"{unlike}: ours is the whole final image",
        ),
    ]  # fmt: skip
    return rows
