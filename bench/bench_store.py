"""Benchmark: ``distroless load`` of one image with thousands of tags.

``docker save`` of a repository writes one index entry (and one ``RepoTags`` name) per tag.
Loading must stay near-linear in the number of tags: every tag used to rewrite and fsync
the whole ``index.json`` (5,000 tags took 229 s).  Each timed run loads into an empty store.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from common import Context, Row, measure

REPO = Path(__file__).resolve().parents[1]


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(path: Path, tags: int) -> None:
    """A combined docker/OCI archive: one small image, ``tags`` names for it."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as layer_tar:
        info = tarfile.TarInfo("hello")
        info.size = 5
        layer_tar.addfile(info, io.BytesIO(b"hello"))
    layer = layer_buf.getvalue()
    rootfs = {"type": "layers", "diff_ids": [_sha(layer)]}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _sha(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _sha(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    names = [f"bench/tags:t{i}" for i in range(tags)]
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": _sha(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": name},
            }
            for name in names
        ],
    }
    docker = [
        {
            "Config": f"blobs/sha256/{_sha(config)[7:]}",
            "RepoTags": names,
            "Layers": [f"blobs/sha256/{_sha(layer)[7:]}"],
        }
    ]
    members = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        f"blobs/sha256/{_sha(config)[7:]}": config,
        f"blobs/sha256/{_sha(layer)[7:]}": layer,
        f"blobs/sha256/{_sha(manifest)[7:]}": manifest,
        "index.json": json.dumps(index).encode(),
        "manifest.json": json.dumps(docker).encode(),
    }
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def run(ctx: Context) -> list[Row]:
    tags = 1000 if ctx.quick else 5000
    archive = ctx.workdir / "tags.tar"
    write_archive(archive, tags)
    store = ctx.workdir / "store"
    stats = measure(
        [REPO / ".venv/bin/distroless", "--root", store, "load", "-i", archive],
        repeat=ctx.repeat,
        setup=lambda: shutil.rmtree(store, ignore_errors=True),
    )
    return [
        Row(
            benchmark=f"load one image with {tags} tags (empty store)",
            ours=stats.median_s,
            target="< 5 s (was 229 s for 5000)",
            notes=f"peak RSS {stats.peak_rss_mib or 0:.0f} MiB",
        )
    ]
