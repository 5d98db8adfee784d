"""Benchmark: the five core base images x 4 tags x 2 architectures, warm package cache.

The five are static, base-nossl, base, cc and python3, named on the command line (the
Java and Node.js bases are larger and not part of this row).  First each run starts from
an empty store, so every layer is written and compressed (the .debs are already in the
package cache: the first run of the module fills it); the target is half the 11.8 s this
took when layers were made one after the other.  Then the same build runs against the
filled store, where every layer is cached and only configs, manifests and indices are
checked: the target is under 2 seconds for all 20 tags x 2 architectures.  Both are
``distroless bases build`` processes, start-up included; the cold row also gives the CPU
time the build used (user + system), which a busy machine does not inflate the way it
does wall time.  The sizes row gives the amd64 ``latest`` images (compressed /
uncompressed, MiB) with no peer: the published images' figures are what ``docker images``
shows (files, uncompressed), so ``bench_sizes.py`` compares like with like.

``DISTROLESS_BENCH_CACHE`` picks the package cache (default: the test suite's).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from common import Context, Row, measure

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("DISTROLESS_BENCH_CACHE", "/var/tmp/distroless-test-cache/distroless"))
MIB = 1 << 20
#: the bases of the "5 bases" rows
BASES = ("static", "base-nossl", "base", "cc", "python3")


def _cli() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "distroless"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "distroless"]


def _sizes(store: Path, env: dict[str, str]) -> list[Row]:
    """Compressed and uncompressed sizes of the amd64 latest images."""
    rows = []
    sys.path.insert(0, str(ROOT / "src"))
    from distroless.layers.compress import open_decompressed
    from distroless.oci.models import Platform
    from distroless.store import Store

    opened = Store(store)
    listing = subprocess.run(
        [*_cli(), "--root", str(store), "bases", "list", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for base in (b for b in json.loads(listing) if b["name"] in BASES):
        image = opened.load_image(f"distroless/{base['name']}:latest", Platform("linux", "amd64"))
        compressed = sum(layer.size for layer in image.layers)
        uncompressed = 0
        for layer in image.layers:
            with opened.open_blob(layer.digest) as blob:
                stream = open_decompressed(blob)
                while chunk := stream.read(MIB):
                    uncompressed += len(chunk)
        rows.append(
            Row(
                benchmark=f"size {base['name']} (amd64, latest, compressed)",
                ours=compressed / MIB,
                unit="MiB",
                notes=f"uncompressed {uncompressed / MIB:.1f} MiB, {len(image.layers)} layers",
            )
        )
    return rows


def run(ctx: Context) -> list[Row]:
    env = {"DISTROLESS_CACHE": str(CACHE)}
    store = ctx.workdir / "store"
    build = [*_cli(), "--root", str(store), "bases", "build", *BASES]
    measure(build, repeat=1, env=env)  # fills the package cache if it is empty

    def empty_store() -> None:
        shutil.rmtree(store, ignore_errors=True)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    runs = 1 if ctx.quick else min(ctx.repeat, 3)
    cold = measure(build, repeat=runs, env=env, setup=empty_store)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / runs
    measure(build, repeat=1, env=env)
    warm = measure(build, repeat=ctx.repeat, env=env)
    return [
        Row(
            benchmark="bases build: 5 bases x 4 tags x 2 archs, empty store, warm package cache",
            ours=cold.median_s,
            target="<= 5.9 s",
            notes=f"CPU {cpu:.1f} s, peak RSS {cold.peak_rss_mib or 0:.0f} MiB, "
            f"load {os.getloadavg()[0]:.1f}",
        ),
        Row(
            benchmark="bases build: 5 bases x 4 tags x 2 archs, every layer cached",
            ours=warm.median_s,
            target="< 2 s",
        ),
        *_sizes(store, env),
    ]
