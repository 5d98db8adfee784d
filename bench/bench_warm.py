"""Benchmark: warm rebuilds, and how their cost grows with the build context.

*Seed row*: examples/hello-go rebuilt with nothing changed, ``distroless build`` (its warm
path: a record in the store checked by stat) against ``docker build`` with BuildKit in a
private engine holding the very same builder and base images (loaded from our store), as
bench_dockerfile.py sets it up.

*Growth rows*: contexts of 1k, 10k and 100k small files (100 to a directory) built by
``FROM scratch`` + ``COPY files/d0000/ /files/`` + ``COPY changed.txt /``, and one of a
1 GB file (sparse, so making it costs nothing) built by ``COPY big.bin /`` + ``COPY
changed.txt /``, each rebuilt warm (nothing changed) and with one file changed
(``changed.txt`` rewritten before each timed run: that COPY executes again, the other one
is a cache hit for both tools, found by BuildKit's content-hash cache and by our full path,
which hashes the bytes that COPY reads).  Both tools look at the whole context on every
build: BuildKit syncs it into its daemon, our warm path stats every entry.  The small-file
rows copy one directory rather than the whole tree because this engine's BuildKit fails
on a COPY of thousands of files.  The contexts are made once per run in the scratch
directory.  A table of these rows is written to ``bench/growth.md`` and a plot of them to
``bench/growth.png``.  Peak RSS is our process's (BuildKit's work is in its daemon).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import Context, Row, Stats, measure, package_env

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
BUILDER = "distroless/builder-go:1.24-debian13"
BASE = "gcr.io/distroless/base:latest"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

#: a context entry this much younger than a build keeps it from recording (warm.RACY_NS)
_SETTLE_S = 2.5
#: copies one directory of the tree: BuildKit 0.x of this engine loses files of a COPY of
#: thousands ("failed to stat .../buildkit-mountN/files/...: no such file or directory")
#: (context, rebuild, ours s, BuildKit s, our peak RSS MiB) of one growth row
Growth = tuple[str, str, float, float, float | None]
GROWTH = "FROM scratch\nCOPY files/d0000/ /files/\nCOPY changed.txt /changed.txt\n"
BIG = "FROM scratch\nCOPY big.bin /big.bin\nCOPY changed.txt /changed.txt\n"


def _small_files(root: Path, count: int) -> Path:
    """``count`` small files, 100 to a directory, as a source tree has them."""
    files = root / "files"
    for i in range(count):
        directory = files / f"d{i // 100:04d}"
        if i % 100 == 0:
            directory.mkdir(parents=True)
        (directory / f"f{i:06d}.txt").write_text(f"file {i}\n")
    (root / "changed.txt").write_text("0\n")
    (root / "Dockerfile").write_text(GROWTH)
    return root


def _big_file(root: Path, size: int) -> Path:
    root.mkdir(parents=True)
    with open(root / "big.bin", "wb") as fh:
        fh.truncate(size)
    (root / "changed.txt").write_text("0\n")
    (root / "Dockerfile").write_text(BIG)
    return root


def _settle(since: float) -> None:
    """Wait out the racy window, so the next build may write its warm record."""
    left = since + _SETTLE_S - time.time()
    if left > 0:
        time.sleep(left)


def _changer(context: Path) -> Callable[[], None]:
    counter = [0]

    def change() -> None:
        counter[0] += 1
        (context / "changed.txt").write_text(f"{counter[0]}\n")

    return change


def _rss(stats: Stats) -> str:
    mib = stats.peak_rss_mib
    return "" if mib is None else f"peak RSS ours {mib:.0f} MiB"


def run(ctx: Context) -> list[Row]:
    from tests.helpers.cli import distroless_executable
    from tests.helpers.docker import docker_engine

    exe = str(distroless_executable())
    root = ctx.workdir / "store"
    env = package_env()
    env.pop("DISTROLESS_NO_WARM", None)
    repeat = 3 if ctx.quick else max(5, ctx.repeat)

    def ours(*args: str) -> list[str]:
        return [exe, "--root", str(root), *args]

    def check(argv: list[str], peer_env: dict[str, str] | None = None) -> None:
        subprocess.run(argv, env=peer_env or env, check=True, capture_output=True)

    check(ours("bases", "build", "builder-go", "--arch", "amd64"))
    check(ours("bases", "build", "base:latest", "--arch", "amd64"))
    seed = ctx.workdir / "hello-go"
    shutil.copytree(REPO / "examples/hello-go", seed, ignore=shutil.ignore_patterns("myapp"))

    started = time.time()
    sizes = [1_000, 10_000] if ctx.quick else [1_000, 10_000, 100_000]
    contexts: list[tuple[str, Path, int, float]] = []
    for count in sizes:
        path = _small_files(ctx.workdir / f"files-{count}", count)
        runs = repeat if count < 100_000 else 3
        contexts.append((f"{count // 1000}k small files", path, runs, time.time()))
    big_size = (64 << 20) if ctx.quick else (1 << 30)
    big_label = f"one {big_size >> 20} MiB file" if ctx.quick else "one 1 GB file"
    contexts.append((big_label, _big_file(ctx.workdir / "big", big_size), 3, time.time()))

    rows: list[Row] = []
    growth: list[Growth] = []
    with contextlib.ExitStack() as stack:
        engine = stack.enter_context(docker_engine(ctx.workdir / "dockerd"))
        for name in (BUILDER, BASE):
            tar = ctx.workdir / (name.replace("/", "_").replace(":", "_") + ".tar")
            check(ours("save", name, "-o", str(tar)))
            engine.load(tar)
        peer_env = {**engine.env, "DOCKER_BUILDKIT": "1"}

        def peer(tag: str, context: Path) -> list[str]:
            return [str(engine.cli), "build", "-q", "--network", "host", "-t", tag, str(context)]

        # seed: a cold build each (executes), one more of ours (writes the warm record)
        build = ours("build", "-q", "-t", "bench-warm", str(seed))
        check(build)
        _settle(started)
        check(build)
        warm = measure(build, repeat=repeat, warmup=1, env=env)
        check(peer("bench-warm", seed), peer_env)
        peer_warm = measure(peer("bench-warm", seed), repeat=repeat, warmup=1, env=peer_env)
        rows.append(
            Row(
                benchmark="seed Dockerfile (examples/hello-go), warm rebuild (nothing changed)",
                ours=warm.median_s, peer=peer_warm.median_s,
                peer_name="docker build (BuildKit)", target="ratio <= 0.8", notes=_rss(warm),
            )
        )  # fmt: skip

        for label, context, runs, made in contexts:
            tag = "growth-" + context.name
            build = ours("build", "-q", "-t", tag, str(context))
            check(build)
            check(peer(tag, context), peer_env)
            _settle(made)
            check(build)  # nothing executed: this one records
            ours_warm = measure(build, repeat=runs, warmup=1, env=env)
            peer_warm = measure(peer(tag, context), repeat=runs, warmup=1, env=peer_env)
            ours_changed = measure(build, repeat=runs, env=env, setup=_changer(context))
            peer_changed = measure(
                peer(tag, context), repeat=runs, env=peer_env, setup=_changer(context)
            )
            for what, mine, theirs in (
                ("warm rebuild (nothing changed)", ours_warm, peer_warm),
                ("one file changed", ours_changed, peer_changed),
            ):
                growth.append((label, what, mine.median_s, theirs.median_s, mine.peak_rss_mib))
                rows.append(
                    Row(
                        benchmark=f"context of {label}, {what}",
                        ours=mine.median_s, peer=theirs.median_s,
                        peer_name="docker build (BuildKit)",
                        target="grows no faster than BuildKit", notes=_rss(mine),
                    )
                )  # fmt: skip
    _write_growth(growth, BENCH_DIR)
    return rows


def _write_growth(growth: list[Growth], out: Path) -> None:
    """The growth rows as a table (printed and in growth.md) and a plot (growth.png)."""
    lines = [
        "| context | rebuild | ours (s) | BuildKit (s) | ratio | peak RSS ours (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for label, what, mine, theirs, rss in growth:
        shown = "" if rss is None else f"{rss:.0f}"
        lines.append(
            f"| {label} | {what} | {mine:.3f} | {theirs:.3f} | {mine / theirs:.2f}x | {shown} |"
        )
    table = "\n".join(lines) + "\n"
    print(table, file=sys.stderr)
    (out / "growth.md").write_text(
        "# How the cost of a rebuild grows with the context\n\n"
        "Made by `bench/bench_warm.py` (medians; see its docstring for what is measured).\n\n"
        + table
        + "\n![growth](growth.png)\n"
    )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    labels = list(dict.fromkeys(label for label, *_ in growth))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, what in zip(axes, ("warm rebuild (nothing changed)", "one file changed"), strict=True):
        picked = [g for g in growth if g[1] == what]
        xs = range(len(picked))
        ax.plot(xs, [g[2] for g in picked], "o-", label="distroless build")
        ax.plot(xs, [g[3] for g in picked], "s--", label="docker build (BuildKit)")
        ax.set_xticks(list(xs), [g[0] for g in picked], fontsize=8, rotation=15)
        ax.set_yscale("log")
        ax.set_title(what)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds (median, log scale)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"rebuild time by context ({', '.join(labels)})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "growth.png", dpi=110)
    plt.close(fig)
