"""Machines this host cannot run, in trees of hand-made ELF files.

Each tree is a small Debian layout for one architecture: the loader at its ``PT_INTERP``
path, ``libc.so.6`` defining glibc's versions, and programs needing them.  What is checked
is what ``open_verify`` and the cache decide from headers alone: the loader each object
gets, which files are skipped, which are fatal, and which versions are unmet.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from distroless.bases.ldcache import CacheEntry, write_cache
from distroless.elf import (
    LOADERS,
    ClosureResolver,
    DirectoryView,
    Loader,
    LoaderConfig,
    VersionStatus,
    Via,
    loader_for,
    loader_for_arch,
    oci_platform,
    parse_header,
)
from tests.elf.tinyelf import TinyElf
from tests.fuzz.mutate import fuzz_settings, mutated_bytes

GLIBC = ["libc.so.6", "GLIBC_2.17", "GLIBC_2.34", "GLIBC_PRIVATE"]


def _spec(loader: Loader, **fields: object) -> TinyElf:
    flags = {"armhf": 0x05000400, "armel": 0x05000200, "riscv64": 4, "ppc64el": 2, "ppc64": 1}
    spec = TinyElf(
        bits=loader.bits,
        little=loader.little_endian,
        machine=loader.machine,
        flags=flags.get(loader.debian_arch, 0),
    )
    for key, value in fields.items():
        setattr(spec, key, value)
    return spec


def _tree(root: Path, loader: Loader) -> Path:
    lib = root / "usr/lib" / loader.triplet
    lib.mkdir(parents=True)
    (root / "usr/bin").mkdir(parents=True)
    for name in ("bin", "lib"):
        (root / name).symlink_to(f"usr/{name}")
    if loader.interpreter.startswith("/lib64/"):
        (root / "usr/lib64").mkdir()
        (root / "lib64").symlink_to("usr/lib64")
    ld_name = loader.interpreter.rsplit("/", 1)[1]
    (lib / ld_name).write_bytes(
        _spec(loader, soname=ld_name, version_defs=[ld_name, "GLIBC_2.17", "GLIBC_PRIVATE"]).build()
    )
    link = root / loader.interpreter.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(f"/usr/lib/{loader.triplet}/{ld_name}")
    libc = _spec(
        loader,
        soname="libc.so.6",
        needed=(ld_name,),
        interpreter=loader.interpreter,
        version_defs=GLIBC,
        version_needs=[(ld_name, [("GLIBC_PRIVATE", False)])],
    )
    (lib / "libc.so.6").write_bytes(libc.build())
    return root


def _program(root: Path, loader: Loader, name: str = "app", **fields: object) -> str:
    fields.setdefault("needed", ("libc.so.6",))
    spec = _spec(loader, type=3, interpreter=loader.interpreter, flags_1=0, **fields)
    (root / "usr/bin" / name).write_bytes(spec.build())
    return f"/usr/bin/{name}"


ARCHS = ["arm64", "armhf", "armel", "i386", "ppc64el", "s390x", "riscv64", "mips64el", "loong64"]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_program_of_each_architecture_resolves_in_its_own_tree(tmp_path: Path, arch: str) -> None:
    loader = LOADERS[arch]
    root = _tree(tmp_path / arch, loader)
    prog = _program(root, loader, version_needs=[("libc.so.6", [("GLIBC_2.34", False)])])
    expected = (loader.oci_arch, loader.oci_variant)
    closure = ClosureResolver(DirectoryView(root), LoaderConfig(expected=expected)).closure(prog)
    assert closure.loader is loader
    assert closure.ok, closure
    assert (
        closure.interpreter_path
        == f"/usr/lib/{loader.triplet}/{loader.interpreter.rsplit('/', 1)[1]}"
    )
    assert closure.libraries()["libc.so.6"] == f"/lib/{loader.triplet}/libc.so.6"
    assert closure.libraries()[loader.interpreter] == loader.interpreter
    assert {(v.version, v.status) for v in closure.versions} == {
        ("GLIBC_2.34", VersionStatus.MET),
        ("GLIBC_PRIVATE", VersionStatus.MET),
    }


def test_a_newer_glibc_version_is_unmet(tmp_path: Path) -> None:
    loader = LOADERS["arm64"]
    root = _tree(tmp_path, loader)
    prog = _program(
        root, loader, version_needs=[("libc.so.6", [("GLIBC_2.38", False), ("GLIBC_2.99", True)])]
    )
    closure = ClosureResolver(DirectoryView(root)).closure(prog)
    assert [(v.version, v.provider) for v in closure.unmet_versions] == [
        ("GLIBC_2.38", f"/usr/lib/{loader.triplet}/libc.so.6")
    ]
    weak = next(v for v in closure.versions if v.version == "GLIBC_2.99")
    assert weak.status is VersionStatus.MISSING and weak.weak and not weak.unmet


def test_a_program_of_another_architecture_in_an_arm64_tree(tmp_path: Path) -> None:
    root = _tree(tmp_path, LOADERS["arm64"])
    prog = _program(root, LOADERS["amd64"], name="x86")
    config = LoaderConfig(expected=("arm64", None))
    closure = ClosureResolver(DirectoryView(root), config).closure(prog)
    assert closure.loader is LOADERS["amd64"]
    assert closure.interpreter_error == "interpreter /lib64/ld-linux-x86-64.so.2 does not exist"
    assert closure.platform_mismatch == "amd64 binary, but the image is arm64"
    # the x86-64 search never looks in the aarch64 directories
    assert [d.name for d in closure.missing] == ["libc.so.6"]
    assert closure.rejected == ()
    (root / "usr/lib/x86_64-linux-gnu").symlink_to("aarch64-linux-gnu")
    closure = ClosureResolver(DirectoryView(root), config).closure(prog)
    assert [(r.path, r.reason) for r in closure.rejected] == [
        ("/lib/x86_64-linux-gnu/libc.so.6", "wrong machine 183 (arm64)"),
        ("/usr/lib/x86_64-linux-gnu/libc.so.6", "wrong machine 183 (arm64)"),
    ]


def test_the_other_byte_order_is_fatal_for_s390x(tmp_path: Path) -> None:
    s390x = LOADERS["s390x"]
    root = _tree(tmp_path, s390x)
    prog = _program(root, s390x, needed=("libq.so.1", "libc.so.6"), rpath="/opt/le:/opt/be")
    (root / "opt/le").mkdir(parents=True)
    (root / "opt/be").mkdir(parents=True)
    (root / "opt/le/libq.so.1").write_bytes(_spec(LOADERS["ppc64el"], soname="libq.so.1").build())
    (root / "opt/be/libq.so.1").write_bytes(_spec(s390x, soname="libq.so.1").build())
    closure = ClosureResolver(DirectoryView(root)).closure(prog)
    assert [(d.path, d.error) for d in closure.failed] == [
        ("/opt/le/libq.so.1", "ELF file data encoding not big-endian")
    ]


def test_the_float_abi_of_arm(tmp_path: Path) -> None:
    """An armhf loader refuses a soft-float library outright (a header check, not a skip)."""
    armhf = LOADERS["armhf"]
    root = _tree(tmp_path, armhf)
    prog = _program(root, armhf, needed=("libf.so.1", "libc.so.6"), rpath="/opt/soft")
    (root / "opt/soft").mkdir(parents=True)
    (root / "opt/soft/libf.so.1").write_bytes(_spec(LOADERS["armel"], soname="libf.so.1").build())
    closure = ClosureResolver(DirectoryView(root)).closure(prog)
    assert [d.error for d in closure.failed] == ["internal error"]
    unmarked = TinyElf(bits=32, machine=40, flags=0x05000000, soname="libf.so.1")
    (root / "opt/soft/libf.so.1").write_bytes(unmarked.build())
    assert ClosureResolver(DirectoryView(root)).closure(prog).ok


def test_the_cache_entries_of_another_machine_are_not_taken(tmp_path: Path) -> None:
    arm64 = LOADERS["arm64"]
    root = _tree(tmp_path, arm64)
    (root / "opt/c").mkdir(parents=True)
    (root / "opt/c/libc.so.6").write_bytes(
        (root / "usr/lib/aarch64-linux-gnu/libc.so.6").read_bytes()
    )
    (root / "etc").mkdir()
    prog = _program(root, arm64)
    entries = [CacheEntry("libc.so.6", "/opt/x86/libc.so.6", 0x0303)]
    (root / "etc/ld.so.cache").write_bytes(write_cache(entries))
    dep = ClosureResolver(DirectoryView(root)).closure(prog).dependencies[0]
    assert (dep.via, dep.path) == (Via.DEFAULT, "/lib/aarch64-linux-gnu/libc.so.6")
    entries.append(CacheEntry("libc.so.6", "/opt/c/libc.so.6", 0x0A03))
    (root / "etc/ld.so.cache").write_bytes(write_cache(entries))
    dep = ClosureResolver(DirectoryView(root)).closure(prog).dependencies[0]
    assert (dep.via, dep.path) == (Via.CACHE, "/opt/c/libc.so.6")


@pytest.mark.parametrize(
    ("spec", "interp", "debian"),
    [
        (TinyElf(bits=32, machine=40, flags=0x05000400), None, "armhf"),
        (TinyElf(bits=32, machine=40, flags=0x05000200), None, "armel"),
        (TinyElf(bits=32, machine=40, flags=0x05000000), "/lib/ld-linux-armhf.so.3", "armhf"),
        (TinyElf(bits=32, machine=40, flags=0x05000000), None, "armel"),
        (TinyElf(bits=64, little=False, machine=21, flags=1), None, "ppc64"),
        (TinyElf(bits=64, machine=21, flags=2), None, "ppc64el"),
        (TinyElf(bits=64, machine=243, flags=4), None, "riscv64"),
        (TinyElf(bits=32, machine=62), None, None),  # x32 is no Debian release architecture
    ],
)
def test_loader_for(spec: TinyElf, interp: str | None, debian: str | None) -> None:
    header = parse_header(spec.build())
    assert header is not None
    loader = loader_for(header, interp)
    assert (loader.debian_arch if loader else None) == debian


def test_oci_names() -> None:
    assert loader_for_arch("arm") is LOADERS["armhf"]
    assert loader_for_arch("arm", "v5") is LOADERS["armel"]
    assert loader_for_arch("386") is LOADERS["i386"]
    assert loader_for_arch("sparc") is None
    header = parse_header(TinyElf(bits=64, machine=183).build())
    assert header is not None and oci_platform(header) == ("arm64", None)


def test_an_arm_float_abi_the_image_does_not_run(tmp_path: Path) -> None:
    armel = LOADERS["armel"]
    root = _tree(tmp_path, armel)
    prog = _program(root, armel)
    mismatch = ClosureResolver(DirectoryView(root), LoaderConfig(expected=("arm", "v7"))).closure(
        prog
    )
    assert mismatch.platform_mismatch == "arm soft-float binary, but the image is arm/v7"
    right = ClosureResolver(DirectoryView(root), LoaderConfig(expected=("arm", "v5"))).closure(prog)
    assert right.platform_mismatch is None and right.ok


LIB_SEEDS = [
    _spec(
        LOADERS["amd64"],
        soname="libc.so.6",
        needed=("ld-linux-x86-64.so.2",),
        version_defs=GLIBC,
        rpath="$ORIGIN/../x:$PLATFORM",
        version_needs=[("libm.so.6", [("GLIBC_2.2.5", False)])],
    ).build(),
]


@fuzz_settings(150)
@given(mutated_bytes(LIB_SEEDS))
def test_a_damaged_library_never_breaks_the_resolver(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    amd64 = LOADERS["amd64"]
    root = _tree(tmp_path_factory.mktemp("fuzz"), amd64)
    prog = _program(root, amd64, needed=("libc.so.6", "libm.so.6"))
    (root / f"usr/lib/{amd64.triplet}/libc.so.6").write_bytes(data)
    (root / f"usr/lib/{amd64.triplet}/libm.so.6").write_bytes(data)
    closure = ClosureResolver(DirectoryView(root)).closure(prog)
    assert closure.root == prog
    assert all(isinstance(d.name, str) for d in closure.dependencies)
