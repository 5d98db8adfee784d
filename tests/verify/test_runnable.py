"""``check``'s "will it run" findings on small images of hand-made ELF files.

Each image is what a user would build: a base with glibc, and a program with its command
in the config.  What the kernel and the loader would refuse must be a finding naming the
missing piece; what they would start must pass.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from distroless.debian.deb822 import Paragraph
from distroless.debian.resolver import PackageIndex
from distroless.elf import read_elf
from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig, Platform
from distroless.verify.check import CheckReport, Finding, check_image
from distroless.verify.suggest import IndexHints, PackageHints
from tests.verify.elftree import (
    AMD64,
    ARM64,
    base_layers,
    elf,
    glibc_layer,
    libdir,
    library,
    program,
    static_program,
)
from tests.verify.fakeimage import PLATFORM, base_entries, make_image, package_entries

ENV = ("PATH=/usr/local/bin:/usr/bin:/bin",)
LIB = libdir()


def run_check(
    tmp_path: Path,
    layers: list[list[Entry]],
    *,
    entrypoint: tuple[str, ...] | None = ("/app",),
    cmd: tuple[str, ...] | None = None,
    user: str = "",
    env: tuple[str, ...] = ENV,
    workdir: str = "",
    volumes: tuple[str, ...] = (),
    platform: Platform = PLATFORM,
    hints: PackageHints | None = None,
) -> CheckReport:
    config = ContainerConfig(
        user=user,
        env=env,
        entrypoint=entrypoint,
        cmd=cmd,
        working_dir=workdir,
        volumes=volumes,
    )
    image = make_image(tmp_path, "t/app:1", layers, config=config, platform=platform)
    if hints is None:
        return check_image(image)
    chosen = hints
    return check_image(image, hints=lambda: chosen)


def found(report: CheckReport, kind: str) -> list[Finding]:
    return [f for f in report.findings if f.kind == kind]


def app_layer(data: bytes, path: str = "app", mode: int = 0o755, **owner: int) -> list[Entry]:
    return [Entry.file(path, data, mode=mode, **owner)]


def debian_index(*packages: tuple[str, str]) -> PackageHints:
    """Hints from an index holding ``(name, provides)`` packages."""
    index = PackageIndex("amd64")
    for name, provides in packages:
        fields = {"Package": name, "Version": "1.0-1", "Architecture": "amd64"}
        if provides:
            fields["Provides"] = provides
        index.add(Paragraph(fields))
    return IndexHints([index])


# -- the loader's view ----------------------------------------------------------------------


def test_a_program_whose_libraries_resolve_passes(tmp_path: Path) -> None:
    report = run_check(tmp_path, [*base_layers(), app_layer(program())])
    assert report.passed, report.findings


def test_a_missing_library_is_named_with_the_package_that_provides_it(tmp_path: Path) -> None:
    cxx = program(needed=("libstdc++.so.6", "libc.so.6"))
    hints = debian_index(("libstdc++6", ""), ("libc6", ""))
    report = run_check(tmp_path, [*base_layers(), app_layer(cxx)], hints=hints)
    [item] = found(report, "missing-library")
    assert (item.path, item.missing, item.package) == ("/app", "libstdc++.so.6", "libstdc++6")
    assert "libstdc++.so.6" in item.message and "libstdc++6" in item.message
    assert item.to_dict()["package"] == "libstdc++6"


def test_a_package_renamed_since_is_found_through_its_provides(tmp_path: Path) -> None:
    app = program(needed=("libz.so.1", "libssl.so.3", "libc.so.6"))
    hints = debian_index(("zlib1g", "libz1"), ("libssl3t64", "libssl3 (= 3.5.0-1)"))
    report = run_check(tmp_path, [*base_layers(), app_layer(app)], hints=hints)
    assert {(f.missing, f.package) for f in found(report, "missing-library")} == {
        ("libz.so.1", "zlib1g"),
        ("libssl.so.3", "libssl3t64"),
    }


def test_no_package_is_named_when_the_index_has_none(tmp_path: Path) -> None:
    app = program(needed=("libmadeup.so.4", "libc.so.6"))
    report = run_check(tmp_path, [*base_layers(), app_layer(app)], hints=debian_index())
    [item] = found(report, "missing-library")
    assert item.package is None and "package" not in item.to_dict()


def test_a_library_missing_below_another_names_the_library_that_needs_it(
    tmp_path: Path,
) -> None:
    layer = [
        Entry.file(f"{LIB}/libtop.so.1", library("libtop.so.1", needed=("libbottom.so.2",))),
        *app_layer(program(needed=("libtop.so.1", "libc.so.6"))),
    ]
    report = run_check(tmp_path, [*base_layers(), layer])
    [item] = found(report, "missing-library")
    assert item.path == f"/{LIB}/libtop.so.1" and item.missing == "libbottom.so.2"
    assert "starting /app" in item.message


def test_ld_library_path_from_the_image_env_is_searched(tmp_path: Path) -> None:
    layer = [
        Entry.file("opt/vendor/lib/libvendor.so.1", library("libvendor.so.1")),
        *app_layer(program(needed=("libvendor.so.1", "libc.so.6"))),
    ]
    without = run_check(tmp_path / "a", [*base_layers(), layer])
    assert [f.missing for f in found(without, "missing-library")] == ["libvendor.so.1"]
    env = (*ENV, "LD_LIBRARY_PATH=/opt/vendor/lib")
    assert run_check(tmp_path / "b", [*base_layers(), layer], env=env).passed


def test_a_version_glibc_lacks_names_the_version_and_the_package_in_the_image(
    tmp_path: Path,
) -> None:
    newer = program(versions=("GLIBC_2.34", "GLIBC_2.38"), weak=("GLIBC_2.39",))
    report = run_check(tmp_path, [*base_layers(), app_layer(newer)])
    [item] = found(report, "missing-version")  # the weak GLIBC_2.39 does not stop it
    assert (item.path, item.missing, item.package) == ("/app", "GLIBC_2.38", "libc6")
    assert "libc6 2.36-9" in item.message and "glibc 2.38 or newer" in item.message


#: what Debian 12's libstdc++6 (gcc 12) defines, up to its newest GLIBCXX version
GLIBCXX_12 = ("libstdc++.so.6", "GLIBCXX_3.4", "GLIBCXX_3.4.29", "GLIBCXX_3.4.30")


def libstdcxx_layer(versions: tuple[str, ...] = GLIBCXX_12) -> list[Entry]:
    """``libstdc++6`` as Debian lays it out: the soname a link to the versioned file."""
    real = f"{LIB}/libstdc++.so.6.0.30"
    lib = library("libstdc++.so.6", version_defs=list(versions), needed=("libc.so.6",))
    entries = package_entries("libstdc++6", "12.2.0-14", {real: lib})
    return [*entries, Entry.symlink(f"{LIB}/libstdc++.so.6", "libstdc++.so.6.0.30")]


def test_a_glibcxx_version_libstdcxx_lacks_names_the_version_and_libstdcxx6(
    tmp_path: Path,
) -> None:
    # built by a newer g++ (gcc 14 defines GLIBCXX_3.4.32) for a base whose libstdc++ is gcc 12
    cxx = elf(
        AMD64,
        type=3,
        flags_1=0x08000000,
        interpreter=AMD64.interpreter,
        needed=("libstdc++.so.6", "libc.so.6"),
        version_needs=[
            ("libstdc++.so.6", [("GLIBCXX_3.4", False), ("GLIBCXX_3.4.32", False)]),
            ("libc.so.6", [("GLIBC_2.34", False)]),
        ],
    )
    # the reader (pyelftools) sees the need the test wrote
    needs = {n.file: n.versions for n in read_elf(io.BytesIO(cxx)).version_needs}
    assert [v.name for v in needs["libstdc++.so.6"]] == ["GLIBCXX_3.4", "GLIBCXX_3.4.32"]
    layers = [*base_layers(), libstdcxx_layer(), app_layer(cxx)]
    [item] = run_check(tmp_path / "old", layers).findings
    assert (item.kind, item.path, item.missing, item.package) == (
        "missing-version",
        "/app",
        "GLIBCXX_3.4.32",
        "libstdc++6",
    )
    assert "from libstdc++.so.6" in item.message and "libstdc++6 12.2.0-14" in item.message
    # with the newer library's definitions it starts
    newer = libstdcxx_layer((*GLIBCXX_12, "GLIBCXX_3.4.31", "GLIBCXX_3.4.32"))
    assert run_check(tmp_path / "new", [*base_layers(), newer, app_layer(cxx)]).passed


def test_a_program_of_another_architecture_is_named(tmp_path: Path) -> None:
    layers = [base_entries(), glibc_layer(ARM64), app_layer(program(AMD64))]
    report = run_check(tmp_path, layers, platform=Platform("linux", "arm64"))
    [item] = found(report, "wrong-architecture")
    assert item.path == "/app" and "amd64" in item.message and "arm64" in item.message
    # the same program in an amd64 image of the same content passes
    same = [base_entries(), glibc_layer(AMD64), app_layer(program(AMD64))]
    assert run_check(tmp_path / "amd64", same).passed


def test_a_dynamic_program_without_its_loader_names_the_loader_and_libc6(
    tmp_path: Path,
) -> None:
    hints = debian_index(("libc6", ""))
    report = run_check(tmp_path, [base_entries(), app_layer(program())], hints=hints)
    [interp] = found(report, "missing-interpreter")
    assert interp.missing == AMD64.interpreter and interp.package == "libc6"
    [libc] = found(report, "missing-library")
    assert libc.missing == "libc.so.6" and libc.package == "libc6"


def test_a_static_program_needs_nothing(tmp_path: Path) -> None:
    assert run_check(tmp_path, [base_entries(), app_layer(static_program())]).passed


def test_a_library_the_loader_refuses_is_a_finding(tmp_path: Path) -> None:
    layer = [
        Entry.file(f"{LIB}/libbroken.so.1", b"this is no ELF file at all, only text\n" * 4),
        *app_layer(program(needed=("libbroken.so.1", "libc.so.6"))),
    ]
    report = run_check(tmp_path, [*base_layers(), layer])
    [item] = found(report, "unloadable-library")
    assert item.missing == "libbroken.so.1" and "invalid ELF header" in item.message


# -- finding the command --------------------------------------------------------------------


def test_an_entrypoint_that_does_not_exist(tmp_path: Path) -> None:
    report = run_check(tmp_path, base_layers(), entrypoint=("/server",))
    [item] = found(report, "command-not-found")
    assert item.missing == "/server" and "/server" in item.message


def test_a_bare_name_is_looked_up_in_the_image_path(tmp_path: Path) -> None:
    layer = app_layer(static_program(), "usr/local/bin/serve")
    assert run_check(tmp_path / "a", [*base_layers(), layer], entrypoint=("serve",)).passed
    elsewhere = run_check(
        tmp_path / "b", [*base_layers(), layer], entrypoint=("serve",), env=("PATH=/usr/bin",)
    )
    [item] = found(elsewhere, "command-not-found")
    assert "PATH /usr/bin" in item.message


def test_the_lookup_passes_over_a_file_the_user_cannot_execute(tmp_path: Path) -> None:
    layer = [
        *app_layer(b"not this one", "usr/local/bin/serve", mode=0o644),
        *app_layer(static_program(), "usr/bin/serve"),
    ]
    assert run_check(tmp_path, [*base_layers(), layer], entrypoint=("serve",)).passed


def test_cmd_alone_is_the_command_and_a_relative_one_starts_at_the_workdir(
    tmp_path: Path,
) -> None:
    layer = app_layer(static_program(), "srv/app/run")
    report = run_check(
        tmp_path / "a", [*base_layers(), layer], entrypoint=None, cmd=("./run",), workdir="/srv/app"
    )
    assert report.passed, report.findings
    wrong = run_check(tmp_path / "b", [*base_layers(), layer], entrypoint=None, cmd=("./run",))
    assert [f.kind for f in wrong.findings] == ["command-not-found"]


def test_no_command_is_a_note_a_base_image_may_have(tmp_path: Path) -> None:
    report = run_check(tmp_path, base_layers(), entrypoint=None)
    assert report.passed
    assert "no-command" in report.kinds()


def test_a_command_in_a_volume_is_left_to_the_runtime(tmp_path: Path) -> None:
    report = run_check(tmp_path, base_layers(), entrypoint=("/data/run",), volumes=("/data",))
    assert report.passed
    assert "command-in-volume" in report.kinds()


def test_a_directory_is_not_a_program(tmp_path: Path) -> None:
    layer = [Entry.directory("app")]
    report = run_check(tmp_path, [*base_layers(), layer])
    assert [f.kind for f in report.findings] == ["not-a-program"]


# -- the user -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "user", "runs"),
    [
        (0o700, 0, 0, "", True),  # root executes any file with an execute bit
        (0o700, 0, 0, "nonroot", False),
        (0o700, 65532, 65532, "nonroot", True),
        (0o750, 0, 50, "nonroot", True),  # nonroot is a member of staff in /etc/group
        (0o750, 0, 51, "nonroot", False),
        (0o750, 0, 50, "65532:65532", False),  # an explicit group drops the memberships
        (0o075, 65532, 65532, "nonroot", False),  # the owner's bits, not the others'
        (0o644, 0, 0, "", False),
    ],
)
def test_the_command_must_be_executable_by_the_image_user(
    tmp_path: Path, mode: int, uid: int, gid: int, user: str, runs: bool
) -> None:
    group = Entry.file("etc/group", b"root:x:0:\nstaff:x:50:nonroot\nnonroot:x:65532:\n")
    layers = [*base_layers(), [group, *app_layer(static_program(), mode=mode, uid=uid, gid=gid)]]
    report = run_check(tmp_path, layers, user=user)
    denied = found(report, "permission-denied")
    assert (not denied) is runs, report.findings
    if denied:
        assert denied[0].path == "/app" and f"{mode:04o}" in denied[0].message


def test_a_directory_the_user_cannot_search_stops_the_command(tmp_path: Path) -> None:
    layer = [Entry.directory("opt", mode=0o700), *app_layer(static_program(), "opt/app")]
    report = run_check(tmp_path, [*base_layers(), layer], entrypoint=("/opt/app",), user="nonroot")
    [item] = found(report, "permission-denied")
    assert "/opt is not searchable" in item.message
    assert run_check(tmp_path / "root", [*base_layers(), layer], entrypoint=("/opt/app",)).passed


def test_a_library_the_user_cannot_read(tmp_path: Path) -> None:
    layer = [
        Entry.file(f"{LIB}/libsecret.so.1", library("libsecret.so.1"), mode=0o600),
        *app_layer(program(needed=("libsecret.so.1", "libc.so.6"))),
    ]
    report = run_check(tmp_path, [*base_layers(), layer], user="65532")
    [item] = found(report, "permission-denied")
    assert item.path == f"/{LIB}/libsecret.so.1"
    assert run_check(tmp_path / "root", [*base_layers(), layer]).passed


@pytest.mark.unsafe_images  # an unknown user is a policy finding too
def test_an_unknown_user_or_group_is_a_finding(tmp_path: Path) -> None:
    for i, user in enumerate(("ghost", "nonroot:ghosts")):
        report = run_check(
            tmp_path / str(i), [*base_layers(), app_layer(static_program())], user=user
        )
        assert [f.kind for f in report.findings] == ["unknown-user"], user


# -- scripts and other files ----------------------------------------------------------------


def test_a_script_whose_interpreter_is_missing(tmp_path: Path) -> None:
    script = app_layer(b"#!/bin/sh\necho started\n", "start.sh")
    report = run_check(tmp_path, [base_entries(), script], entrypoint=("/start.sh",))
    [item] = found(report, "missing-interpreter")
    assert item.missing == "/bin/sh" and item.path == "/start.sh"


def test_a_script_runs_through_its_interpreter_whose_closure_is_checked(tmp_path: Path) -> None:
    layer = [
        *app_layer(b"#! /usr/bin/tool -x\n", "start.sh"),
        *app_layer(program(needed=("libtool.so.9", "libc.so.6")), "usr/bin/tool"),
    ]
    report = run_check(tmp_path, [*base_layers(), layer], entrypoint=("/start.sh",))
    [item] = found(report, "missing-library")
    assert item.path == "/usr/bin/tool" and item.missing == "libtool.so.9"


def test_interpreters_nest_at_most_four_deep(tmp_path: Path) -> None:
    def chain(depth: int) -> list[Entry]:
        layer = app_layer(static_program(), "s0")
        for i in range(1, depth + 1):
            layer += app_layer(f"#!/s{i - 1}\n".encode(), f"s{i}")
        return layer

    ok = run_check(tmp_path / "a", [*base_layers(), chain(3)], entrypoint=("/s3",))
    assert ok.passed, ok.findings
    deep = run_check(tmp_path / "b", [*base_layers(), chain(4)], entrypoint=("/s4",))
    assert [f.kind for f in deep.findings] == ["missing-interpreter"]


def test_a_script_must_be_readable_by_the_user(tmp_path: Path) -> None:
    layer = [
        *app_layer(b"#!/bin/tool\n", "start.sh", mode=0o711),
        *app_layer(static_program(), "usr/bin/tool"),
    ]
    report = run_check(tmp_path, [*base_layers(), layer], entrypoint=("/start.sh",), user="nonroot")
    assert [f.kind for f in report.findings] == ["permission-denied"]


@pytest.mark.parametrize("content", [b"", b"echo no shebang\n", b"#!\n"])
def test_a_file_the_kernel_cannot_execute(tmp_path: Path, content: bytes) -> None:
    report = run_check(tmp_path, [*base_layers(), app_layer(content)])
    assert [f.kind for f in report.findings] == ["not-a-program"]


# -- every program on PATH ------------------------------------------------------------------


def test_every_elf_on_path_is_followed_once_whatever_links_name_it(tmp_path: Path) -> None:
    broken = program(needed=("libgone.so.1", "libc.so.6"))
    layer = [
        *app_layer(broken, "usr/bin/tool"),
        Entry.symlink("usr/bin/tool-a", "tool"),
        Entry.symlink("usr/local/bin/tool-b", "/usr/bin/tool"),
        *app_layer(b"#!/bin/sh\n", "usr/bin/script"),  # scripts on PATH are not followed
        *app_layer(broken, "usr/bin/not-executable", mode=0o644),
        *app_layer(broken, "opt/elsewhere"),  # not on PATH
    ]
    report = run_check(tmp_path, [*base_layers(), layer], entrypoint=None)
    assert [(f.kind, f.path, f.missing) for f in report.findings] == [
        ("missing-library", "/usr/bin/tool", "libgone.so.1")
    ]


def test_a_path_program_of_another_architecture(tmp_path: Path) -> None:
    layers = [base_entries(), glibc_layer(ARM64), app_layer(static_program(AMD64), "usr/bin/x")]
    report = run_check(tmp_path, layers, entrypoint=None, platform=Platform("linux", "arm64"))
    assert [(f.kind, f.path) for f in report.findings] == [("wrong-architecture", "/usr/bin/x")]


def test_the_policy_alone_leaves_the_command_unchecked(tmp_path: Path) -> None:
    image = make_image(
        tmp_path, "t/app:1", base_layers(), config=ContainerConfig(entrypoint=("/none",))
    )
    assert check_image(image, runnable=False).passed
    assert not check_image(image).passed


def test_a_library_of_another_machine_is_passed_over_and_named(tmp_path: Path) -> None:
    layer = [
        Entry.file(f"{LIB}/libarm.so.1", library("libarm.so.1", ARM64)),
        *app_layer(program(needed=("libarm.so.1", "libc.so.6"))),
    ]
    report = run_check(tmp_path, [*base_layers(), layer])
    [item] = found(report, "missing-library")
    assert item.missing == "libarm.so.1"
    assert f"passed over /{LIB}/libarm.so.1" in item.message and "arm64" in item.message


def test_a_loader_under_usr_without_the_merged_usr_link_names_base_files(
    tmp_path: Path,
) -> None:
    glibc = [e for e in glibc_layer() if e.path not in ("lib64", "usr/lib64/ld-linux-x86-64.so.2")]
    glibc.append(
        Entry.symlink(
            "usr/lib64/ld-linux-x86-64.so.2", f"../lib/{AMD64.triplet}/ld-linux-x86-64.so.2"
        )
    )
    layers = [[e for e in base_entries() if e.path != "lib"], glibc, app_layer(program())]
    report = run_check(tmp_path, layers)
    [item] = found(report, "missing-interpreter")
    assert item.package == "base-files" and "/usr/lib64/ld-linux-x86-64.so.2 exists" in item.message
