"""The SBOM pass keeps what it found in each layer by the layer's digest: an image on layers
scanned before streams only its new ones, and its SBOM is byte for byte the one a full read
gives.  Layer opens are counted, not timed."""

from __future__ import annotations

import json
from pathlib import Path

from distroless.layers.entry import Entry
from distroless.verify.attach import attach_sbom
from distroless.verify.golang import GoBuildInfo, GoModule
from distroless.verify.image import from_store
from distroless.verify.layer_scans import LayerScan, LayerScans
from distroless.verify.maven import MavenArtifact
from distroless.verify.sbom import render_sbom
from distroless.verify.scan import scan_image
from tests.helpers import Cli
from tests.verify.fakeimage import PLATFORM, base_entries, make_image, package_entries
from tests.verify.test_scan import BIG, CountingStore

LIBC = package_entries("libc6", "2.41-12", {"usr/lib/libc.so.6": b"ELF"}, source="glibc")


def _image(root: Path, name: str, top: bytes) -> list[str]:
    """An image of three layers: the base and libc (shared by every call), then ``top``."""
    make_image(root, name, [base_entries(), LIBC, [Entry.file("app", top), Entry.file("big", BIG)]])
    return [d.digest for d in from_store(_counting(root), name, PLATFORM).layers]


def _counting(root: Path) -> CountingStore:
    store = CountingStore(root)
    store.opened = {}
    return store


def _records(root: Path) -> Path:
    return root / "state" / "scans"


def test_an_image_on_scanned_layers_streams_only_its_new_layer(tmp_path: Path) -> None:
    first = _image(tmp_path, "one:1", b"one\n")
    second = _image(tmp_path, "two:1", b"two\n")
    assert first[:2] == second[:2] and first[2] != second[2]
    store = _counting(tmp_path)
    attach_sbom(store, store.resolve("one:1"), added_files=["/app"])
    assert sorted(p.stem for p in _records(tmp_path).glob("*.json")) == sorted(
        d.removeprefix("sha256:") for d in first
    )
    store.opened = {}
    (artifact,) = attach_sbom(store, store.resolve("two:1"), added_files=["/app"])
    assert {d: n for d, n in store.opened.items() if d in second} == {second[2]: 1}

    # the same SBOM as a store without records gives, which reads every layer
    alone = tmp_path / "alone"
    assert _image(alone, "two:1", b"two\n") == second
    other = _counting(alone)
    (full,) = attach_sbom(other, other.resolve("two:1"), added_files=["/app"])
    assert {d: n for d, n in other.opened.items() if d in second} == dict.fromkeys(second, 1)
    assert full == artifact


def test_a_damaged_or_foreign_record_is_read_again(tmp_path: Path) -> None:
    layers = _image(tmp_path, "one:1", b"one\n")
    store = _counting(tmp_path)
    records = LayerScans(_records(tmp_path))
    handle = from_store(store, "one:1", PLATFORM)
    expected = render_sbom(scan_image(handle, records))
    base, libc = (_records(tmp_path) / f"{d.removeprefix('sha256:')}.json" for d in layers[:2])
    base.write_text("{not json")
    libc.write_text(libc.read_text().replace(layers[1], layers[0]))  # another layer's record
    store.opened = {}
    assert render_sbom(scan_image(handle, records)) == expected
    assert {d: n for d, n in store.opened.items() if d in layers} == {layers[0]: 1, layers[1]: 1}


def test_a_record_keeps_everything_a_scan_reads(tmp_path: Path) -> None:
    module = GoModule("example.com/app", "v1.2.3", "h1:abc=", GoModule("../local", "", ""))
    info = GoBuildInfo("go1.24.1", "example.com/app/cmd", module, (module,), (("GOOS", "linux"),))
    scan = LayerScan(
        members=[
            ("usr/bin/app", "0", 0o755, 0, 0, 4, "", True),
            ("bin", "2", 0o777, 0, 0, 0, "x", False),
        ],
        hashes={"/usr/bin/app": ("a" * 64, "b" * 40)},
        kept={"/etc/os-release": b"ID=debian\n\xff"},
        go={"/usr/bin/app": info},
        jars={"/app.jar": [MavenArtifact("org.example", "lib", "1.0", "inner.jar")]},
    )
    records = LayerScans(tmp_path)
    digest = "sha256:" + "c" * 64
    records.save(digest, scan)
    assert records.load(digest) == scan
    (member, _), (link, _) = list(scan.replay())
    assert member.isreg() and member.mode == 0o755 and member.pax_headers
    assert link.issym() and link.linkname == "x" and not link.pax_headers
    assert records.load("sha256:" + "d" * 64) is None
    assert LayerScans(None).load(digest) is None


def test_prune_keeps_the_records_of_the_layers_it_is_given(tmp_path: Path) -> None:
    records = LayerScans(tmp_path)
    keep, drop = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    for digest in (keep, drop):
        records.save(digest, LayerScan())
    assert records.prune(lambda digest: digest == keep) == 1
    assert records.load(keep) == LayerScan() and records.load(drop) is None
    assert json.loads((tmp_path / f"{'1' * 64}.json").read_text())["layer"] == keep


def test_prune_drops_the_records_of_layers_the_store_no_longer_holds(cli: Cli) -> None:
    layers = _image(cli.root, "one:1", b"one\n")
    cli("sbom", "one:1", "-o", str(cli.root.parent / "sbom.json")).check()
    assert len(list(_records(cli.root).glob("*.json"))) == len(layers)
    cli("prune").check()
    assert len(list(_records(cli.root).glob("*.json"))) == len(layers)  # still in use
    cli("rmi", "one:1").check()
    cli("prune").check()
    assert list(_records(cli.root).glob("*.json")) == []
