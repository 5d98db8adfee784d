"""A failed writer cleans up after itself without taking blobs another writer relies on.

``load`` and ``pull`` remove the blobs they created when they fail, so bad input leaves no
trace. Blobs are shared by content, though: a second writer that needed the same bytes found
them already there and did not write them itself. Removing them under its feet would leave
it tagging an image whose layer is gone. These tests play both writers, in one process with
two ``Store`` objects (flock locks conflict between open files, as between processes).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from distroless.errors import IntegrityError
from distroless.layers.layer import Layer
from distroless.oci import mediatypes as mt
from distroless.oci.digest import Digest, sha256_bytes
from distroless.oci.models import Descriptor, Platform
from distroless.store import Store
from distroless.store.atomic import BlobBatch, BlobWriter
from distroless.transports.registry import pull
from distroless.transports.registry.mount_hints import BlobSources
from distroless.transports.tarball import load
from tests.faults.support import MIB, SEED, assert_consistent, command, leftovers, write_spec
from tests.helpers import Cli, Registry
from tests.helpers.images import put_image
from tests.helpers.rawtar import Member, docker_archive, tar_of

LAYER = b"shared layer bytes" * 1000


class Boom(Exception):
    """The failure that ends the first writer's transaction."""


def _finish_image(store: Store, layer_digest: Digest, size: int, name: str) -> Descriptor:
    """The rest of the second writer's work: config and manifest over its layer, then the tag.

    The layer is not written again: the writer already has it (it found it in the store).
    """
    layer = Layer(Descriptor(mt.OCI_LAYER, layer_digest, size), layer_digest)
    desc = put_image(store, [layer])
    store.tag(name, desc)
    return desc


def test_failed_transaction_keeps_a_blob_another_writer_tagged(tmp_path: Path) -> None:
    first, second = Store(tmp_path), Store(tmp_path)
    with pytest.raises(Boom), first.transaction():
        first.put_bytes(LAYER)  # created by the first writer...
        digest = second.put_bytes(LAYER)  # ...found and used by the second, which tags it
        _finish_image(second, digest, len(LAYER), "other:v1")
        raise Boom
    assert Store(tmp_path).fsck() == []
    assert second.load_image("other:v1").layers[0].size == len(LAYER)


def test_failed_transaction_keeps_blobs_while_another_writer_is_active(tmp_path: Path) -> None:
    first, second = Store(tmp_path), Store(tmp_path)
    with second.session():
        with pytest.raises(Boom), first.transaction():
            first.put_bytes(LAYER)
            digest = second.put_bytes(LAYER)  # the second writer now relies on it, untagged
            raise Boom
        _finish_image(second, digest, len(LAYER), "other:v1")
    assert Store(tmp_path).fsck() == []


def test_failed_transaction_alone_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with pytest.raises(Boom), store.transaction():
        store.put_bytes(LAYER)
        raise Boom
    assert list(store.blobs.iterdir()) == []


def _legacy_archive(path: Path, layer: bytes, diff_id: str) -> None:
    """A docker-archive whose single (uncompressed) layer claims ``diff_id``."""
    path.write_bytes(docker_archive(layer, diff_id, layer_name="l/layer.tar"))


def _layer_tar() -> bytes:
    return tar_of([Member("hello", data=LAYER)])


def test_failed_load_keeps_a_blob_a_concurrent_writer_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same through ``load``: its layer loads, then its diff_id turns out wrong."""
    layer = _layer_tar()
    archive = tmp_path / "bad.tar"
    _legacy_archive(archive, layer, sha256_bytes(b"something else"))
    root = tmp_path / "store"
    loader, writer = Store(root), Store(root)
    put_file = loader.put_file
    found: list[Digest] = []

    def put_file_then_the_other_writer(fileobj: BinaryIO, expected: Digest | None = None) -> Any:
        stored = put_file(fileobj, expected)
        found.append(writer.put_bytes(layer))  # the other writer needs these very bytes
        return stored

    monkeypatch.setattr(loader, "put_file", put_file_then_the_other_writer)
    with writer.session():
        with pytest.raises(IntegrityError, match="diff_id"):
            load(loader, archive)
        _finish_image(writer, found[0], len(layer), "other:v1")
    assert Store(root).fsck() == []


def test_failed_load_alone_leaves_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar"
    _legacy_archive(archive, _layer_tar(), sha256_bytes(b"something else"))
    store = Store(tmp_path / "store")
    with pytest.raises(IntegrityError, match="diff_id"):
        load(store, archive)
    assert list(store.blobs.iterdir()) == []
    assert leftovers(store.root) == []


def test_killed_load_from_stdin_leaves_a_store_prune_can_clean(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "store")
    spec = write_spec(tmp_path / "ctx", {"big.bin": 8 * MIB}, SEED + 51)
    cli("build", "--spec", spec, "-t", "img:v1").check()
    archive = tmp_path / "img.tar"
    cli("save", "img:v1", "-o", archive).check()
    cli("rmi", "img:v1").check()
    cli("prune").check()

    proc = subprocess.Popen(
        command(cli.root, "load"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None
    data = archive.read_bytes()
    # Writing more than a pipe holds returns only once the loader has read most of it: the
    # loader is then spooling standard input into the store's tmp/ when it is killed.
    proc.stdin.write(data[: len(data) // 2])
    proc.stdin.flush()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()

    assert_consistent(cli, "a killed load")
    cli("prune").check()
    assert leftovers(cli.root) == []
    cli("load", "-i", archive).check()
    assert_consistent(cli, "the load after")


def test_failed_pull_keeps_a_blob_a_concurrent_writer_uses(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull that fails after fetching the layer leaves the copy a concurrent writer stored."""
    source = Cli(tmp_path / "source")
    spec = write_spec(tmp_path / "ctx", {"f.bin": 300_000}, SEED + 52)
    digest = source("build", "-q", "--spec", spec, "-t", "img:v1").check().stdout.strip()
    ref = registry.ref("faults/rollback", "v1")
    source("push", "img:v1", ref).check()
    layer = Store(source.root).load_image("img:v1").layers[0]
    layer_bytes = Store(source.root).read_blob(layer.digest)

    root = tmp_path / "store"
    puller, writer = Store(root), Store(root)
    write_blob = puller.write_blob
    found: list[Digest] = []

    @contextlib.contextmanager
    def write_blob_with_a_neighbour(
        expected: Digest | None = None, *, batch: BlobBatch | None = None
    ) -> Iterator[BlobWriter]:
        if expected == digest:
            raise Boom  # the pull fails late, when storing its manifest
        with write_blob(expected, batch=batch) as blob:
            yield blob
        if expected == layer.digest:
            found.append(writer.put_bytes(layer_bytes))  # the neighbour finds it stored

    monkeypatch.setattr(puller, "write_blob", write_blob_with_a_neighbour)
    with writer.session():
        with pytest.raises(Boom):
            pull(puller, ref, platform=Platform("linux", "amd64"), workers=1)
        assert found == [layer.digest]
        _finish_image(writer, found[0], layer.size, "other:v1")
    assert Store(root).fsck() == []


def test_failed_pull_alone_leaves_nothing(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Cli(tmp_path / "source")
    spec = write_spec(tmp_path / "ctx", {"f.bin": 300_000}, SEED + 53)
    digest = source("build", "-q", "--spec", spec, "-t", "img:v1").check().stdout.strip()
    ref = registry.ref("faults/rollback-alone", "v1")
    source("push", "img:v1", ref).check()
    store = Store(tmp_path / "store")
    write_blob = store.write_blob

    @contextlib.contextmanager
    def failing_on_the_manifest(
        expected: Digest | None = None, *, batch: BlobBatch | None = None
    ) -> Iterator[BlobWriter]:
        if expected == digest:
            raise Boom
        with write_blob(expected, batch=batch) as blob:
            yield blob

    monkeypatch.setattr(store, "write_blob", failing_on_the_manifest)
    with pytest.raises(Boom):
        pull(store, ref, platform=Platform("linux", "amd64"))
    assert list(store.blobs.iterdir()) == []


def test_mount_hints_writer_removes_the_temp_of_a_killed_one(tmp_path: Path) -> None:
    """A push or pull killed while replacing sources.json leaves a temp; the next one drops it."""
    state = Store(tmp_path).state_dir("registry")
    stale = state / ".sources.json-k1ll3d"
    stale.write_bytes(b'{"half": ')
    BlobSources(state).record("127.0.0.1:5000", "app", ["sha256:" + "0" * 64])
    assert not stale.exists()
    assert BlobSources(state).repositories("127.0.0.1:5000", "sha256:" + "0" * 64) == ["app"]
