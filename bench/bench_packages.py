"""Benchmark: resolve, download and layer the python3 base's packages, cold and warm.

Cold starts from an empty package cache and an empty store (indices and .debs are
downloaded, every package is layered); warm repeats the same build with both kept, so
nothing is downloaded or compressed again.  The target is warm < 10% of cold.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from common import Context, Row, measure

PYTHON3_PACKAGES = [
    "libbz2-1.0",
    "libdb5.3t64",
    "libexpat1",
    "liblzma5",
    "libsqlite3-0",
    "libuuid1",
    "libncursesw6",
    "libtinfo6",
    "zlib1g",
    "libcom-err2",
    "libcrypt1",
    "libc-bin",
    "libgssapi-krb5-2",
    "libk5crypto3",
    "libkeyutils1",
    "libkrb5-3",
    "libkrb5support0",
    "libnsl2",
    "libreadline8t64",
    "libtirpc3t64",
    "libffi8",
    "libpython3.13-minimal",
    "libpython3.13-stdlib",
    "python3.13-minimal",
    "python3.13-venv",
    "libc6",
]


def run(ctx: Context) -> list[Row]:
    spec = ctx.workdir / "image.yaml"
    spec.write_text(
        "resolve: false\narchs: [amd64]\npackages:\n"
        + "".join(f"  - {name}\n" for name in PYTHON3_PACKAGES)
    )
    cache = ctx.workdir / "cache"
    store = ctx.workdir / "store"
    exe = str(Path(sys.executable).parent / "distroless")
    argv = [exe, "--root", str(store), "build", "--spec", str(spec), "-q"]
    env = {"DISTROLESS_CACHE": str(cache)}

    def empty() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)

    cold = measure(argv, repeat=1 if ctx.quick else 2, env=env, setup=empty)
    warm = measure(argv, repeat=ctx.repeat, env=env)
    return [
        Row(
            benchmark=f"python3 base packages ({len(PYTHON3_PACKAGES)} debs): warm vs cold",
            ours=warm.median_s,
            peer=cold.median_s,
            peer_name="our cold run",
            target="ratio < 0.10",
            notes=f"cold {cold.median_s:.1f}s, warm {warm.median_s:.2f}s, "
            f"peak RSS {cold.peak_rss_mib:.0f} MiB",
        )
    ]
