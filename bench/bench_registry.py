"""Benchmark: pushing and pulling images, ``distroless`` vs ``skopeo copy``.

Two shapes: 200 MiB in 4 layers (the cost of moving bytes) and 40 small layers (the cost
of each request and each blob).  Both sides talk to the same private reference registry on
127.0.0.1 and move the same image: the store itself is an OCI layout, so ``skopeo copy
oci:<store>:bench:latest`` reads exactly the blobs ``distroless push`` sends.  Layers are
gzip of incompressible data so neither tool can win by compressing.  Before each timed run
the registry's storage and our mount hints are emptied, so every run uploads (or
downloads) everything, and dirty pages are flushed, so no run pays for the writes of the
one before.  The two tools run in turns (ours, skopeo, ours, ...) so both see the same load
on a shared machine.  Our numbers include the CLI's start-up and the store's sync of every
blob before it becomes visible (skopeo does not sync).
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

from common import Context, Row, measure, measure_pair

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


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


def build_image(root: Path, layers: int, layer_kib: int) -> str:
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
                info.size = layer_kib * 1024
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


def _shapes(quick: bool) -> list[tuple[str, int, int]]:
    """(label, layers, KiB per layer) of the images moved."""
    if quick:
        return [("32 MiB, 2 gzip layers", 2, 16 * 1024), ("10 small gzip layers", 10, 64)]
    return [("200 MiB, 4 gzip layers", 4, 50 * 1024), ("40 small gzip layers", 40, 100)]


def run(ctx: Context) -> list[Row]:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise RuntimeError("skopeo is not installed (Debian package skopeo)")
    repeat = 1 if ctx.quick else max(3, min(ctx.repeat, 7))
    rows: list[Row] = []
    for label, layers, layer_kib in _shapes(ctx.quick):
        work = ctx.workdir / f"{layers}x{layer_kib}"
        work.mkdir()
        rows.extend(_one_shape(work, skopeo, label, layers, layer_kib, repeat))
    return rows


def _one_shape(
    work: Path, skopeo: str, label: str, layers: int, layer_kib: int, repeat: int
) -> list[Row]:
    from tests.helpers.cli import distroless_executable
    from tests.helpers.registry import registry

    store_root = work / "store"
    name = build_image(store_root, layers, layer_kib)
    policy = work / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    auth = work / "auth.json"
    auth.write_text('{"auths": {}}')
    env = {"REGISTRY_AUTH_FILE": str(auth), "XDG_CONFIG_HOME": str(work / "xdg")}
    ours_bin = str(distroless_executable())

    with contextlib.ExitStack() as stack:
        reg = stack.enter_context(registry(work / "registry"))
        storage = reg.root / "data"
        target = reg.ref("bench/image", "latest")

        def empty_registry() -> None:
            shutil.rmtree(storage / "docker", ignore_errors=True)
            shutil.rmtree(store_root / "state" / "registry", ignore_errors=True)
            os.sync()  # no run pays for the previous run's dirty pages

        push_ours, push_peer = measure_pair(
            [ours_bin, "--root", str(store_root), "push", name, target],
            [skopeo, "--policy", str(policy), "copy", "--quiet", "--dest-tls-verify=false",
             f"oci:{store_root}:{name}", f"docker://{target}"],
            repeat=repeat,
            setup=empty_registry,
            env=env,
        )  # fmt: skip

        # Leave one copy in the registry for the pulls.
        measure([ours_bin, "--root", str(store_root), "push", name, target], repeat=1, env=env)
        pulled = work / "pulled"
        peer_dir = work / "peer-layout"

        def empty_pulled() -> None:
            shutil.rmtree(pulled, ignore_errors=True)
            shutil.rmtree(peer_dir, ignore_errors=True)
            os.sync()

        pull_ours, pull_peer = measure_pair(
            [ours_bin, "--root", str(pulled), "pull", target],
            [skopeo, "--policy", str(policy), "copy", "--quiet", "--src-tls-verify=false",
             f"docker://{target}", f"oci:{peer_dir}:bench"],
            repeat=repeat,
            setup=empty_pulled,
            env=env,
        )  # fmt: skip

    return [
        Row.from_stats(
            f"push {label}, local registry",
            push_ours,
            push_peer,
            peer_name="skopeo copy",
            target="ratio <= 0.8",
        ),
        Row.from_stats(
            f"pull {label}, local registry",
            pull_ours,
            pull_peer,
            peer_name="skopeo copy",
            target="ratio <= 0.9",
        ),
    ]
