"""Hostile images against ``check``'s "will it run" findings: links that try to leave the
image, loops, oversized account files, absurd ``PATH``s.  ``check`` answers from the
image alone, never from the host, and reports instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from distroless.layers.entry import Entry
from distroless.oci.models import ContainerConfig
from distroless.runtime.users import MAX_ACCOUNT_FILE
from distroless.verify.check import CheckReport, check_image
from tests.verify.elftree import base_layers, program, static_program
from tests.verify.fakeimage import make_image


def check(
    tmp_path: Path, layer: list[Entry], entrypoint: tuple[str, ...] = ("/app",), **config: object
) -> CheckReport:
    settings = {"env": ("PATH=/usr/bin",), **config}
    image = make_image(
        tmp_path / "store",
        "t/evil:1",
        [*base_layers(), layer],
        config=ContainerConfig(entrypoint=entrypoint, **settings),  # type: ignore[arg-type]
    )
    return check_image(image)


def kinds(report: CheckReport) -> list[str]:
    return [f.kind for f in report.findings]


def test_an_entrypoint_linking_out_of_the_image_finds_nothing_on_the_host(
    tmp_path: Path,
) -> None:
    decoy = tmp_path / "decoy" / "app"
    decoy.parent.mkdir()
    decoy.write_bytes(static_program())
    decoy.chmod(0o755)
    escape = "../" * 12 + str(decoy).lstrip("/")
    for i, target in enumerate((escape, str(decoy))):
        report = check(tmp_path / str(i), [Entry.symlink("app", target)])
        assert kinds(report) == ["command-not-found"], target


def test_an_interpreter_linking_out_of_the_image_is_missing(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy-sh"
    decoy.write_bytes(static_program())
    decoy.chmod(0o755)
    layer = [Entry.file("app", f"#!/../../../..{decoy}\n".encode(), mode=0o755)]
    assert kinds(check(tmp_path, layer)) == ["missing-interpreter"]


def test_a_library_path_linking_out_of_the_image_is_not_searched(tmp_path: Path) -> None:
    host_lib = tmp_path / "hostlib"
    host_lib.mkdir()
    (host_lib / "libdecoy.so.1").write_bytes(b"decoy")
    layer = [
        Entry.symlink("opt/lib", "../../../../../" + str(host_lib).lstrip("/")),
        Entry.file("app", program(needed=("libdecoy.so.1", "libc.so.6")), mode=0o755),
    ]
    report = check(tmp_path, layer, env=("PATH=/usr/bin", "LD_LIBRARY_PATH=/opt/lib"))
    assert kinds(report) == ["missing-library"]


@pytest.mark.parametrize(
    "layer",
    [
        [Entry.symlink("app", "app")],
        [Entry.symlink("app", "loop/a"), Entry.symlink("loop", "loop")],
        [Entry.file("app", program(needed=("libloop.so.1", "libc.so.6")), mode=0o755),
         Entry.symlink("usr/lib/x86_64-linux-gnu/libloop.so.1", "libloop.so.1")],
    ],
)  # fmt: skip
def test_link_loops_are_findings_not_errors(tmp_path: Path, layer: list[Entry]) -> None:
    report = check(tmp_path, layer)
    assert kinds(report) in (["command-not-found"], ["missing-library"])


def test_an_interpreter_that_names_itself_stops_at_the_kernels_limit(tmp_path: Path) -> None:
    layer = [Entry.file("app", b"#!/app\n", mode=0o755)]
    assert kinds(check(tmp_path, layer)) == ["missing-interpreter"]


@pytest.mark.unsafe_images  # an unknown user is a policy finding
def test_a_huge_passwd_counts_as_none(tmp_path: Path) -> None:
    line = b"nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"
    layer = [
        Entry.file("etc/passwd", line * (MAX_ACCOUNT_FILE // len(line) + 1)),
        Entry.file("app", static_program(), mode=0o755),
    ]
    assert kinds(check(tmp_path, layer, user="nonroot")) == ["unknown-user"]


def test_a_path_of_thousands_of_entries_is_answered(tmp_path: Path) -> None:
    dirs = [f"/opt/d{i}" for i in range(2000)]
    layer = [Entry.directory(d.lstrip("/")) for d in dirs[::2]]
    layer.append(Entry.file("opt/d1999/serve", static_program(), mode=0o755))
    path = ":".join(dirs + ["/usr/bin"] * 2000)
    report = check(tmp_path, layer, entrypoint=("serve",), env=(f"PATH={path}",))
    assert report.passed, report.findings


def test_a_shebang_without_an_end_is_read_as_the_kernel_reads_it(tmp_path: Path) -> None:
    layer = [Entry.file("app", b"#!/" + b"a" * 5000, mode=0o755)]
    report = check(tmp_path, layer)
    assert kinds(report) == ["missing-interpreter"]
    assert len(report.findings[0].message) < 400
