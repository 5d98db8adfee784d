"""Benchmark: the Debian 12 static, base and cc images' sizes as docker and podman show them.

Our images are built from the lock (amd64, ``latest``), saved with ``distroless save`` and
loaded into the private test engine and into a private podman store; the rows give
``docker image inspect``'s ``Size`` (what ``docker images`` prints: the bytes of the files,
counted once per layer) in MB (10^6 bytes, docker's unit), with podman's figure (the layer
tars' bytes, tar headers included) and the compressed size (what a registry stores) in the
notes.  The peer is the published image of the same release, where its maintainers publish
a figure: static-debian12 is "around 2 MiB" (2.10 MB).  No published compressed size and no
published figure for base-debian12 or cc-debian12 is known here (no registry is reachable),
so those rows have no peer rather than a guessed one.  docs/bases.md explains the sizes file
by file.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from common import Context, Row, package_env

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MIB = 1 << 20
BASES = ("static", "base", "cc")
#: published figures, in bytes, with the words they are published in
PUBLISHED = {"static": (2 * MIB, "published static-debian12, about 2 MiB")}


class Sizes(NamedTuple):
    """One image's sizes in bytes: docker's, podman's and the compressed layers' sum."""

    docker: int
    podman: int | None
    compressed: int
    layers: int


def size_rows(measured: Mapping[str, Sizes]) -> list[Row]:
    """The table rows for ``measured`` (base name -> sizes), published figures as peers."""
    rows = []
    for name, sizes in measured.items():
        published = PUBLISHED.get(name)
        notes = [f"compressed {sizes.compressed / MIB:.2f} MiB", f"{sizes.layers} layers"]
        if sizes.podman is not None:
            notes.insert(0, f"podman images {sizes.podman / 1e6:.2f} MB")
        rows.append(
            Row(
                benchmark=f"size {name}-debian12 (amd64, latest) as docker images shows it",
                ours=sizes.docker / 1e6,
                peer=published[0] / 1e6 if published else None,
                peer_name=published[1] if published else "",
                unit="MB",
                notes="; ".join(notes),
            )
        )
    return rows


def _compressed(root: Path, name: str) -> tuple[int, int]:
    from distroless.store import Store

    image = Store(root).load_image(name)
    return sum(layer.size for layer in image.layers), len(image.layers)


def run(ctx: Context) -> list[Row]:
    import peers
    from tests.helpers.cli import distroless_executable
    from tests.helpers.docker import docker_engine

    exe = str(distroless_executable())
    root = ctx.workdir / "store"
    env = package_env()

    def ours(*args: str) -> None:
        subprocess.run([exe, "--root", str(root), *args], env=env, check=True, capture_output=True)

    names = {b: f"gcr.io/distroless/{b}-debian12:latest" for b in BASES}
    ours(
        "bases", "build", *(f"{b}:latest" for b in BASES), "--distro", "debian12", "--arch", "amd64"
    )
    archives = []
    for base, name in names.items():
        archive = ctx.workdir / f"{base}.tar"
        ours("save", name, "-o", str(archive))
        archives.append((archive, name))
    docker: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(docker_engine(ctx.workdir / "dockerd"))
        for archive, _ in archives:
            engine.load(archive)
        for base, name in names.items():
            docker[base] = int(engine.run("image", "inspect", "-f", "{{.Size}}", name).stdout)
    podman: dict[str, int] = {}
    with peers.containers_tool("podman", ctx.workdir / "podman", archives) as tool:
        for base, name in names.items():
            podman[base] = int(tool.run("image", "inspect", "--format", "{{.Size}}", name))
    measured = {}
    for base, name in names.items():
        compressed, layers = _compressed(root, name)
        measured[base] = Sizes(docker[base], podman.get(base), compressed, layers)
    return size_rows(measured)
