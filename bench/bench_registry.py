"""Benchmark: pushing and pulling a 200 MB multi-layer image, ``distroless`` vs ``skopeo copy``.

Both sides talk to the same private reference registry on 127.0.0.1 and move the same
image: the store itself is an OCI layout, so ``skopeo copy oci:<store>:bench:latest`` reads
exactly the blobs ``distroless push`` sends.  Layers are gzip of incompressible data so
neither tool can win by compressing.  Before each timed run the registry's storage and our
mount hints are emptied, so every run uploads (or downloads) everything, and dirty pages are
flushed, so no run pays for the writes of the one before.  Our numbers include the CLI's
start-up and the store's fsync of every blob (skopeo does not fsync).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import sys
import tarfile
from pathlib import Path

from common import Context, Row, measure

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MIB = 1024 * 1024


class _Random(io.RawIOBase):
    """``size`` bytes of random data, produced as they are read (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = os.urandom(n)
        self.left -= n
        return n


def build_image(root: Path, layers: int, layer_mib: int) -> str:
    """Write a ``layers``-layer gzip image into a store at ``root``; returns its name."""
    from distroless.oci import mediatypes as mt
    from distroless.oci.digest import HashingWriter
    from distroless.oci.models import ContainerConfig, Descriptor, ImageConfig, Manifest
    from distroless.store import Store

    store = Store(root)
    descs: list[Descriptor] = []
    diff_ids = []
    for i in range(layers):
        with store.write_blob() as blob:
            gz = gzip.GzipFile(fileobj=blob, mode="wb", compresslevel=1, mtime=0)
            raw = HashingWriter(gz)
            with tarfile.open(fileobj=raw, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                info = tarfile.TarInfo(f"data/layer{i}.bin")
                info.size = layer_mib * MIB
                tar.addfile(info, _Random(info.size))
            gz.close()
        descs.append(Descriptor(mt.OCI_LAYER_GZIP, blob.digest, blob.size))
        diff_ids.append(raw.digest)
    config = ImageConfig(config=ContainerConfig(entrypoint=("/x",)), diff_ids=tuple(diff_ids))
    data = config.to_bytes()
    config_desc = Descriptor(mt.OCI_CONFIG, store.put_bytes(data), len(data))
    manifest_desc = store.put_manifest(Manifest(config_desc, tuple(descs)))
    store.tag("bench:latest", manifest_desc)
    return "bench:latest"


def run(ctx: Context) -> list[Row]:
    from tests.helpers.cli import distroless_executable
    from tests.helpers.registry import registry

    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise RuntimeError("skopeo is not installed (Debian package skopeo)")
    layers, layer_mib = (2, 16) if ctx.quick else (4, 50)
    repeat = 1 if ctx.quick else max(1, min(ctx.repeat, 3))
    store_root = ctx.workdir / "store"
    name = build_image(store_root, layers, layer_mib)
    total_mib = layers * layer_mib

    policy = ctx.workdir / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    auth = ctx.workdir / "auth.json"
    auth.write_text('{"auths": {}}')
    env = {"REGISTRY_AUTH_FILE": str(auth), "XDG_CONFIG_HOME": str(ctx.workdir / "xdg")}
    ours_bin = str(distroless_executable())

    with contextlib.ExitStack() as stack:
        reg = stack.enter_context(registry(ctx.workdir / "registry"))
        storage = reg.root / "data"
        target = reg.ref("bench/image", "latest")

        def empty_registry() -> None:
            shutil.rmtree(storage / "docker", ignore_errors=True)
            shutil.rmtree(store_root / "state" / "registry", ignore_errors=True)
            os.sync()  # no run pays for the previous run's dirty pages

        push_ours = measure(
            [ours_bin, "--root", str(store_root), "push", name, target],
            repeat=repeat,
            setup=empty_registry,
            env=env,
        )
        push_peer = measure(
            [skopeo, "--policy", str(policy), "copy", "--quiet", "--dest-tls-verify=false",
             f"oci:{store_root}:{name}", f"docker://{target}"],
            repeat=repeat,
            setup=empty_registry,
            env=env,
        )  # fmt: skip

        # Leave one copy in the registry for the pulls.
        measure([ours_bin, "--root", str(store_root), "push", name, target], repeat=1, env=env)
        pulled = ctx.workdir / "pulled"
        peer_dir = ctx.workdir / "peer-layout"

        def empty_pulled() -> None:
            shutil.rmtree(pulled, ignore_errors=True)
            shutil.rmtree(peer_dir, ignore_errors=True)
            os.sync()

        pull_ours = measure(
            [ours_bin, "--root", str(pulled), "pull", target],
            repeat=repeat,
            setup=empty_pulled,
            env=env,
        )
        pull_peer = measure(
            [skopeo, "--policy", str(policy), "copy", "--quiet", "--src-tls-verify=false",
             f"docker://{target}", f"oci:{peer_dir}:bench"],
            repeat=repeat,
            setup=empty_pulled,
            env=env,
        )  # fmt: skip

    def rss(stats: object) -> str:
        mib = getattr(stats, "peak_rss_mib", None)
        return f"peak RSS {mib:.0f} MiB" if mib else ""

    return [
        Row(
            benchmark=f"push {total_mib} MiB, {layers} gzip layers, local registry",
            ours=push_ours.median_s,
            peer=push_peer.median_s,
            peer_name="skopeo copy",
            target="ratio <= 1.0",
            notes=rss(push_ours),
        ),
        Row(
            benchmark=f"pull {total_mib} MiB, {layers} gzip layers, local registry",
            ours=pull_ours.median_s,
            peer=pull_peer.median_s,
            peer_name="skopeo copy",
            target="ratio <= 1.0",
            notes=rss(pull_ours),
        ),
    ]
