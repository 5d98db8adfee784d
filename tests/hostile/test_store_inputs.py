"""Hostile images against the store and its transports: load, copy, layouts, images, fsck.

Each attack is refused with one line (or, for listing, named in one warning), and the store
is left exactly as it was.  Decoys live under the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from distroless.errors import ArchiveError, DistrolessError, IntegrityError, StoreError
from distroless.oci import mediatypes as mt
from distroless.oci.limits import MAX_CONFIG_BYTES
from distroless.store import Store
from distroless.store.store import REF_NAME
from distroless.transports import tarball
from distroless.transports.copy import copy
from tests.fuzz.archives import archive_of, compress, layer_tar, sha
from tests.helpers.cli import run_cli, run_cli_subprocess

LAYER = layer_tar()
BLOB = compress(LAYER, "gz")
DECOY = b"decoy: must never change\n"


def _config(**extra: object) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha(LAYER)]},
        **extra,
    }
    return json.dumps(doc).encode()


def _manifest(config: bytes, layer_size: int | None = None) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": sha(config), "size": len(config)},
            "layers": [
                {
                    "mediaType": mt.OCI_LAYER_GZIP,
                    "digest": sha(BLOB),
                    "size": len(BLOB) if layer_size is None else layer_size,
                }
            ],
        }
    ).encode()


def _oci(
    config: bytes | None = None,
    *,
    tags: tuple[str, ...] = ("app:1",),
    layer_size: int | None = None,
    entry_size_delta: int = 0,
) -> dict[str, bytes]:
    """The members of an OCI layout (as an archive or a directory) holding one image."""
    config = _config() if config is None else config
    manifest = _manifest(config, layer_size)
    entries = [
        {
            "mediaType": mt.OCI_MANIFEST,
            "digest": sha(manifest),
            "size": len(manifest) + entry_size_delta,
            "annotations": {REF_NAME: tag},
        }
        for tag in tags
    ]
    return {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        f"blobs/sha256/{sha(config)[7:]}": config,
        f"blobs/sha256/{sha(BLOB)[7:]}": BLOB,
        f"blobs/sha256/{sha(manifest)[7:]}": manifest,
        "index.json": json.dumps({"schemaVersion": 2, "manifests": entries}).encode(),
    }


def _docker(config: bytes, tags: list[str]) -> dict[str, bytes]:
    """A classic docker-archive (``docker save`` before the OCI layout was added)."""
    entry = {"Config": "config.json", "RepoTags": tags, "Layers": ["layer/layer.tar"]}
    return {
        "manifest.json": json.dumps([entry]).encode(),
        "config.json": config,
        "layer/layer.tar": LAYER,
    }


def _write_dir(path: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def _state(store: Store) -> tuple[list[str], bytes]:
    return sorted(os.listdir(store.blobs)), (store.root / "index.json").read_bytes()


def _loaded(tmp_path: Path) -> Store:
    """A store holding ``app:1`` (the honest image every attack below builds on)."""
    store = Store(tmp_path / "store")
    (tmp_path / "good.tar").write_bytes(archive_of(_oci()))
    assert tarball.load(store, tmp_path / "good.tar") == ["app:1"]
    return store


def _load_refused(store: Store, path: Path, members: dict[str, bytes], match: str) -> None:
    before = _state(store)
    path.write_bytes(archive_of(members))
    with pytest.raises(DistrolessError, match=match):
        tarball.load(store, path)
    assert _state(store) == before
    assert os.listdir(store.tmp) == []


# -- item 10: every descriptor is checked, whether or not its blob is already stored --------


@pytest.mark.parametrize(
    ("lie", "match"),
    [
        ({"layer_size": len(BLOB) + 1}, "descriptor of blob .* says"),
        ({"layer_size": len(BLOB) - 1}, "descriptor of blob .* says"),
        ({"entry_size_delta": 1}, "its descriptor says"),
        ({"entry_size_delta": -1}, "its descriptor says"),
    ],
)
@pytest.mark.parametrize("transport", ["load", "copy-oci"])
def test_a_wrong_size_is_refused_for_a_blob_the_store_has(
    tmp_path: Path, transport: str, lie: dict[str, int], match: str
) -> None:
    store = _loaded(tmp_path)
    members = _oci(
        tags=("other:1",),
        layer_size=lie.get("layer_size"),
        entry_size_delta=lie.get("entry_size_delta", 0),
    )
    if transport == "load":
        _load_refused(store, tmp_path / "evil.tar", members, match)
    else:
        before = _state(store)
        layout = _write_dir(tmp_path / "layout", members)
        with pytest.raises(IntegrityError, match=match):
            copy(store, f"oci:{layout}", "other:1")
        assert _state(store) == before
    assert store.fsck() == []


def test_two_descriptors_of_one_blob_must_agree(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    members = _oci(tags=("a:1", "b:1"))
    index = json.loads(members["index.json"])
    index["manifests"][1]["size"] += 1
    members["index.json"] = json.dumps(index).encode()
    _load_refused(store, tmp_path / "evil.tar", members, "disagree on its size|descriptor says")


# -- item 11: temp files are never opened at a name someone could have planted --------------


def _decoy(tmp_path: Path) -> Path:
    decoy = tmp_path / "decoy"
    decoy.write_bytes(DECOY)
    return decoy


def test_copy_to_a_layout_never_writes_through_planted_links(tmp_path: Path) -> None:
    store = _loaded(tmp_path)
    decoy = _decoy(tmp_path)
    layout = tmp_path / "out"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    config = _config()
    manifest = _manifest(config)
    # the names the old writer used, and a final name already pointing elsewhere
    for digest in (sha(config), sha(BLOB), sha(manifest)):
        (blobs / f"{digest[7:]}.partial").symlink_to(decoy)
    (blobs / sha(BLOB)[7:]).symlink_to(decoy)
    copy(store, "app:1", f"oci:{layout}:app:1")
    assert decoy.read_bytes() == DECOY
    for digest, data in ((sha(config), config), (sha(BLOB), BLOB), (sha(manifest), manifest)):
        blob = blobs / digest[7:]
        assert stat.S_ISREG(os.lstat(blob).st_mode), blob
        assert blob.read_bytes() == data
    back = Store(tmp_path / "back")
    copy(back, f"oci:{layout}:app:1", "app:1")
    assert back.fsck() == []


def test_a_layout_with_a_linked_blob_directory_is_refused(tmp_path: Path) -> None:
    store = _loaded(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    layout = tmp_path / "out"
    (layout / "blobs").mkdir(parents=True)
    (layout / "blobs" / "sha256").symlink_to(elsewhere)
    with pytest.raises(ArchiveError, match="blobs/sha256 is not a directory"):
        copy(store, "app:1", f"oci:{layout}")
    assert os.listdir(elsewhere) == []


@pytest.mark.parametrize("how", ["copy-docker-archive", "copy-oci-archive", "save"])
def test_archive_outputs_never_write_through_a_planted_partial_link(
    tmp_path: Path, how: str
) -> None:
    store = _loaded(tmp_path)
    decoy = _decoy(tmp_path)
    out = tmp_path / "app.tar"
    (tmp_path / ".app.tar.partial").symlink_to(decoy)
    if how == "save":
        run_cli("save", "app:1", "-o", out, root=store.root).check()
    else:
        kind = how.removeprefix("copy-")
        copy(store, "app:1", f"{kind}:{out}:app:1")
    assert decoy.read_bytes() == DECOY
    assert stat.S_ISREG(os.lstat(out).st_mode)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [".app.tar.partial", "app.tar", "decoy", "good.tar", "store"]
    )
    again = Store(tmp_path / "again")
    assert tarball.load(again, out) == ["app:1"]


# -- item 13: one bad image does not break `images` -----------------------------------------


def test_images_lists_the_rest_and_names_the_broken_entry(tmp_path: Path) -> None:
    store = _loaded(tmp_path)
    good = store.resolve("app:1")
    # an index whose entries carry no platform: valid OCI, listed with its config's platform
    index = json.dumps({"schemaVersion": 2, "manifests": [good.to_dict()]}).encode()
    store.tag("multi:1", store.resolve(store.put_bytes(index)))
    # an image whose manifest is gone
    lost = _manifest(_config(author="lost"))
    store.tag("broken:1", store.resolve(store.put_bytes(lost)))
    store.blob_path(sha(lost)).unlink()
    result = run_cli("images", root=store.root)
    assert result.exit_code == 0, result.stderr
    assert "app" in result.stdout and "multi" in result.stdout and "broken" not in result.stdout
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"warning: broken:1 ({sha(lost)}) cannot be listed")
    rows = run_cli("images", "--json", root=store.root).json()
    assert isinstance(rows, list)
    assert {r["name"]: r["platforms"] for r in rows} == {
        "app:1": ["linux/amd64"],
        "multi:1": ["linux/amd64"],
    }
    inspected = run_cli("inspect", "multi:1", root=store.root).check().json()
    assert isinstance(inspected, dict) and inspected["manifestDigest"] == good.digest


# -- low items --------------------------------------------------------------------------------


def test_sbom_of_a_config_with_lone_surrogates(tmp_path: Path) -> None:
    raw = _config(config={"Labels": {"x\\udc00": "a\\ud800b"}}).decode()
    raw = raw.replace('"amd64"', '"amd64\\udfff"').replace("\\\\", "\\")
    store = Store(tmp_path / "store")
    (tmp_path / "s.tar").write_bytes(archive_of(_oci(raw.encode(), tags=("sur:1",))))
    tarball.load(store, tmp_path / "s.tar")
    result = run_cli("sbom", "sur:1", root=store.root)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["spdxVersion"] == "SPDX-2.3"
    config = run_cli("inspect", "sur:1", root=store.root).check().json()
    assert isinstance(config, dict)
    assert config["config"]["architecture"] == "amd64\ufffd"
    assert config["config"]["config"]["Labels"] == {"x\ufffd": "a\ufffdb"}


def test_pull_of_a_host_with_an_overlong_label_is_one_line(tmp_path: Path) -> None:
    result = run_cli("pull", f"{'a' * 64}.invalid/app:1", root=tmp_path / "store")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert "label longer than 63 characters" in result.stderr


def _sparse(path: Path, size: int = 1 << 40) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("where", ["index.json", "index.json-link", "manifest", "manifest-size"])
def test_copy_from_a_layout_with_huge_documents_is_one_line(tmp_path: Path, where: str) -> None:
    """A terabyte (sparse) where a small document should be: refused before it is read."""
    store = _loaded(tmp_path)
    before = _state(store)
    members = _oci(tags=("big:1",))
    layout = _write_dir(tmp_path / "layout", members)
    manifest_name = f"blobs/sha256/{sha(_manifest(_config()))[7:]}"
    if where == "index.json":
        _sparse(layout / "index.json")
    elif where == "index.json-link":
        (layout / "index.json").unlink()
        (layout / "index.json").symlink_to(_sparse(tmp_path / "decoy"))
    elif where == "manifest":
        _sparse(layout / manifest_name)
    else:
        index = json.loads(members["index.json"])
        index["manifests"][0]["size"] = 1 << 40
        (layout / "index.json").write_bytes(json.dumps(index).encode())
    result = run_cli("copy", f"oci:{layout}", "big:1", root=store.root)
    assert result.exit_code != 0
    assert result.stderr.count("\n") == 1, result.stderr
    assert _state(store) == before


def test_fsck_names_what_is_not_a_blob_and_never_opens_it(tmp_path: Path) -> None:
    store = _loaded(tmp_path)
    _decoy(tmp_path)
    (store.blobs / "0-a-directory").mkdir()
    os.mkfifo(store.blobs / "1-a-fifo")
    (store.blobs / "2-a-link").symlink_to(tmp_path / "decoy")
    # a subprocess with a timeout: an fsck that opened the FIFO would wait for a writer
    result = run_cli_subprocess("fsck", root=store.root, timeout=120)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [
        "blobs/sha256/0-a-directory is a directory, not a blob; remove it",
        "blobs/sha256/1-a-fifo is a FIFO, not a blob; remove it",
        "blobs/sha256/2-a-link is a symbolic link, not a blob; remove it",
    ]
    assert run_cli("prune", root=store.root).exit_code == 0
    assert {"0-a-directory", "1-a-fifo", "2-a-link"} <= set(os.listdir(store.blobs))
    assert (tmp_path / "decoy").read_bytes() == DECOY


@pytest.mark.timeout(120)  # a reader that opened the FIFO would wait for a writer forever
@pytest.mark.parametrize("kind", ["directory", "FIFO", "symbolic link"])
def test_a_blob_that_is_not_a_regular_file_is_refused_when_read(tmp_path: Path, kind: str) -> None:
    store = _loaded(tmp_path)
    decoy = _decoy(tmp_path)
    manifest = store.resolve("app:1")
    path = store.blob_path(manifest.digest)
    path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "FIFO":
        os.mkfifo(path)
    else:
        path.symlink_to(decoy)
    try:
        with pytest.raises(StoreError, match="is not a regular file"):
            store.load_image("app:1")
        assert f"blobs/sha256/{path.name} is a {kind}, not a blob; remove it" in store.fsck()
    finally:
        path.rmdir() if kind == "directory" else path.unlink()


def test_many_tags_load_with_one_index_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Near-linear loading: thousands of tags must not rewrite index.json once each."""
    store = Store(tmp_path / "store")
    writes: list[int] = []
    write_index = Store._write_index

    def counted(self: Store, entries: list[object]) -> None:
        writes.append(len(entries))
        write_index(self, entries)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "_write_index", counted)
    tags = tuple(f"t{i}:1" for i in range(300))
    (tmp_path / "tags.tar").write_bytes(archive_of(_oci(tags=tags)))
    assert tarball.load(store, tmp_path / "tags.tar") == list(tags)
    assert writes == [300]
    assert len(store.refs()) == 300


@pytest.mark.parametrize("shape", ["oci", "docker"])
def test_an_oversized_config_is_refused_on_load(tmp_path: Path, shape: str) -> None:
    store = _loaded(tmp_path)
    config = _config(comment="x" * (MAX_CONFIG_BYTES + 1))
    members = _oci(config, tags=("huge:1",)) if shape == "oci" else _docker(config, ["huge:1"])
    _load_refused(store, tmp_path / "huge.tar", members, "more than the 8388608 bytes")


def test_inspect_of_an_oversized_config_already_stored_is_one_line(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    config = _config(comment="x" * (MAX_CONFIG_BYTES + 1))
    store.put_bytes(BLOB)
    store.put_bytes(config)
    manifest = store.put_bytes(_manifest(config))
    store.tag("huge:1", store.resolve(manifest))
    result = run_cli("inspect", "huge:1", root=store.root)
    assert result.exit_code == ArchiveError.exit_code
    assert result.stderr.count("\n") == 1
    assert "more than the 8388608 bytes an image config may have" in result.stderr


@pytest.mark.parametrize(
    ("shape", "tag"),
    [
        ("docker", "app/Upper:1"),
        ("docker", "app:bad tag"),
        ("docker", "app::1"),
        ("oci", "Not A Name"),
    ],
)
def test_an_invalid_tag_is_refused_naming_it(tmp_path: Path, shape: str, tag: str) -> None:
    store = _loaded(tmp_path)
    config = _config(author="tags")
    members = _oci(config, tags=(tag,)) if shape == "oci" else _docker(config, ["ok:1", tag])
    _load_refused(store, tmp_path / "tags.tar", members, f"invalid tag: invalid reference {tag!r}")


@pytest.mark.parametrize("damage", ["truncated", "directory"])
def test_save_refuses_a_damaged_blob_in_one_line(tmp_path: Path, damage: str) -> None:
    store = _loaded(tmp_path)
    layer = store.blob_path(sha(BLOB))
    if damage == "truncated":
        layer.write_bytes(BLOB[:-1])
    else:
        layer.unlink()
        layer.mkdir()
    result = run_cli("save", "app:1", "-o", tmp_path / "out.tar", root=store.root)
    assert result.exit_code in (IntegrityError.exit_code, StoreError.exit_code)
    assert result.stderr.count("\n") == 1 and "fsck" in result.stderr
    assert not (tmp_path / "out.tar").exists()
    if damage == "directory":
        layer.rmdir()  # leave a store the suite's own checks can read
