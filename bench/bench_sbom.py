"""Benchmark: the SBOM of an image next to the time it took to write that image's layers.

The SBOM reads every layer once (decompress, hash each file, keep metadata, probe ELF and
jar files); writing the layers tars and compresses the same content.  The target is an SBOM
that costs less than the layers did, for the python3 base (38 small package layers) and
for a 1 GB image of mixed files (every file listed as added, the worst case).  And the
case that once took 33 times as long with an SBOM as without: a Dockerfile copying 1,000
small files and one 30 MB file, built through the CLI with the default SBOM and with
``--no-sbom`` (target: at most 1.5 times).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench_layering import generate_tree
from common import Context, Row, measure

from distroless.layers.build import write_layer
from distroless.layers.entry import Entry, EntryType
from distroless.layers.fromdir import entries_from_directory
from distroless.layers.reader import iter_layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest
from distroless.oci.models import ContainerConfig, Descriptor, ImageConfig, Manifest, Platform
from distroless.store import Store
from distroless.verify.image import ImageHandle, from_store
from distroless.verify.sbom import render_sbom
from distroless.verify.scan import scan_image

PLATFORM = Platform("linux", "amd64")


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        return None


def _entries_of_layer(store: Store, digest: str) -> list[Entry]:
    """A layer's members as entries (contents in memory: the python3 layers are small)."""
    out = []
    with store.open_blob(digest) as blob:
        for member, stream in iter_layer(blob):
            if stream is not None:
                out.append(Entry.file(member.name, stream.read(), mode=member.mode))
            elif member.isdir():
                out.append(Entry.directory(member.name, mode=member.mode))
            elif member.issym():
                out.append(Entry.symlink(member.name, member.linkname))
            elif member.islnk():
                out.append(
                    Entry(
                        member.name, EntryType.HARDLINK, mode=member.mode, linkname=member.linkname
                    )
                )
    return out


def _python3(ctx: Context) -> list[Row]:
    store_root = ctx.workdir / "py-store"
    cache = Path(os.environ.get("DISTROLESS_CACHE") or ctx.workdir / "cache")
    exe = str(Path(sys.executable).parent / "distroless")
    subprocess.run(
        [exe, "--root", str(store_root), "bases", "build", "python3:latest", "--arch", "amd64"],
        env={**os.environ, "DISTROLESS_CACHE": str(cache)},
        check=True,
        capture_output=True,
    )
    store = Store(store_root)
    handle = from_store(store, "distroless/python3:latest", PLATFORM)
    layers = [_entries_of_layer(store, d.digest) for d in handle.layers]

    def write_all() -> None:
        for entries in layers:
            write_layer(entries, _Discard())  # type: ignore[arg-type]

    writing = measure(write_all, repeat=ctx.repeat)
    sbom = measure(lambda: render_sbom(scan_image(handle)), repeat=ctx.repeat)
    return [
        Row(
            benchmark=f"sbom of the python3 base ({len(handle.layers)} layers)",
            ours=sbom.median_s,
            peer=writing.median_s,
            peer_name="writing its layers (tar + gzip -6)",
            target="ratio < 1.0",
        )
    ]


def _big(ctx: Context) -> list[Row]:
    size_mb = 100 if ctx.quick else 1000
    tree = ctx.workdir / "tree"
    tree.mkdir()
    generate_tree(tree, size_mb * 1_000_000)
    store = Store(ctx.workdir / "big-store")
    descs: list[Descriptor] = []
    diff_ids: list[Digest] = []

    def write() -> None:
        descs.clear()
        diff_ids.clear()
        with store.write_blob() as writer:
            info = write_layer(entries_from_directory(tree, "/data"), writer)
        descs.append(Descriptor(mt.OCI_LAYER_GZIP, info.digest, info.size))
        diff_ids.append(info.diff_id)

    writing = measure(write, repeat=1)
    config = ImageConfig(
        architecture="amd64", os="linux", config=ContainerConfig(), diff_ids=tuple(diff_ids)
    ).to_bytes()
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, store.put_bytes(config), len(config)), tuple(descs)
    )
    desc = store.put_manifest(manifest, PLATFORM)
    handle = ImageHandle(
        "big",
        desc.digest,
        ImageConfig.from_bytes(config),
        tuple(descs),
        lambda i: store.open_blob(descs[i].digest),
    )
    sbom = measure(lambda: render_sbom(scan_image(handle), added_files=["/data"]), repeat=1)
    shutil.rmtree(tree)
    return [
        Row(
            benchmark=f"sbom of a {size_mb} MB image, every file listed",
            ours=sbom.median_s,
            peer=writing.median_s,
            peer_name="writing its layer (tar + gzip -6)",
            target="ratio < 1.0",
        )
    ]


def _copied_files(ctx: Context) -> list[Row]:
    context = ctx.workdir / "thousand"
    (context / "files").mkdir(parents=True)
    for i in range(1000):
        (context / "files" / f"f{i:04}.txt").write_bytes(b"small file %d\n" % i * 8)
    (context / "big.bin").write_bytes(os.urandom(30 * 1024 * 1024))
    (context / "Dockerfile").write_text("FROM scratch\nCOPY files/ /files/\nCOPY big.bin /\n")
    exe = str(Path(sys.executable).parent / "distroless")
    repeat = max(1, min(ctx.repeat, 3))

    def build(*flags: str) -> list[str]:
        store = ctx.workdir / f"store-thousand{'-'.join(flags)}"
        return [exe, "--root", str(store), "build", "-q", "--no-cache", *flags, str(context)]

    without = measure(build("--no-sbom"), repeat=repeat, env=dict(os.environ))
    default = measure(build(), repeat=repeat, env=dict(os.environ))
    return [
        Row(
            benchmark="build of 1,000 small files + a 30 MB file, with its SBOM",
            ours=default.median_s,
            peer=without.median_s,
            peer_name="the same build with --no-sbom",
            target="ratio <= 1.5",
        )
    ]


def run(ctx: Context) -> list[Row]:
    return [*_copied_files(ctx), *_python3(ctx), *_big(ctx)]
