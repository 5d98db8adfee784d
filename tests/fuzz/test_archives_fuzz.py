"""Layers, .debs and image tarballs: any bytes give a result or a DistrolessError.

Readers must also contain what they write: nothing appears outside an unpack target, and
a failed ``load`` leaves the store exactly as it was.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from hypothesis import given, reject
from hypothesis import strategies as st

from distroless.debian.deb import deb_entries, iter_ar, read_control
from distroless.errors import DistrolessError
from distroless.layers.apply import apply_layer
from distroless.layers.compress import open_decompressed
from distroless.layers.reader import Limits, iter_layer
from distroless.runtime.unpack import unpack_layer
from distroless.store import Store
from distroless.transports import tarball
from tests.fuzz.archives import archive_of, compress, deb_of, image_members, layer_tar
from tests.fuzz.mutate import fuzz_settings, mutated_bytes, result_or_error
from tests.helpers.rawtar import Member, tar_of

LAYERS = [
    layer_tar(),
    layer_tar(tarfile.GNU_FORMAT),
    layer_tar()[:2048],
    compress(layer_tar(), "gz"),
    compress(layer_tar(tarfile.GNU_FORMAT), "zst"),
]
SMALL = Limits(max_entries=200, max_header_bytes=4096, max_name_length=512, max_total_bytes=1 << 20)


def _read_layer(data: bytes) -> None:
    for _member, content in iter_layer(io.BytesIO(data), limits=SMALL):
        if content is not None:
            while content.read(4096):
                pass


@fuzz_settings(600)
@given(mutated_bytes(LAYERS))
def test_iter_layer_never_crashes(data: bytes) -> None:
    result_or_error(lambda: _read_layer(data))


@fuzz_settings(100)
@given(mutated_bytes(LAYERS))
def test_open_decompressed_never_crashes(data: bytes) -> None:
    def read_all() -> None:
        stream = open_decompressed(io.BytesIO(data))
        try:
            while stream.read(1 << 16):
                pass
        except (EOFError, OSError) as exc:
            # open_decompressed is the raw stream; iter_layer translates these errors.
            raise _Translated(str(exc)) from exc

    try:
        read_all()
    except _Translated:
        pass
    except Exception as exc:
        from distroless.layers.compress import DECOMPRESS_ERRORS

        assert isinstance(exc, DECOMPRESS_ERRORS), repr(exc)


class _Translated(Exception):
    pass


def _snapshot_tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@fuzz_settings(200)
@given(mutated_bytes(LAYERS))
def test_apply_layer_contained(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "outside").mkdir()
        (base / "outside" / "keep").write_bytes(b"keep")
        target = base / "root"
        result_or_error(lambda: apply_layer(io.BytesIO(data), target, limits=SMALL))
        assert sorted(os.listdir(base)) == ["outside", "root"]
        assert _snapshot_tree(base / "outside") == ["keep"]
        assert (base / "outside" / "keep").read_bytes() == b"keep"


DEBS = [deb_of(), deb_of(data_compression="gz"), deb_of(data_compression="")]


@fuzz_settings(400)
@given(mutated_bytes(DEBS))
def test_deb_reader_never_crashes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.deb"
        path.write_bytes(data)

        def read() -> None:
            for entry in deb_entries(path, merged_usr=True, spool_dir=Path(tmp)):
                with entry.open() as fh:
                    fh.read()

        result_or_error(read)
        result_or_error(lambda: read_control(path))

        def members() -> None:
            with path.open("rb") as fh:
                for _m, reader in iter_ar(fh, "p.deb"):
                    reader.read(100)

        result_or_error(members)


def _store_state(store: Store) -> tuple[list[str], bytes]:
    return sorted(os.listdir(store.blobs)), (store.root / "index.json").read_bytes()


def _load(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        before = _store_state(store)
        path = Path(tmp) / "in.tar"
        path.write_bytes(data)
        result = result_or_error(lambda: tarball.load(store, path))
        if isinstance(result, DistrolessError):
            assert _store_state(store) == before
        else:
            assert store.fsck() == []
        assert os.listdir(store.tmp) == []


IMAGE = image_members()
NAMES = sorted(IMAGE)


@fuzz_settings(100)
@given(mutated_bytes([archive_of(IMAGE)], max_ops=3))
def test_load_damaged_archive(data: bytes) -> None:
    _load(data)


@fuzz_settings(150)
@given(st.sampled_from(NAMES), st.data())
def test_load_damaged_member(name: str, data: st.DataObject) -> None:
    members = dict(IMAGE)
    members[name] = data.draw(mutated_bytes([IMAGE[name]]))
    if data.draw(st.booleans()):
        members.pop(data.draw(st.sampled_from(NAMES)))
    _load(archive_of(members))


_OCI_ONLY = {k: v for k, v in IMAGE.items() if k != "manifest.json"}


@fuzz_settings(100)
@given(st.sampled_from(sorted(_OCI_ONLY)), st.data())
def test_load_damaged_oci_layout(name: str, data: st.DataObject) -> None:
    members = dict(_OCI_ONLY)
    members[name] = data.draw(mutated_bytes([_OCI_ONLY[name]]))
    _load(archive_of(members))


_segment = st.sampled_from(["a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "lnk", "/"])
_names = st.lists(_segment, min_size=1, max_size=4).map("/".join)
_kinds = st.sampled_from(
    [
        tarfile.REGTYPE,
        tarfile.DIRTYPE,
        tarfile.SYMTYPE,
        tarfile.LNKTYPE,
        tarfile.FIFOTYPE,
        tarfile.CHRTYPE,
        tarfile.BLKTYPE,
    ]
)
# Mostly plain ids, sometimes what only base-256 fields or PAX records can carry.
_ids = st.one_of(
    st.just(0),
    st.integers(0, 70000),
    st.sampled_from([-1, (1 << 32) - 1, 1 << 32, 1 << 40, -(1 << 40), 1 << 70]),
)
_members = st.lists(
    st.builds(
        Member,
        name=_names,
        type=_kinds,
        data=st.binary(max_size=8),
        linkname=st.one_of(_names, st.sampled_from(["/", "../..", "/../outside", "../outside"])),
        mode=st.sampled_from([0o644, 0o755, 0o4755, 0o000, 0o1777]),
        uid=_ids,
        gid=_ids,
        devmajor=_ids,
        devminor=_ids,
    ),
    max_size=8,
)


def _writable(members: list[Member]) -> bytes:
    """The layer as tarfile can write it: PAX, else GNU base-256, else not at all."""
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        try:
            return tar_of(members, fmt)
        except ValueError:
            continue
    reject()


@fuzz_settings(120)
@given(_members, _members)
def test_apply_generated_layers_contained(lower: list[Member], upper: list[Member]) -> None:
    """Two layers of arbitrary names, links and whiteouts never touch anything outside."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "outside").mkdir()
        (base / "outside" / "keep").write_bytes(b"keep")
        target = base / "root"
        for members in (lower, upper):
            blob = _writable(members)
            result_or_error(lambda b=blob: apply_layer(io.BytesIO(b), target))  # type: ignore[misc]
            fresh = base / "unpacked"
            fresh.mkdir()
            result_or_error(lambda b=blob, f=fresh: unpack_layer(io.BytesIO(b), f))  # type: ignore[misc]
            shutil.rmtree(fresh)
        assert sorted(os.listdir(base)) == ["outside", "root"]
        assert _snapshot_tree(base / "outside") == ["keep"]
        assert (base / "outside" / "keep").read_bytes() == b"keep"
