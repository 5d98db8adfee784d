"""Benchmark: image sizes with ``distroless pack`` against the usual base images.

Two pairs, each as the test Docker engine reports it (``docker image inspect`` ``Size``)
after ``docker load`` of what ``distroless save`` wrote:

- the Go example built with cgo on (``import _ "runtime/cgo"`` beside ``main.go``, so it
  links libc dynamically) copied onto ``base``, against that image packed (``pack /myapp
  --from`` it: the program and its libc closure on scratch);
- ``curl`` from Debian 13 installed on ``cc`` (its packages, less those ``cc`` has),
  against it packed with ``--with nss,certs``.

Target: the packed Go example at most 3 MB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import Context, Row, package_env

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: what ``cc`` (Debian 13) already holds, so the curl image adds only what curl brings
CC_PACKAGES = [
    "base-files", "netbase", "tzdata", "tzdata-legacy", "media-types", "ca-certificates",
    "libc6", "libssl3t64", "libzstd1", "zlib1g", "libgomp1", "libstdc++6", "libgcc-s1",
    "gcc-14-base",
]  # fmt: skip


def _go_cgo(workdir: Path) -> Path:
    src = workdir / "hello-cgo"
    shutil.copytree(REPO / "examples/hello-go", src, ignore=shutil.ignore_patterns("myapp"))
    (src / "cgo.go").write_text('package main\n\nimport _ "runtime/cgo"\n')
    env = {
        **os.environ,
        "CGO_ENABLED": "1",
        "GOFLAGS": "-mod=mod",
        "GOCACHE": str(workdir / "gocache"),
    }
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", "myapp", "."],
        cwd=src,
        env=env,
        check=True,
    )
    return src


def run(ctx: Context) -> list[Row]:
    from tests.helpers.cli import distroless_executable
    from tests.helpers.docker import docker_engine

    exe = str(distroless_executable())
    root = ctx.workdir / "store"
    env = package_env()

    def ours(*args: str) -> None:
        subprocess.run([exe, "--root", str(root), *args], env=env, check=True, capture_output=True)

    ours("bases", "build", "base:latest", "cc:latest", "--arch", "amd64")
    src = _go_cgo(ctx.workdir)
    (src / "image.yaml").write_text(
        "base: distroless/base:latest\nfiles:\n  - src: myapp\n    dst: /myapp\n    mode: 0755\n"
        'cmd: ["/myapp"]\n'
    )
    ours("build", "--spec", str(src / "image.yaml"), "-t", "go-cgo:base")
    ours("pack", "/myapp", "--from", "go-cgo:base", "-t", "go-cgo:packed")
    curl = ctx.workdir / "curl"
    curl.mkdir()
    (curl / "image.yaml").write_text(
        "base: distroless/cc:latest\narchs: [amd64]\npackages: [curl]\n"
        f"exclude: [{', '.join(CC_PACKAGES)}]\n"
    )
    ours("build", "--spec", str(curl / "image.yaml"), "-t", "curl:cc")
    ours("pack", "/usr/bin/curl", "--from", "curl:cc", "--with", "nss,certs", "-t", "curl:packed")
    names = ["go-cgo:base", "go-cgo:packed", "curl:cc", "curl:packed"]
    sizes: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(docker_engine(ctx.workdir / "dockerd"))
        archive = ctx.workdir / "images.tar"
        ours("save", *names, "-o", str(archive))
        engine.load(archive)
        for name in names:
            out = engine.run("image", "inspect", "-f", "{{.Size}}", name).stdout.strip()
            sizes[name] = int(out) / 1e6
        for name, args in (("go-cgo:packed", ()), ("curl:packed", ("--version",))):
            engine.run("run", "--rm", "--network", "none", name, *args)
    return [
        Row(
            benchmark="examples/hello-go with cgo (stripped), packed vs on base (docker's size)",
            ours=sizes["go-cgo:packed"], peer=sizes["go-cgo:base"], unit="MB",
            peer_name="COPY onto base", target="packed <= 3 MB",
        ),
        Row(
            benchmark="curl (Debian 13) packed --with nss,certs vs installed on cc (docker's size)",
            ours=sizes["curl:packed"], peer=sizes["curl:cc"], unit="MB",
            peer_name="curl packages on cc",
        ),
    ]  # fmt: skip
