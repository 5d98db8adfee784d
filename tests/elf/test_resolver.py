"""The closure resolver on programs compiled here, each case checked against the real loader.

Every case builds a mini root (the host's ``ld.so`` and ``libc``), compiles a program and
libraries into it with the search-path feature under test, and asserts that the resolver
gives the answer glibc's loader prints under ``chroot`` -- including what it refuses.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from distroless.bases.ldcache import CacheEntry, write_cache
from distroless.elf import ClosureResolver, DirectoryView, LoaderConfig, VersionStatus, Via
from distroless.elf.header import EI_NIDENT
from tests.elf.support import (
    TRIPLET,
    assert_agrees,
    gcc,
    host_hwcaps,
    host_platform,
    mini_root,
    patch,
    require_gcc,
    shared,
    trace,
)
from tests.helpers import run

LIB_X = "int x(void) { return 7; }\n"
USES_X = "int x(void);\nint main(void) { return x() == 7 ? 0 : 1; }\n"
LIBDIR = f"usr/lib/{TRIPLET}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    require_gcc()
    return mini_root(tmp_path / "root")


def _lib(root: Path, where: str, name: str = "libx.so.1", source: str = LIB_X, *flags: str) -> Path:
    return shared(root / where / name, source, name, *flags)


def _prog(root: Path, where: str, *link: str, source: str = USES_X) -> str:
    gcc(root / where, source, *link)
    return "/" + where


def test_plain_program_needs_libc_and_the_loader(root: Path) -> None:
    prog = _prog(root, "usr/bin/hello", source="int main(void) { return 0; }\n")
    closure = assert_agrees(root, prog)
    assert closure.ok
    assert closure.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert closure.interpreter_path == f"/{LIBDIR}/ld-linux-x86-64.so.2"
    assert closure.libraries() == {
        "libc.so.6": f"/lib/{TRIPLET}/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2",
    }
    libc = next(d for d in closure.dependencies if d.name == "libc.so.6")
    assert libc.via is Via.DEFAULT
    assert libc.real_path == f"/{LIBDIR}/libc.so.6"


def test_rpath_comes_before_ld_library_path_and_runpath_after(root: Path) -> None:
    lib = _lib(root, "opt/r")
    shutil.copytree(root / "opt/r", root / "opt/l")
    rpath = _prog(root, "usr/bin/rp", str(lib), "-Wl,-rpath,/opt/r", "-Wl,--disable-new-dtags")
    runpath = _prog(root, "usr/bin/ru", str(lib), "-Wl,-rpath,/opt/r", "-Wl,--enable-new-dtags")
    env = {"LD_LIBRARY_PATH": "/opt/l"}
    config = LoaderConfig(ld_library_path="/opt/l")
    assert assert_agrees(root, rpath, config=config, env=env).libraries()["libx.so.1"] == (
        "/opt/r/libx.so.1"
    )
    closure = assert_agrees(root, runpath, config=config, env=env)
    assert closure.libraries()["libx.so.1"] == "/opt/l/libx.so.1"
    assert next(d for d in closure.dependencies if d.name == "libx.so.1").via is Via.LD_LIBRARY_PATH
    assert assert_agrees(root, runpath).libraries()["libx.so.1"] == "/opt/r/libx.so.1"


@pytest.mark.parametrize(
    ("dtags", "found"), [("--disable-new-dtags", True), ("--enable-new-dtags", False)]
)
def test_the_programs_rpath_serves_its_libraries_unless_they_have_a_runpath(
    root: Path, dtags: str, found: bool
) -> None:
    """DT_RPATH is inherited down the loading chain; a DT_RUNPATH anywhere ends that."""
    liby = _lib(root, "opt/deep", "liby.so.1", "int y(void) { return 7; }\n")
    libx = _lib(
        root,
        "opt/mid",
        "libx.so.1",
        "int y(void);\nint x(void) { return y(); }\n",
        str(liby),
        "-Wl,-rpath,/nowhere",
        f"-Wl,{dtags}",
    )
    prog = _prog(
        root,
        "usr/bin/chain",
        str(libx),
        "-Wl,-rpath,/opt/mid:/opt/deep",
        "-Wl,--disable-new-dtags",
        f"-Wl,-rpath-link,{root}/opt/deep",
    )
    closure = assert_agrees(root, prog)
    assert (closure.libraries().get("liby.so.1") == "/opt/deep/liby.so.1") is found
    assert bool(closure.missing) is not found


def test_origin_is_the_real_directory_of_a_program_started_through_a_link(root: Path) -> None:
    lib = _lib(root, "app/lib")
    _lib(root, f"app/{LIBDIR.split('/', 1)[1]}", "libz9.so.1", "int z9(void) { return 0; }\n")
    gcc(
        root / "app/bin/tool",
        "int x(void); int z9(void);\nint main(void) { return x() + z9(); }\n",
        str(lib),
        str(root / f"app/lib/{TRIPLET}/libz9.so.1"),
        "-Wl,-rpath,$ORIGIN/../lib:${ORIGIN}/../$LIB",
        "-Wl,--enable-new-dtags",
    )
    (root / "usr/bin/tool").symlink_to("../../app/bin/tool")
    closure = assert_agrees(root, "/usr/bin/tool")
    assert closure.root == "/app/bin/tool"
    assert closure.libraries()["libx.so.1"] == "/app/bin/../lib/libx.so.1"
    assert closure.libraries()["libz9.so.1"] == f"/app/bin/../lib/{TRIPLET}/libz9.so.1"


def test_platform_token(root: Path, tmp_path: Path) -> None:
    platform = host_platform(tmp_path)
    lib = _lib(root, f"opt/{platform}")
    prog = _prog(root, "usr/bin/plat", str(lib), "-Wl,-rpath,/opt/$PLATFORM")
    config = LoaderConfig(at_platform=platform)
    assert assert_agrees(root, prog, config=config).libraries()["libx.so.1"] == (
        f"/opt/{platform}/libx.so.1"
    )
    unknown = ClosureResolver(DirectoryView(root), LoaderConfig(at_platform="")).closure(prog)
    assert [d.name for d in unknown.missing] == ["libx.so.1"]


def test_a_missing_library_is_reported_and_the_rest_still_resolves(root: Path) -> None:
    lib = _lib(root, "opt/x")
    prog = _prog(root, "usr/bin/lost", str(lib))
    (root / "opt/x/libx.so.1").unlink()
    closure = assert_agrees(root, prog)
    assert not closure.ok
    assert [(d.needed_by, d.name) for d in closure.missing] == [("/usr/bin/lost", "libx.so.1")]
    assert "libc.so.6" in closure.libraries()


def test_a_version_the_library_no_longer_defines_is_unmet(root: Path, tmp_path: Path) -> None:
    both = tmp_path / "v12.map"
    both.write_text("V1 { global: f; local: *; };\nV2 { global: g; } V1;\n")
    only = tmp_path / "v1.map"
    only.write_text("V1 { global: f; local: *; };\n")
    lib = _lib(
        root,
        LIBDIR,
        "libv.so.1",
        "int f(void) { return 1; }\nint g(void) { return 2; }\n",
        f"-Wl,--version-script={both}",
    )
    prog = _prog(
        root, "usr/bin/v2", str(lib), source="int g(void);\nint main(void) { return g(); }\n"
    )
    good = assert_agrees(root, prog)
    assert good.ok
    assert any(v.version == "V2" and v.status is VersionStatus.MET for v in good.versions)
    _lib(root, LIBDIR, "libv.so.1", "int f(void) { return 1; }\n", f"-Wl,--version-script={only}")
    bad = assert_agrees(root, prog)
    assert not bad.ok
    assert [(v.needed_by, v.file, v.version, v.provider) for v in bad.unmet_versions] == [
        ("/usr/bin/v2", "libv.so.1", "V2", f"/{LIBDIR}/libv.so.1")
    ]
    glibc = [v for v in bad.versions if v.file == "libc.so.6"]
    assert glibc and all(v.status is VersionStatus.MET for v in glibc)


E_MACHINE = 18  # offset of e_machine in the ELF header
EI_CLASS = 4
EI_DATA = 5


@pytest.mark.parametrize(
    ("offset", "data", "reason"),
    [
        (E_MACHINE, (183).to_bytes(2, "little"), "wrong machine 183 (arm64)"),
        (EI_CLASS, b"\x01", "wrong ELF class: ELFCLASS32"),
    ],
)
def test_a_library_of_another_machine_or_class_is_skipped(
    root: Path, offset: int, data: bytes, reason: str
) -> None:
    lib = _lib(root, "opt/b")
    shutil.copytree(root / "opt/b", root / "opt/a")
    patch(root / "opt/a/libx.so.1", offset, data)
    prog = _prog(root, "usr/bin/skip", str(lib), "-Wl,-rpath,/opt/a:/opt/b")
    closure = assert_agrees(root, prog)
    assert closure.ok
    assert closure.libraries()["libx.so.1"] == "/opt/b/libx.so.1"
    assert [(r.path, r.reason) for r in closure.rejected] == [("/opt/a/libx.so.1", reason)]


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        ("byteorder", "ELF file data encoding not little-endian"),
        ("text", "invalid ELF header"),
        ("short", "file too short"),
        ("executable", "cannot dynamically load executable"),
        ("directory", "cannot read file data"),
        ("7:09", "ELF file OS ABI invalid"),
        ("7:0304", "ELF file ABI version invalid"),
        ("7:0303", None),  # GNU OS ABI, ABI version 3 (< LIBC_ABI_MAX): accepted
        ("9:01", "nonzero padding in e_ident"),
        ("6:02", "ELF file version ident does not match current one"),
        ("20:02", "ELF file version does not match current one"),
        ("16:0100", "only ET_DYN and ET_EXEC can be loaded"),
        ("54:3000", "ELF file's phentsize not the expected size"),
    ],
)
def test_a_file_the_loader_refuses_stops_the_program(
    root: Path, spoil: str, reason: str | None
) -> None:
    lib = _lib(root, "opt/b")
    shutil.copytree(root / "opt/b", root / "opt/a")
    bad = root / "opt/a/libx.so.1"
    if spoil == "byteorder":
        patch(bad, EI_DATA, b"\x02")
    elif spoil == "text":
        bad.write_text("INPUT(libx.so.2)\n" * 8)
    elif ":" in spoil:
        offset, data = spoil.split(":")
        patch(bad, int(offset), bytes.fromhex(data))
    elif spoil == "directory":
        bad.unlink()
        bad.mkdir()
    elif spoil == "short":
        bad.write_bytes(b"\x7fELF\x02\x01\x01")
    else:
        gcc(bad, "int main(void) { return 0; }\n", "-no-pie")
    prog = _prog(root, "usr/bin/stop", str(lib), "-Wl,-rpath,/opt/a:/opt/b")
    closure = assert_agrees(root, prog)
    if reason is None:
        assert closure.ok and closure.libraries()["libx.so.1"] == "/opt/a/libx.so.1"
        return
    assert not closure.ok
    assert [(d.name, d.path, d.error) for d in closure.failed] == [
        ("libx.so.1", "/opt/a/libx.so.1", reason)
    ]


def test_one_file_under_two_names_is_one_object(root: Path) -> None:
    both = "int x(void) { return 7; }\nint x2(void) { return 0; }\n"
    lib = _lib(root, LIBDIR, "libx.so.1", both)
    alias = _lib(root, LIBDIR, "libalias.so.1", "int x2(void) { return 0; }\n")
    prog = _prog(
        root,
        "usr/bin/twice",
        "-Wl,--no-as-needed",
        str(lib),
        str(alias),
        source="int x(void); int x2(void);\nint main(void) { return x() + x2(); }\n",
    )
    alias.unlink()
    alias.symlink_to("libx.so.1")
    closure = assert_agrees(root, prog)
    assert "libalias.so.1" not in closure.libraries()
    dep = next(d for d in closure.dependencies if d.name == "libalias.so.1")
    assert dep.real_path == f"/{LIBDIR}/libx.so.1"
    assert dep.path == f"/lib/{TRIPLET}/libx.so.1"


def test_needed_names_with_a_slash_and_with_origin(root: Path) -> None:
    """A SONAME with a slash becomes a DT_NEEDED that is opened as it is, tokens expanded."""
    plain = shared(root / "opt/p/libplain.so", "int p(void) { return 0; }\n", "/opt/p/libplain.so")
    origin = shared(root / "usr/bin/libt.so", "int t(void) { return 0; }\n", "$ORIGIN/libt.so")
    prog = _prog(
        root,
        "usr/bin/slash",
        str(plain),
        str(origin),
        source="int p(void); int t(void);\nint main(void) { return p() + t(); }\n",
    )
    closure = assert_agrees(root, prog)
    assert [(d.name, d.via) for d in closure.dependencies][:2] == [
        ("/opt/p/libplain.so", Via.PATH),
        ("/usr/bin/libt.so", Via.PATH),
    ]


def test_cache_entries_are_used_and_a_stale_one_falls_through(root: Path) -> None:
    lib = _lib(root, "opt/c")
    prog = _prog(root, "usr/bin/cached", str(lib))
    (root / "etc/ld.so.conf").write_text("/opt/c\n")
    run(["ldconfig", "-r", root, "-X"])
    closure = assert_agrees(root, prog)
    dep = next(d for d in closure.dependencies if d.name == "libx.so.1")
    assert (dep.via, dep.path) == (Via.CACHE, "/opt/c/libx.so.1")
    shutil.move(root / "opt/c/libx.so.1", root / LIBDIR / "libx.so.1")
    closure = assert_agrees(root, prog)
    dep = next(d for d in closure.dependencies if d.name == "libx.so.1")
    assert (dep.via, dep.path) == (Via.DEFAULT, f"/lib/{TRIPLET}/libx.so.1")


def test_a_cache_written_by_the_project_is_read_like_ldconfigs(root: Path) -> None:
    lib = _lib(root, "opt/w")
    prog = _prog(root, "usr/bin/written", str(lib))
    entries = [CacheEntry("libx.so.1", "/opt/w/libx.so.1", 0x0303)]
    (root / "etc/ld.so.cache").write_bytes(write_cache(entries))
    closure = assert_agrees(root, prog)
    assert next(d for d in closure.dependencies if d.name == "libx.so.1").via is Via.CACHE


def test_nodefaultlib_skips_the_system_directories(root: Path) -> None:
    lib = _lib(root, LIBDIR)
    prog = _prog(root, "usr/bin/nodef", str(lib), "-Wl,-z,nodefaultlib")
    closure = assert_agrees(root, prog)
    assert {d.name for d in closure.missing} == {"libx.so.1", "libc.so.6"}


def test_glibc_hwcaps_subdirectories_come_first(root: Path) -> None:
    hwcaps = host_hwcaps()
    if not hwcaps:
        pytest.skip("the host loader searches no glibc-hwcaps subdirectory")
    lib = _lib(root, LIBDIR)
    _lib(root, f"{LIBDIR}/glibc-hwcaps/{hwcaps[-1]}")
    prog = _prog(root, "usr/bin/hw", str(lib))
    closure = assert_agrees(root, prog, config=LoaderConfig(hwcaps=hwcaps))
    assert closure.libraries()["libx.so.1"] == f"/lib/{TRIPLET}/glibc-hwcaps/{hwcaps[-1]}/libx.so.1"
    baseline = ClosureResolver(DirectoryView(root)).closure(prog)
    assert baseline.libraries()["libx.so.1"] == f"/lib/{TRIPLET}/libx.so.1"


def test_an_empty_library_path_element_is_the_working_directory(root: Path) -> None:
    lib = _lib(root, "work")
    prog = _prog(root, "usr/bin/cwd", str(lib))
    config = LoaderConfig(ld_library_path=":/nowhere", cwd="/work")
    closure = assert_agrees(root, prog, config=config, env={"LD_LIBRARY_PATH": ":/nowhere"})
    assert closure.libraries()["libx.so.1"] == "libx.so.1"
    assert next(o for o in closure.objects if o.name == "libx.so.1").real_path == "/work/libx.so.1"


def test_the_preload_file_of_the_image_is_loaded_first(root: Path) -> None:
    _lib(root, LIBDIR, "libpre.so.1", "int pre(void) { return 0; }\n")
    prog = _prog(root, "usr/bin/pre", source="int main(void) { return 0; }\n")
    (root / "etc/ld.so.preload").write_text("# a comment\nlibpre.so.1\n")
    closure = assert_agrees(root, prog)
    assert [(d.name, d.via) for d in closure.preloads] == [("libpre.so.1", Via.PRELOAD)]
    assert closure.objects[1].name == "libpre.so.1"


def test_a_library_traced_through_the_loader(root: Path) -> None:
    liby = _lib(root, LIBDIR, "liby.so.1", "int y(void) { return 1; }\n")
    source = '#include <stdio.h>\nint y(void);\nint x(void) { puts("x"); return y(); }\n'
    libx = _lib(root, LIBDIR, "libx.so.1", source, str(liby))
    closure = assert_agrees(root, "/" + str(libx.relative_to(root)), explicit=True)
    assert closure.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert set(closure.libraries()) == {"liby.so.1", "libc.so.6", "/lib64/ld-linux-x86-64.so.2"}


def test_a_program_whose_interpreter_is_missing(root: Path) -> None:
    prog = _prog(
        root,
        "usr/bin/nointerp",
        "-Wl,--dynamic-linker=/lib/ld-nowhere.so.1",
        source="int main(void) { return 0; }\n",
    )
    closure = ClosureResolver(DirectoryView(root)).closure(prog)
    assert closure.interpreter == "/lib/ld-nowhere.so.1"
    assert closure.interpreter_path is None
    assert closure.interpreter_error == "interpreter /lib/ld-nowhere.so.1 does not exist"
    assert not closure.ok


def test_a_static_program_has_an_empty_closure(root: Path) -> None:
    try:
        gcc(root / "usr/bin/static", "int main(void) { return 0; }\n", "-static")
    except Exception:
        pytest.skip("the host has no static libc")
    closure = ClosureResolver(DirectoryView(root)).closure("/usr/bin/static")
    assert closure.ok and not closure.dynamic
    assert closure.objects[1:] == () and closure.dependencies == ()


def test_an_image_declaring_another_architecture(root: Path) -> None:
    prog = _prog(root, "usr/bin/amd", source="int main(void) { return 0; }\n")
    closure = ClosureResolver(DirectoryView(root), LoaderConfig(expected=("arm64", None))).closure(
        prog
    )
    assert closure.platform_mismatch == "amd64 binary, but the image is arm64"
    assert not closure.ok


def test_trace_reports_the_header_offsets_used_here(root: Path) -> None:
    """The hand-made fixtures patch fields at the offsets the ELF spec gives them."""
    lib = _lib(root, "opt/h")
    data = lib.read_bytes()
    assert data[EI_CLASS] == 2 and data[EI_DATA] == 1 and EI_NIDENT == 16
    assert int.from_bytes(data[E_MACHINE : E_MACHINE + 2], "little") == 62
    assert trace(root, ["/lib64/ld-linux-x86-64.so.2", "--version"]).error is None


@pytest.mark.parametrize("layout", ["new", "compat", "old"])
def test_hwcaps_entries_of_each_cache_layout(root: Path, layout: str) -> None:
    """ld.so picks from the cache what each layout lets it see, hwcaps entries included."""
    hwcaps = host_hwcaps()
    if "x86-64-v2" not in hwcaps:
        pytest.skip("the host CPU has no x86-64-v2 glibc-hwcaps subdirectory")
    lib = _lib(root, LIBDIR)
    _lib(root, f"{LIBDIR}/glibc-hwcaps/x86-64-v2")
    prog = _prog(root, "usr/bin/hwcache", str(lib))
    run(["ldconfig", "-r", root, "-X", "-c", layout])
    closure = assert_agrees(root, prog, config=LoaderConfig(hwcaps=hwcaps))
    dep = next(d for d in closure.dependencies if d.name == "libx.so.1")
    assert dep.via is Via.CACHE
    in_subdir = dep.path is not None and "/glibc-hwcaps/x86-64-v2/" in dep.path
    assert in_subdir is (layout != "compat")


def test_a_link_loop_ends_the_search_of_its_path_list(root: Path) -> None:
    """``ELOOP`` is not ``ENOENT``: the loader gives up the rest of that list."""
    lib = _lib(root, "opt/good")
    (root / "opt/loop").mkdir()
    (root / "opt/loop/libx.so.1").symlink_to("libx.so.1")
    shutil.copy2(lib, root / LIBDIR / "libx.so.1")
    prog = _prog(root, "usr/bin/loop", str(lib), "-Wl,-rpath,/opt/loop:/opt/good")
    closure = assert_agrees(root, prog)
    dep = next(d for d in closure.dependencies if d.name == "libx.so.1")
    assert (dep.via, dep.path) == (Via.DEFAULT, f"/lib/{TRIPLET}/libx.so.1")


def test_links_in_the_tree_never_leave_it(root: Path, tmp_path: Path) -> None:
    """A library link naming a path outside the root means that path inside the root."""
    outside = tmp_path / "outside"
    decoy = _lib(Path(tmp_path), "outside")
    lib = _lib(root, "opt/l")
    prog = _prog(root, "usr/bin/escape", str(lib), "-Wl,-rpath,/opt/l")
    (root / "opt/l/libx.so.1").unlink()
    (root / "opt/l/libx.so.1").symlink_to(decoy)  # absolute: the host path of the decoy
    escape = "../" * (len(root.parts) + 2) + str(outside.relative_to("/")) + "/libx.so.1"
    (root / "opt/l/rel").mkdir()
    (root / "opt/l/rel/libx.so.1").symlink_to(escape)
    # followed on the host, both links reach the decoy
    assert Path(os.path.realpath(root / "opt/l/libx.so.1")) == decoy
    assert Path(os.path.realpath(root / "opt/l/rel/libx.so.1")) == decoy
    closure = assert_agrees(root, prog)
    assert [d.name for d in closure.missing] == ["libx.so.1"]
    rel = _prog(root, "usr/bin/escape2", str(lib), "-Wl,-rpath,/opt/l/rel")
    assert [d.name for d in assert_agrees(root, rel).missing] == ["libx.so.1"]
