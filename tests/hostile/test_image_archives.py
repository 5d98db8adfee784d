"""Hostile docker-archive / OCI tarballs: refused, nothing read outside, store unchanged."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from distroless.errors import ArchiveError, DistrolessError, IntegrityError
from distroless.layers.reader import Limits
from distroless.store import Store
from distroless.transports import tarball
from tests.fuzz.archives import Member, archive_of, image_members, layer_tar, sha, tar_of


def _state(store: Store) -> tuple[list[str], bytes]:
    return sorted(os.listdir(store.blobs)), (store.root / "index.json").read_bytes()


def _refused(
    tmp_path: Path, blob: bytes, match: str, limits: Limits | None = None
) -> DistrolessError:
    store = Store(tmp_path / "store")
    before = _state(store)
    path = tmp_path / "evil.tar"
    path.write_bytes(blob)
    with pytest.raises(DistrolessError, match=match) as info:
        if limits is None:
            tarball.load(store, path)
        else:
            tarball.load(store, path, limits=limits)
    assert _state(store) == before
    assert os.listdir(store.tmp) == []
    assert sorted(os.listdir(tmp_path)) == ["evil.tar", "store"]
    return info.value


def _docker(entry: dict[str, object], members: dict[str, bytes] | None = None) -> bytes:
    files = dict(members or {})
    files["manifest.json"] = json.dumps([entry]).encode()
    return archive_of(files)


def test_a_good_archive_loads(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    path = tmp_path / "good.tar"
    path.write_bytes(archive_of(image_members()))
    assert tarball.load(store, path) == ["fuzz:1"]
    assert store.fsck() == []


@pytest.mark.parametrize(
    "entry",
    [
        {"Config": "../../../../etc/passwd", "Layers": []},
        {"Config": "/etc/passwd", "Layers": []},
        {"Config": "cfg.json", "Layers": ["../../../../etc/shadow"]},
        {"Config": "cfg.json", "Layers": ["/proc/self/environ"]},
    ],
)
def test_member_paths_never_leave_the_archive(tmp_path: Path, entry: dict[str, object]) -> None:
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(b"")]}}).encode()
    error = _refused(tmp_path, _docker(entry, {"cfg.json": cfg}), "missing member")
    assert isinstance(error, ArchiveError)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        # links resolve inside the archive, as in a container: ../../etc/passwd is etc/passwd
        ([("manifest.json", tarfile.SYMTYPE, "../../etc/passwd")], "missing member"),
        ([("manifest.json", tarfile.SYMTYPE, "/etc/passwd")], "missing member"),
        ([("manifest.json", tarfile.LNKTYPE, "../../etc/passwd")], "missing member"),
        ([("manifest.json", tarfile.LNKTYPE, "manifest.json")], "links to itself"),
        (
            [
                ("manifest.json", tarfile.SYMTYPE, "a"),
                ("a", tarfile.SYMTYPE, "b"),
                ("b", tarfile.SYMTYPE, "a"),
            ],
            "too many links",
        ),
        (
            [("manifest.json", tarfile.LNKTYPE, "a"), ("a", tarfile.LNKTYPE, "manifest.json")],
            "too many links",
        ),
        ([("manifest.json", tarfile.CHRTYPE, "")], "not a regular file"),
        ([("manifest.json", tarfile.FIFOTYPE, "")], "not a regular file"),
    ],
)
def test_links_and_devices_as_members(
    tmp_path: Path, links: list[tuple[str, bytes, str]], message: str
) -> None:
    members = [Member(name, kind, linkname=link) for name, kind, link in links]
    _refused(tmp_path, tar_of(members), message)


def test_escaping_member_names_are_never_written(tmp_path: Path) -> None:
    members = [
        Member("../../escaped", data=b"x"),
        Member("/abs-escaped", data=b"x"),
        Member("manifest.json", data=b"[]"),
    ]
    _refused(tmp_path, tar_of(members), "non-empty list")
    assert not (tmp_path.parent / "escaped").exists()
    assert not Path("/abs-escaped").exists()


def test_huge_pax_header_is_refused(tmp_path: Path) -> None:
    blob = tar_of([Member("manifest.json", data=b"[]", pax={"comment": "x" * 20000})])
    _refused(tmp_path, blob, r"header of \d+ bytes .* exceeds", Limits(max_header_bytes=4096))


def test_huge_announced_longname_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("././@LongLink")
    info.type = tarfile.GNUTYPE_LONGNAME
    info.size = 8 << 30
    _refused(tmp_path, info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024), "exceeds the limit")


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    blob = tar_of([Member(f"m{i}") for i in range(30)])
    _refused(tmp_path, blob, "more than 20 members", Limits(max_entries=20))


def test_json_bomb_is_refused(tmp_path: Path) -> None:
    blob = _docker({"Config": "cfg.json"}, {"cfg.json": b"[" * 100_000})
    _refused(tmp_path, blob, "cfg.json|config|JSON")


def test_layer_decompression_bomb_is_refused(tmp_path: Path) -> None:
    layer = tar_of([Member("zeros", data=bytes(16 << 20))])
    bomb = gzip.compress(layer, mtime=0)
    assert len(bomb) * 500 < len(layer)
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    blob = _docker(
        {"Config": "cfg.json", "RepoTags": ["bomb:1"], "Layers": ["l/layer.tar"]},
        {"cfg.json": cfg, "l/layer.tar": bomb},
    )
    _refused(
        tmp_path,
        blob,
        r"layer l/layer.tar expands beyond the limit of 1048576 bytes",
        Limits(max_total_bytes=1 << 20),
    )
    # Within the default limits the same archive is honest and loads.
    store = Store(tmp_path / "ok")
    (tmp_path / "ok.tar").write_bytes(blob)
    assert tarball.load(store, tmp_path / "ok.tar") == ["bomb:1"]


def test_one_layer_of_an_archive_is_held_to_the_layer_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole archive may be large; one layer expanding past the layer limit is refused."""
    layer = tar_of([Member("zeros", data=bytes(16 << 20))])
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    blob = _docker(
        {"Config": "cfg.json", "RepoTags": ["bomb:1"], "Layers": ["l/layer.tar"]},
        {"cfg.json": cfg, "l/layer.tar": gzip.compress(layer, mtime=0)},
    )
    monkeypatch.setenv("DISTROLESS_MAX_LAYER_BYTES", str(4 << 20))
    _refused(tmp_path, blob, r"layer l/layer.tar expands beyond the limit of 4194304 bytes")


def test_archive_members_over_the_total_limit_are_refused(tmp_path: Path) -> None:
    _refused(
        tmp_path,
        archive_of(image_members()),
        "members exceed the limit of 100 bytes",
        Limits(max_total_bytes=100),
    )


def test_truncated_gzip_layer_is_an_archive_error(tmp_path: Path) -> None:
    layer = layer_tar()
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    blob = _docker(
        {"Config": "cfg.json", "Layers": ["layer.tar.gz"]},
        {"cfg.json": cfg, "layer.tar.gz": gzip.compress(layer)[:40]},
    )
    _refused(tmp_path, blob, "corrupt or truncated")


@pytest.mark.parametrize(
    "index",
    [
        {"manifests": [{"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": -1}]},
        {"manifests": [{"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 1e400}]},
        {"manifests": [{"mediaType": "x", "digest": "../../etc/passwd", "size": 1}]},
        {
            "manifests": [
                {
                    "mediaType": "x",
                    "digest": "sha256:" + "0" * 64,
                    "size": 1,
                    "annotations": {"io.containerd.image.name": 5},
                }
            ]
        },
        {"manifests": "all"},
        {"manifests": [True]},
    ],
)
def test_hostile_oci_index(tmp_path: Path, index: dict[str, object]) -> None:
    raw = json.dumps(index).replace("Infinity", "1e400").encode()
    _refused(tmp_path, archive_of({"index.json": raw}), "invalid|expected|descriptor|missing")


def test_digest_mismatch_is_an_integrity_error(tmp_path: Path) -> None:
    members = image_members()
    name = next(n for n in members if n.startswith("blobs/") and members[n][:2] == b"\x1f\x8b")
    members[name] = members[name][:-8] + bytes(8)
    error = _refused(tmp_path, archive_of(members), "does not match|digest mismatch|diff_id")
    assert isinstance(error, IntegrityError | ArchiveError)


def test_streamed_source_is_bounded_the_same_way(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    before = _state(store)
    blob = tar_of([Member(f"m{i}") for i in range(30)])
    with pytest.raises(ArchiveError, match="more than 20 members"):
        tarball.load(store, io.BytesIO(blob), limits=Limits(max_entries=20))
    assert _state(store) == before
    assert os.listdir(store.tmp) == []
