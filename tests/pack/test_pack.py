"""``pack`` over a hand-made Debian root: exactly the closure, paths, modes, packages, extras."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from distroless.elf import DirectoryView, FileKind, LoaderConfig
from distroless.errors import BuildError, NotFoundError, UsageError
from distroless.oci.models import Platform
from distroless.pack import pack_image, parse_extras, plan_pack
from distroless.pack.plan import nss_modules
from distroless.store import Store
from distroless.verify.fsview import FileSystemView
from distroless.verify.image import from_store
from tests.helpers import Cli
from tests.pack.rootfs import LIB, TRIPLET, debian_root
from tests.verify.elftree import ARM64, library

AMD64 = Platform("linux", "amd64")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return debian_root(tmp_path / "root")


def _image_fs(store: Store, name: str) -> FileSystemView:
    return FileSystemView.from_image(from_store(store, name, AMD64))


def test_plan_holds_the_program_its_closure_and_the_links_on_the_way(root: Path) -> None:
    plan = plan_pack(DirectoryView(root), ["/usr/bin/app"])
    files = {path: (f.kind, f.mode, f.linkname) for path, f in plan.files.items()}
    assert files == {
        "/usr/bin/app": (FileKind.FILE, 0o750, ""),
        f"/{LIB}/libc.so.6": (FileKind.FILE, 0o644, ""),
        f"/{LIB}/ld-linux-x86-64.so.2": (FileKind.FILE, 0o755, ""),
        f"/{LIB}/libz.so.1.2.13": (FileKind.FILE, 0o644, ""),
        f"/{LIB}/libz.so.1": (FileKind.SYMLINK, 0o777, "libz.so.1.2.13"),
        "/lib": (FileKind.SYMLINK, 0o777, "usr/lib"),
        "/lib64": (FileKind.SYMLINK, 0o777, "usr/lib64"),
        "/usr/lib64/ld-linux-x86-64.so.2": (
            FileKind.SYMLINK,
            0o777,
            f"../lib/{TRIPLET}/ld-linux-x86-64.so.2",
        ),
    }


def test_symbols_that_need_dlopened_pieces_warn_until_they_are_added(root: Path) -> None:
    plan = plan_pack(DirectoryView(root), ["/usr/bin/app"])
    assert len(plan.warnings) == 2
    assert any("getaddrinfo" in w and "--with nss" in w for w in plan.warnings)
    assert any("pthread_cancel" in w and "--with libgcc_s" in w for w in plan.warnings)
    plan = plan_pack(DirectoryView(root), ["/usr/bin/app"], extras=parse_extras(["nss,libgcc_s"]))
    assert plan.warnings == []
    # the module nsswitch.conf names, its own closure, libgcc_s, and the file itself
    for path in ("libnss_mymod.so.2", "libdep.so.1", "libgcc_s.so.1"):
        assert f"/{LIB}/{path}" in plan.files
    assert "/etc/nsswitch.conf" in plan.files and "/etc/passwd" in plan.files
    assert f"/{LIB}/libunused.so.1" not in plan.files


def test_nss_modules_come_from_the_services_nsswitch_names() -> None:
    text = "# comment\npasswd: files systemd\nhosts: files [NOTFOUND=return] dns\nbad line\n"
    assert nss_modules(text) == ("libnss_files.so.2", "libnss_systemd.so.2", "libnss_dns.so.2")


def test_data_extras_bring_their_trees_and_set_the_bundle_variable(root: Path) -> None:
    plan = plan_pack(
        DirectoryView(root), ["/usr/bin/app"], extras=parse_extras(["certs", "tzdata"])
    )
    assert plan.files["/usr/share/zoneinfo/UTC"].kind is FileKind.FILE
    assert plan.files["/usr/share/zoneinfo/Etc/UTC"].linkname == "../UTC"
    assert "/etc/ssl/certs/ca-certificates.crt" in plan.files
    assert plan.env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}


def test_a_file_that_is_no_elf_is_packed_as_it_is(root: Path) -> None:
    plan = plan_pack(DirectoryView(root), ["/usr/bin/app", "/etc/nsswitch.conf"])
    assert plan.files["/etc/nsswitch.conf"].kind is FileKind.FILE
    assert f"/{LIB}/libnss_mymod.so.2" not in plan.files


def test_packed_image_carries_a_status_entry_per_package_with_only_its_packed_files(
    root: Path, tmp_path: Path
) -> None:
    store = Store(tmp_path / "store")
    packed = pack_image(store, DirectoryView(root), ["/usr/bin/app"], platform=AMD64)
    store.tag("app:1", packed.descriptor)
    assert packed.packages == ("app", "libc6", "zlib1g")
    fs = _image_fs(store, "app:1")
    status = fs.read_text("/var/lib/dpkg/status.d/zlib1g")
    assert "Package: zlib1g\nStatus: install ok installed\nVersion: 1.0-1\n" in status
    libz = (root / LIB / "libz.so.1.2.13").read_bytes()
    copyright_md5 = hashlib.md5(b"zlib license\n").hexdigest()
    assert fs.read_text("/var/lib/dpkg/status.d/zlib1g.md5sums") == (
        f"{hashlib.md5(libz).hexdigest()}  {LIB}/libz.so.1.2.13\n"
        f"{copyright_md5}  usr/share/doc/zlib1g/copyright\n"
    )
    assert fs.get("/var/lib/dpkg/status.d/libunused1") is None
    assert fs.get("/var/lib/dpkg/status.d/removed") is None
    app = fs.get("/usr/bin/app")
    assert app is not None and app.mode == 0o750
    assert fs.read_bytes(f"/{LIB}/libc.so.6") == (root / LIB / "libc.so.6").read_bytes()
    config = from_store(store, "app:1", AMD64).config.config
    assert config.entrypoint == ("/usr/bin/app",)


def test_distroless_layout_status_d_attributes_too(tmp_path: Path) -> None:
    root = debian_root(tmp_path / "root", lists={})
    os.remove(root / "var/lib/dpkg/status")
    status_d = root / "var/lib/dpkg/status.d"
    status_d.mkdir()
    (status_d / "zlib1g").write_text("Package: zlib1g\nVersion: 9\nArchitecture: amd64\n")
    (status_d / "zlib1g.md5sums").write_text(f"00  {LIB}/libz.so.1.2.13\n")
    store = Store(tmp_path / "store")
    packed = pack_image(store, DirectoryView(root), ["/usr/bin/app"], platform=AMD64)
    assert packed.packages == ("zlib1g",)
    assert f"/{LIB}/libc.so.6" in packed.unowned


def test_two_packs_give_the_same_digest(root: Path, tmp_path: Path) -> None:
    digests = {
        pack_image(
            Store(tmp_path / f"store{i}"),
            DirectoryView(root),
            ["/usr/bin/app"],
            platform=AMD64,
            extras=parse_extras(["nss"]),
        ).descriptor.digest
        for i in range(2)
    }
    assert len(digests) == 1


def test_a_missing_program_or_library_or_extra_is_a_clear_error(root: Path) -> None:
    view = DirectoryView(root)
    with pytest.raises(NotFoundError, match="/usr/bin/nope"):
        plan_pack(view, ["/usr/bin/nope"])
    os.remove(root / LIB / "libz.so.1.2.13")
    with pytest.raises(BuildError, match="libz.so.1 .needed by /usr/bin/app. not found"):
        plan_pack(view, ["/usr/bin/app"])
    with pytest.raises(UsageError, match="unknown --with bogus"):
        parse_extras(["nss,bogus"])
    with pytest.raises(UsageError, match="absolute"):
        plan_pack(view, ["usr/bin/app"])


def test_links_of_the_source_never_leave_its_root(root: Path, tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "libz.so.1.2.13").write_bytes((root / LIB / "libz.so.1.2.13").read_bytes())
    os.remove(root / LIB / "libz.so.1")
    os.remove(root / LIB / "libz.so.1.2.13")
    # absolute, and climbing: both mean a place inside the root, where nothing is
    os.symlink(str(decoy / "libz.so.1.2.13"), root / LIB / "libz.so.1")
    with pytest.raises(BuildError, match="libz.so.1"):
        plan_pack(DirectoryView(root), ["/usr/bin/app"])
    os.remove(root / LIB / "libz.so.1")
    os.symlink("../../../../../../../../decoy/libz.so.1.2.13", root / LIB / "libz.so.1")
    with pytest.raises(BuildError, match="libz.so.1"):
        plan_pack(DirectoryView(root), ["/usr/bin/app"])


def test_cli_pack_reports_and_fails_in_one_line(root: Path, cli: Cli, store_root: Path) -> None:
    result = cli("pack", "/usr/bin/app", "-t", "app:1", "--from-dir", root, "--with", "nss")
    result.check()
    assert "warning: /usr/bin/app imports pthread_cancel" in result.stderr
    assert "app libc6 libnss-mymod zlib1g" in result.stdout
    before = sorted(p.relative_to(store_root) for p in store_root.rglob("*"))
    bad = cli("pack", "/usr/bin/nope", "-t", "nope:1", "--from-dir", root)
    assert bad.exit_code == 4
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert sorted(p.relative_to(store_root) for p in store_root.rglob("*")) == before
    again = cli(
        "pack", "/usr/bin/app", "-t", "app:1", "--from-dir", root, "--with", "nss", "--json"
    )
    report = again.json()
    assert isinstance(report, dict)
    assert report["packages"] == ["app", "libc6", "libnss-mymod", "zlib1g"]


def _arm64_libc(root: Path) -> None:
    """As in the arm64 image of a two-arch build: its libc is arm64, the program x86-64."""
    (root / LIB / "libc.so.6").write_bytes(library("libc.so.6", ARM64, version_defs=["GLIBC_2.34"]))


def test_a_program_of_another_architecture_is_refused_naming_it(root: Path) -> None:
    _arm64_libc(root)
    arm64 = LoaderConfig(expected=("arm64", None))
    # the loader skips the arm64 libc for an x86-64 program: the answer is the
    # architecture, not a libc.so.6 that is not found
    with pytest.raises(BuildError, match="cannot pack /usr/bin/app: amd64 binary") as raised:
        plan_pack(DirectoryView(root), ["/usr/bin/app"], config=arm64)
    assert "arm64" in str(raised.value) and "libc.so.6" not in str(raised.value)


def test_cli_pack_of_the_wrong_architecture_fails_in_one_line(
    root: Path, cli: Cli, store_root: Path
) -> None:
    cli("pack", "/usr/bin/app", "-t", "app:1", "--from-dir", root).check()
    _arm64_libc(root)
    before = sorted(p.relative_to(store_root) for p in store_root.rglob("*"))
    bad = cli("pack", "/usr/bin/app", "-t", "app:2", "--from-dir", root, "--arch", "arm64")
    assert bad.exit_code == 9
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "amd64 binary, but the image is arm64" in bad.stderr, bad.stderr
    assert "not found" not in bad.stderr
    assert sorted(p.relative_to(store_root) for p in store_root.rglob("*")) == before
