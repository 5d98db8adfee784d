from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from distroless.assemble.spec_build import build_spec
from distroless.errors import ArchiveError, InputError, IntegrityError
from distroless.oci.digest import sha256_bytes
from distroless.oci.models import Platform
from distroless.spec import load_spec
from distroless.store import Store
from distroless.transports import tarball
from tests.helpers.rawtar import Member, docker_archive, tar_of


def _built(tmp_path: Path, archs: str = "") -> Store:
    (tmp_path / "app").write_bytes(b"binary")
    spec = tmp_path / "image.yaml"
    spec.write_text(f"files:\n  - {{src: app, dst: /app, mode: 0755}}\nentrypoint: [/app]\n{archs}")
    store = Store(tmp_path / "store")
    store.tag("app:1", build_spec(store, load_spec(spec), platforms=[Platform("linux", "amd64")]))
    return store


def _snapshot(store: Store) -> tuple[list[str], bytes]:
    return sorted(p.name for p in store.blobs.iterdir()), (store.root / "index.json").read_bytes()


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_load_round_trip_keeps_digest(tmp_path: Path, fmt: str) -> None:
    store = _built(tmp_path)
    out = tmp_path / "app.tar"
    with out.open("wb") as fh:
        tarball.save(store, ["app:1"], fh, "docker" if fmt == "docker" else "oci")
    names = tarfile.open(out).getnames()
    assert ("manifest.json" in names) == (fmt == "docker")
    fresh = Store(tmp_path / "fresh")
    assert tarball.load(fresh, out) == ["app:1"]
    assert fresh.resolve("app:1").digest == store.resolve("app:1").digest
    assert fresh.fsck() == []


def test_save_is_deterministic(tmp_path: Path) -> None:
    store = _built(tmp_path)
    outputs = []
    for _ in range(2):
        buf = io.BytesIO()
        tarball.save(store, ["app:1"], buf)
        outputs.append(buf.getvalue())
    assert outputs[0] == outputs[1]


def _legacy_archive(path: Path, layer: bytes, diff_id: str) -> None:
    """A docker-archive whose single (uncompressed) layer claims ``diff_id``."""
    path.write_bytes(docker_archive(layer, diff_id, layer_name="abc/layer.tar"))


def _layer_tar() -> bytes:
    return tar_of([Member("hello", data=b"hi")])


def test_load_legacy_docker_archive(tmp_path: Path) -> None:
    layer = _layer_tar()
    _legacy_archive(tmp_path / "legacy.tar", layer, sha256_bytes(layer))
    store = Store(tmp_path / "store")
    assert tarball.load(store, tmp_path / "legacy.tar") == ["legacy:1"]
    image = store.load_image("legacy:1")
    assert image.layers[0].digest == sha256_bytes(layer)
    assert image.layers[0].media_type == "application/vnd.oci.image.layer.v1.tar"


def test_wrong_diff_id_leaves_store_unchanged(tmp_path: Path) -> None:
    store = _built(tmp_path)
    before = _snapshot(store)
    _legacy_archive(tmp_path / "bad.tar", _layer_tar(), sha256_bytes(b"something else"))
    with pytest.raises(IntegrityError, match="layer abc/layer.tar has diff_id"):
        tarball.load(store, tmp_path / "bad.tar")
    assert _snapshot(store) == before


def test_tampered_blob_leaves_store_unchanged(tmp_path: Path) -> None:
    store = _built(tmp_path)
    out = tmp_path / "app.tar"
    with out.open("wb") as fh:
        tarball.save(store, ["app:1"], fh, "oci")
    layer = store.load_image("app:1").layers[0].digest
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(out) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name.endswith(layer[7:]):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(member, io.BytesIO(data))
    fresh = Store(tmp_path / "fresh")
    before = _snapshot(fresh)
    with pytest.raises(IntegrityError, match=layer):
        tarball.load(fresh, tampered)
    assert _snapshot(fresh) == before


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"readme": b"x"}, "neither a docker archive"),
        ({"manifest.json": b"{"}, "manifest.json is not valid JSON"),
        ({"manifest.json": b"[]"}, "must be a non-empty list"),
        ({"manifest.json": b'[{"Config": "missing.json"}]'}, "missing member 'missing.json'"),
    ],
)
def test_bad_archives(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    store = Store(tmp_path / "store")
    before = _snapshot(store)
    with pytest.raises(ArchiveError, match=message):
        tarball.load(store, path)
    assert _snapshot(store) == before


def test_symlink_member_cannot_escape(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        link = tarfile.TarInfo("manifest.json")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../etc/passwd"
        tar.addfile(link)
    with pytest.raises(ArchiveError, match="missing member 'manifest.json'"):
        tarball.load(Store(tmp_path / "store"), path)
    # The link resolves inside the archive, as in a container: to the archive's etc/passwd.
    with tarfile.open(path, "a") as tar:
        inside = tarfile.TarInfo("etc/passwd")
        inside.size = 2
        tar.addfile(inside, io.BytesIO(b"[]"))
    with pytest.raises(ArchiveError, match="manifest.json must be a non-empty list"):
        tarball.load(Store(tmp_path / "store"), path)


def test_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "junk.tar"
    path.write_bytes(b"definitely not a tar" * 100)
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        tarball.load(Store(tmp_path / "store"), path)
    with pytest.raises(InputError, match="no such file"):
        tarball.load(Store(tmp_path / "store"), tmp_path / "missing.tar")
