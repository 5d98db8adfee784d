"""Benchmark: the SBOM of an image next to the time it took to write that image's layers.

The SBOM reads every layer once (decompress, hash each file, keep metadata, probe ELF and
jar files); writing the layers tars and compresses the same content.  The target is an SBOM
that costs less than the layers did, for the python3 base (38 small package layers) and
for a 1 GB image of mixed files (every file listed as added, the worst case).
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
            info = write_layer(entries_from_directory(tree, "/data"), writer)  # type: ignore[arg-type]
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


def run(ctx: Context) -> list[Row]:
    return [*_python3(ctx), *_big(ctx)]
