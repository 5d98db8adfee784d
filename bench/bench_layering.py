"""Benchmark: layering a generated directory with ``write_layer``.

Reports, for each compression setting, throughput and peak RSS of a child process that
layers the tree into a discarding sink, and the throughput ratio against raw
single-core zlib (or zstd) compressing the very same tar bytes at the same level.  A ratio
near 1.0 means the tar writing, hashing and re-chunking cost little next to the
compressor itself; peak RSS shows that memory does not grow with the layer size.

Usage: python bench/bench_layering.py [--size-mb 200] [--workdir DIR]
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
WORDS = [
    b"layer",
    b"digest",
    b"manifest",
    b"distroless",
    b"sha256",
    b"config",
    b"index",
    b"\n",
    b"usr/lib/x86_64-linux-gnu",
    b"{",
    b"}",
    b"0",
]


def generate_tree(root: Path, total_bytes: int, seed: int = 1) -> tuple[int, int]:
    """A tree of mixed file sizes, about a third of the bytes incompressible."""
    rng = random.Random(seed)
    written = 0
    files = 0
    while written < total_bytes:
        roll = rng.random()
        if roll < 0.85:
            size = rng.randint(200, 16_000)
        elif roll < 0.98:
            size = rng.randint(50_000, 1_000_000)
        else:
            size = rng.randint(5_000_000, 20_000_000)
        size = min(size, total_bytes - written)
        directory = root / f"d{rng.randrange(40):02d}" / f"s{rng.randrange(8)}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"f{files:06d}.bin"
        with open(path, "wb") as out:
            left = size
            incompressible = rng.random() < 0.33
            while left:
                n = min(left, CHUNK)
                if incompressible:
                    out.write(rng.randbytes(n))
                else:
                    text = b" ".join(rng.choices(WORDS, k=n // 6 + 1))
                    out.write(text[:n])
                left -= n
        written += size
        files += 1
    return written, files


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _child_layer(src: str, compression: str, level: int) -> dict[str, float]:
    from distroless.layers.build import write_layer
    from distroless.layers.fromdir import entries_from_directory

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    info = write_layer(
        entries_from_directory(Path(src), "/data"),
        _Discard(),  # type: ignore[arg-type]
        compression,  # type: ignore[arg-type]
        level=level,
    )
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "bytes_in": info.uncompressed_size,
        "bytes_out": info.size,
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kib": rss_before,
    }


def _child_raw(tar_path: str, compression: str, level: int) -> dict[str, float]:
    from backports import zstd

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = 0
    total = 0
    start = time.perf_counter()
    with open(tar_path, "rb") as source:
        if compression == "gzip":
            comp = zlib.compressobj(level, zlib.DEFLATED, 31)
            while chunk := source.read(CHUNK):
                total += len(chunk)
                out += len(comp.compress(chunk))
            out += len(comp.flush())
        else:
            zc = zstd.ZstdCompressor(level=level)
            while chunk := source.read(CHUNK):
                total += len(chunk)
                out += len(zc.compress(chunk))
            out += len(zc.flush())
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "bytes_in": total,
        "bytes_out": out,
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kib": rss_before,
    }


def _run_child(*args: str, repeat: int = 2) -> dict[str, float]:
    """Best of ``repeat`` fresh child processes (other load on the host only slows runs)."""
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(proc.stdout))
    best: dict[str, float] = min(runs, key=lambda r: r["seconds"])
    best["rss_kib"] = max(r["rss_kib"] for r in runs)
    return best


def _write_plain_tar(src: Path, dest: Path) -> None:
    from distroless.layers.build import write_layer
    from distroless.layers.fromdir import entries_from_directory

    with open(dest, "wb") as out:
        write_layer(entries_from_directory(src, "/data"), out, "none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "PATH", "COMPRESSION", "LEVEL"))
    args = parser.parse_args()
    if args.child:
        kind, path, compression, level = args.child
        fn = _child_layer if kind == "layer" else _child_raw
        print(json.dumps(fn(path, compression, int(level))))
        return

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        total, files = generate_tree(tree, args.size_mb * 1_000_000)
        tar_path = Path(tmp) / "layer.tar"
        _write_plain_tar(tree, tar_path)
        tar_mb = tar_path.stat().st_size / 1e6
        print(f"tree: {files} files, {total / 1e6:.0f} MB; uncompressed layer {tar_mb:.0f} MB")
        header = (
            f"{'compression':<12}{'level':>6}{'in MB':>9}{'out MB':>9}{'ratio':>7}"
            f"{'MB/s':>8}{'raw MB/s':>10}{'vs raw':>8}{'peak RSS MB':>13}{'at start':>10}"
        )
        print(header)
        print("-" * len(header))
        for compression, level in (("gzip", 1), ("gzip", 6), ("gzip", 9), ("zstd", 3)):
            ours = _run_child("layer", str(tree), compression, str(level))
            raw = _run_child("raw", str(tar_path), compression, str(level))
            mbps = ours["bytes_in"] / 1e6 / ours["seconds"]
            raw_mbps = raw["bytes_in"] / 1e6 / raw["seconds"]
            print(
                f"{compression:<12}{level:>6}{ours['bytes_in'] / 1e6:>9.1f}"
                f"{ours['bytes_out'] / 1e6:>9.1f}{ours['bytes_out'] / ours['bytes_in']:>7.3f}"
                f"{mbps:>8.1f}{raw_mbps:>10.1f}{mbps / raw_mbps:>8.2f}"
                f"{ours['rss_kib'] / 1024:>13.1f}{ours['rss_before_kib'] / 1024:>10.1f}"
            )


def run(ctx: Any) -> list[dict[str, object]]:
    """Harness entry (bench/run.py): gzip level 6, the default, on a 200 MB tree."""
    size_mb = 50 if ctx.quick else 200
    tree = ctx.workdir / "tree"
    tree.mkdir()
    generate_tree(tree, size_mb * 1_000_000)
    tar_path = ctx.workdir / "layer.tar"
    _write_plain_tar(tree, tar_path)
    ours = _run_child("layer", str(tree), "gzip", "6")
    raw = _run_child("raw", str(tar_path), "gzip", "6")
    mbps = ours["bytes_in"] / 1e6 / ours["seconds"]
    raw_mbps = raw["bytes_in"] / 1e6 / raw["seconds"]
    return [
        {
            "benchmark": f"layer a {size_mb} MB directory, gzip -6",
            "ours": round(ours["seconds"], 2),
            "peer": round(raw["seconds"], 2),
            "peer_name": "raw zlib on its tar, one core",
            "target": "ratio <= 1.25 (80% of zlib throughput)",
            "notes": f"{mbps:.0f} vs {raw_mbps:.0f} MB/s; peak RSS "
            f"{ours['rss_kib'] / 1024:.0f} MiB ({ours['rss_before_kib'] / 1024:.0f} after imports)",
        }
    ]


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
