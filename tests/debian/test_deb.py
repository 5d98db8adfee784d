from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from distroless.debian.deb import (
    deb_entries,
    iter_ar,
    merged_usr_path,
    read_control,
    read_control_data,
    status_text,
)
from distroless.errors import ArchiveError
from distroless.layers.entry import EntryType
from tests.debian.archive_fakes import ar_archive, build_deb, tar_bytes

FILES = {
    "./": None,
    "./bin/": None,
    "./bin/tool": b"#!tool\n",
    "./bin/sh": "->/bin/dash",
    "./sbin/": None,
    "./sbin/helper": "->../bin/tool",
    "./lib/": None,
    "./lib/x86_64-linux-gnu/": None,
    "./lib/x86_64-linux-gnu/libfoo.so.1": b"\x7fELF" + b"x" * 5000,
    "./usr/": None,
    "./usr/share/": None,
    "./usr/share/doc/": None,
    "./usr/share/doc/pkg/": None,
    "./usr/share/doc/pkg/copyright": b"free\n",
    "./usr/share/doc/pkg/link": "->../../../../lib/x86_64-linux-gnu/libfoo.so.1",
    "./etc/": None,
    "./etc/pkg.conf": b"k=v\n",
}


@pytest.mark.parametrize("compression", ["xz", "gz", "zst", ""])
def test_entries_are_sorted_with_content_and_status(tmp_path: Path, compression: str) -> None:
    deb = build_deb(tmp_path / "p.deb", "pkg", FILES, data_compression=compression)
    entries = list(deb_entries(deb, merged_usr=False))
    paths = [e.path for e in entries]
    assert paths == sorted(paths)
    by_path = {e.path: e for e in entries}
    assert by_path["bin/tool"].open().read() == b"#!tool\n"
    assert by_path["lib/x86_64-linux-gnu/libfoo.so.1"].size == 5004
    # openers work in any order, repeatedly, after the generator finished
    assert by_path["etc/pkg.conf"].open().read() == b"k=v\n"
    assert by_path["bin/tool"].open().read() == b"#!tool\n"
    status = by_path["var/lib/dpkg/status.d/pkg"].open().read().decode()
    assert status.splitlines()[:2] == ["Package: pkg", "Status: install ok installed"]
    md5 = by_path["var/lib/dpkg/status.d/pkg.md5sums"].open().read().decode()
    assert "  bin/tool\n" in md5
    assert not any("postinst" in p for p in paths)


def test_merged_usr_moves_paths_and_rewrites_links(tmp_path: Path) -> None:
    deb = build_deb(tmp_path / "p.deb", "pkg", FILES)
    entries = {e.path: e for e in deb_entries(deb, merged_usr=True)}
    assert not any(p.split("/")[0] in {"bin", "sbin", "lib"} for p in entries)
    assert entries["usr/bin"].type is EntryType.DIR
    assert entries["usr/bin/tool"].open().read() == b"#!tool\n"
    assert entries["usr/bin/sh"].linkname == "/usr/bin/dash"
    # relative link still resolves to the same (moved) file
    assert entries["usr/sbin/helper"].linkname == "../bin/tool"
    assert entries["usr/share/doc/pkg/link"].linkname == "../../../lib/x86_64-linux-gnu/libfoo.so.1"
    md5 = entries["var/lib/dpkg/status.d/pkg.md5sums"].open().read().decode()
    assert "  usr/bin/tool\n" in md5


def test_merged_usr_keeps_root_links(tmp_path: Path) -> None:
    deb = build_deb(
        tmp_path / "base.deb",
        "base-files",
        {"./": None, "./bin": "->usr/bin", "./usr/": None, "./usr/bin/": None},
    )
    entries = {e.path: e for e in deb_entries(deb, merged_usr=True)}
    assert entries["bin"].type is EntryType.SYMLINK
    assert entries["bin"].linkname == "usr/bin"


def test_merged_usr_conflict_is_an_error(tmp_path: Path) -> None:
    deb = build_deb(
        tmp_path / "p.deb",
        "pkg",
        {"./bin/": None, "./bin/x": b"1", "./usr/": None, "./usr/bin/": None, "./usr/bin/x": b"2"},
    )
    with pytest.raises(ArchiveError, match=r"p\.deb.*usr/bin/x.*twice"):
        list(deb_entries(deb, merged_usr=True))


def test_package_name_override_and_read_control(tmp_path: Path) -> None:
    deb = build_deb(tmp_path / "p.deb", "pkg", {"./etc/": None}, version="2.1-3")
    control = read_control(deb)
    assert control["Package"] == "pkg"
    assert control["Version"] == "2.1-3"
    paths = [e.path for e in deb_entries(deb, merged_usr=False, package_name="pkg:arm64")]
    assert "var/lib/dpkg/status.d/pkg:arm64" in paths


def test_dpkg_deb_built_package_reads(tmp_path: Path) -> None:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: real\nVersion: 1\nArchitecture: all\nMaintainer: T <t@test.invalid>\n"
        "Description: d\n"
    )
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/hello").write_bytes(b"hi\n")
    deb = tmp_path / "real.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    entries = {e.path: e for e in deb_entries(deb, merged_usr=True)}
    assert entries["usr/bin/hello"].open().read() == b"hi\n"
    assert entries["usr/bin/hello"].uid == 0
    assert read_control_data(deb).control.startswith("Package: real")


def test_status_text_replaces_existing_status() -> None:
    text = status_text("Package: a\nStatus: purge\nVersion: 1\n")
    assert text == "Package: a\nStatus: install ok installed\nVersion: 1\n"


def test_merged_usr_path() -> None:
    assert merged_usr_path("lib64/ld.so") == "usr/lib64/ld.so"
    assert merged_usr_path("library/x") == "library/x"
    assert merged_usr_path("usr/bin/x") == "usr/bin/x"


def test_ar_reader_handles_odd_sizes(tmp_path: Path) -> None:
    data = ar_archive([("a", b"odd"), ("b/", b"even")])
    path = tmp_path / "x.ar"
    path.write_bytes(data)
    with path.open("rb") as fh:
        got = [(m.name, r.read()) for m, r in iter_ar(fh, "x.ar")]
    assert got == [("a", b"odd"), ("b", b"even")]


def hostile(tmp_path: Path, members: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / "hostile.deb"
    path.write_bytes(ar_archive(members))
    return path


CONTROL = tar_bytes({"./control": b"Package: evil\nVersion: 1\n"})


@pytest.mark.parametrize(
    ("name", "members", "message"),
    [
        ("not-ar", [], "not an ar archive"),
        (
            "escape",
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar.xz", CONTROL),
                ("data.tar.xz", tar_bytes({"../../etc/passwd": b"x"})),
            ],
            "escapes the root",
        ),
        (
            "truncated",
            [("debian-binary", b"2.0\n"), ("control.tar.xz", CONTROL)],
            "not a .deb",
        ),
        (
            "bad-version",
            [("debian-binary", b"3.0\n")],
            "unsupported .deb format",
        ),
        (
            "bad-compression",
            [("debian-binary", b"2.0\n"), ("control.tar.lz4", b"x")],
            "unsupported member",
        ),
        (
            "corrupt-data",
            [
                ("debian-binary", b"2.0\n"),
                ("control.tar.xz", CONTROL),
                ("data.tar.xz", b"not xz at all"),
            ],
            "data archive is corrupt",
        ),
    ],
)
def test_hostile_debs_are_refused(
    tmp_path: Path, name: str, members: list[tuple[str, bytes]], message: str
) -> None:
    path = hostile(tmp_path, members)
    if name == "not-ar":
        path.write_bytes(b"PK\x03\x04 not an ar file")
    with pytest.raises(ArchiveError, match=message) as info:
        list(deb_entries(path, merged_usr=True))
    assert "hostile.deb" in str(info.value)


def test_device_nodes_are_refused(tmp_path: Path) -> None:
    import io
    import lzma
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("./dev/sda")
        info.type = tarfile.BLKTYPE
        tar.addfile(info)
    path = hostile(
        tmp_path,
        [
            ("debian-binary", b"2.0\n"),
            ("control.tar.xz", CONTROL),
            ("data.tar.xz", lzma.compress(raw.getvalue())),
        ],
    )
    with pytest.raises(ArchiveError, match="device node"):
        list(deb_entries(path, merged_usr=False))


def test_member_larger_than_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hostile.deb"
    header = f"{'debian-binary':<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{99999:<10}".encode() + b"`\n"
    path.write_bytes(b"!<arch>\n" + header + b"2.0\n")
    with pytest.raises(ArchiveError, match="truncated"):
        list(deb_entries(path, merged_usr=False))


def test_oversized_data_is_refused(tmp_path: Path) -> None:
    deb = build_deb(tmp_path / "big.deb", "big", {"./f": b"0" * 100_000})
    with pytest.raises(ArchiveError, match="larger than"):
        list(deb_entries(deb, merged_usr=False, max_data_size=10_000))


def test_entries_round_trip_through_the_layer_writer(tmp_path: Path) -> None:
    import io
    import tarfile

    from distroless.layers.tarwriter import write_tar

    deb = build_deb(tmp_path / "p.deb", "pkg", FILES)
    sink = io.BytesIO()
    write_tar(deb_entries(deb, merged_usr=True), sink)
    sink.seek(0)
    with tarfile.open(fileobj=sink) as tar:
        names = tar.getnames()
        content = tar.extractfile("usr/lib/x86_64-linux-gnu/libfoo.so.1")
        assert content is not None
        assert content.read() == b"\x7fELF" + b"x" * 5000
    assert "var/lib/dpkg/status.d/pkg" in names
    assert not any(n.split("/")[0] in {"bin", "sbin", "lib"} for n in names)


def test_big_member_is_not_held_in_memory(tmp_path: Path) -> None:
    import tracemalloc

    big = 48 << 20
    # gzip keeps its window small; xz would add its (fixed-size) dictionary to the peak
    deb = build_deb(
        tmp_path / "big.deb", "big", {"./blob": b"\0" * big}, md5sums="", data_compression="gz"
    )
    tracemalloc.start()
    try:
        total = 0
        for entry in deb_entries(deb, merged_usr=False, spool_dir=tmp_path):
            with entry.open() as fh:
                while chunk := fh.read(1 << 20):
                    total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total >= big
    assert peak < 16 << 20  # constant buffers (a few 1 MiB chunks), not the 48 MiB member
