"""The SBOM reads each layer once, whatever it lists: layer opens are counted, not timed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import BinaryIO

from distroless.layers.entry import Entry
from distroless.store import Store
from distroless.verify.attach import attach_sbom
from distroless.verify.image import from_store
from distroless.verify.sbom import render_sbom
from distroless.verify.scan import scan_image
from tests.verify.fakeimage import PLATFORM, base_entries, make_image, package_entries
from tests.verify.validators import spdx_problems

BIG = bytes(range(256)) * 4096 * 3  # 3 MiB: a big file that every re-read would stream again


class CountingStore(Store):
    """A store that counts how often each blob is opened."""

    opened: dict[str, int]

    def open_blob(self, digest: str) -> BinaryIO:
        self.opened[digest] = self.opened.get(digest, 0) + 1
        return super().open_blob(digest)


def thousand_files(root: Path) -> tuple[CountingStore, list[str]]:
    small = [Entry.file(f"data/f{i:04d}.txt", f"file {i}\n".encode()) for i in range(1000)]
    make_image(
        root,
        "many:1",
        [
            base_entries(),
            package_entries("libc6", "2.41-12", {"usr/lib/libc.so.6": b"ELF"}, source="glibc"),
            [*small, Entry.file("big.bin", BIG)],
        ],
    )
    store = CountingStore(root)
    store.opened = {}
    layers: list[str] = [d.digest for d in from_store(store, "many:1", PLATFORM).layers]
    store.opened = {}
    return store, layers


def test_the_sbom_of_a_thousand_added_files_reads_each_layer_once(tmp_path: Path) -> None:
    store, layers = thousand_files(tmp_path)
    added = [f"/data/f{i:04d}.txt" for i in range(1000)] + ["/big.bin"]
    (artifact,) = attach_sbom(store, store.resolve("many:1"), added_files=added)

    assert {d: n for d, n in store.opened.items() if d in layers} == dict.fromkeys(layers, 1)
    manifest = store.read_manifest(artifact)
    doc = json.loads(store.read_blob(manifest.layers[0].digest))
    files = {f["fileName"]: f["checksums"] for f in doc["files"]}
    assert len(files) == 1001
    assert {"algorithm": "SHA256", "checksumValue": hashlib.sha256(BIG).hexdigest()} in files[
        "./big.bin"
    ]
    assert {"algorithm": "SHA1", "checksumValue": hashlib.sha1(b"file 7\n").hexdigest()} in files[
        "./data/f0007.txt"
    ]
    assert [p["name"] for p in doc["packages"] if p["SPDXID"] != "SPDXRef-Image"] == ["libc6"]
    assert spdx_problems(store.read_blob(manifest.layers[0].digest)) == []


def test_a_directory_stands_for_the_files_below_it_in_the_same_pass(tmp_path: Path) -> None:
    store, layers = thousand_files(tmp_path)
    (artifact,) = attach_sbom(store, store.resolve("many:1"), added_files=["/data"])
    assert sum(store.opened.get(d, 0) for d in layers) == len(layers)
    doc = json.loads(store.read_blob(store.read_manifest(artifact).layers[0].digest))
    assert len(doc["files"]) == 1000


def test_metadata_outside_the_usual_places_is_still_read(tmp_path: Path) -> None:
    """A copyright file reached through a link is read from its layer: right, if slower."""
    make_image(
        tmp_path,
        "linked:1",
        [
            base_entries(),
            [
                *package_entries("zlib1g", "1:1.3", {"usr/lib/libz.so.1": b"ELF"}),
                # the doc directory is a link to a place the pass does not keep
                Entry.file("opt/docs/copyright", b"Format: x\n\nFiles: *\nLicense: Zlib\n"),
            ],
            [Entry.whiteout("usr/share/doc/zlib1g")],
            [Entry.symlink("usr/share/doc/zlib1g", "../../../opt/docs")],
        ],
    )
    store = Store(tmp_path)
    view = scan_image(from_store(store, "linked:1", PLATFORM))
    doc = json.loads(render_sbom(view))
    (zlib,) = [p for p in doc["packages"] if p["name"] == "zlib1g"]
    assert zlib["licenseDeclared"] == "Zlib"
    assert view.layer_reads == 1  # the one file the pass did not keep


def test_a_replaced_file_is_hashed_as_it_ships(tmp_path: Path) -> None:
    make_image(
        tmp_path,
        "replaced:1",
        [
            [Entry.file("app/config", b"old")],
            [Entry.file("app/config", b"new")],
        ],
    )
    view = scan_image(from_store(Store(tmp_path), "replaced:1", PLATFORM))
    hashes = view.file_hashes("/app/config")
    assert hashes is not None and hashes.sha256 == hashlib.sha256(b"new").hexdigest()
    assert view.layer_reads == 0
