"""Hostile build inputs: a Dockerfile, context and archives that aim at the build host.

Each test plants decoys under ``tmp_path/host`` (standing for the host outside the build
context: a shadow file, a directory, an archive) and a context whose links, archives and
mounts point at them.  Nothing of the decoys may reach the image, the RUN step or be
changed; a refused build says so in one line naming FILE:LINE, exits non-zero and leaves
the store as it was.  Every test here failed on the builder before the context and ADD
archives went through the one resolver (distroless.rootpath).
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from distroless.dockerfile import executor as executor_module
from distroless.dockerfile.step_runner import SandboxRunner
from distroless.errors import BuildError, DockerfileError
from distroless.reporter import NullReporter
from distroless.runtime.runc import Runtime
from distroless.store import Store
from tests.dockerfile.executor_helpers import Built, build, busybox_image
from tests.helpers import Cli
from tests.helpers.rawtar import Member, tar_of
from tests.helpers.refusal import refused_build

DECOY = b"decoy-host-secret-5d1f"
DECOY_MTIME = 1_234_567_890


@dataclass(frozen=True)
class Decoys:
    """Files outside the context that stand for the host's own."""

    shadow: Path  # host/etc/shadow
    etc: Path  # host/etc
    archive: Path  # host/outside.tar

    def snapshot(self) -> dict[str, tuple[object, ...]]:
        out: dict[str, tuple[object, ...]] = {}
        for path in (self.etc, self.shadow, self.archive):
            st = os.lstat(path)
            data = path.read_bytes() if path.is_file() else None
            out[str(path)] = (data, st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_nlink)
        out["etc"] = tuple(sorted(os.listdir(self.etc)))
        return out


@pytest.fixture
def decoys(tmp_path: Path) -> Iterator[Decoys]:
    etc = tmp_path / "host" / "etc"
    etc.mkdir(parents=True)
    shadow = etc / "shadow"
    shadow.write_bytes(b"root:" + DECOY + b":19000:0:99999:7:::\n")
    shadow.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(shadow, 4242, 4243)
    os.utime(shadow, (DECOY_MTIME, DECOY_MTIME))
    archive = tmp_path / "host" / "outside.tar"
    archive.write_bytes(tar_of([Member("stolen.txt", data=DECOY)]))
    found = Decoys(shadow, etc, archive)
    before = found.snapshot()
    yield found
    assert found.snapshot() == before, "a decoy outside the context was changed"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    root.mkdir()
    return root


def _image_bytes(built: Built) -> bytes:
    """Every layer of the image, uncompressed, to look for decoy bytes."""
    out = b""
    for layer in built.store.read_manifest(built.result.descriptor).layers:
        with built.store.open_blob(layer.digest) as fh:
            data = fh.read()
        out += gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return out


def _twin(context: Path, host_path: Path, data: bytes) -> None:
    """The in-context file a link to ``host_path`` really means (``<context>/<host_path>``)."""
    twin = context / str(host_path).lstrip("/")
    twin.parent.mkdir(parents=True, exist_ok=True)
    twin.write_bytes(data)


# -- 1. ADD of a local archive ---------------------------------------------------------


def test_add_hardlink_then_file_of_the_same_name_does_not_write_the_host_file(
    cli: Cli, ctx: Path, decoys: Decoys
) -> None:
    (ctx / "evil.tar").write_bytes(
        tar_of(
            [
                Member("h", tarfile.LNKTYPE, linkname=str(decoys.shadow)),
                Member("h", data=b"overwritten by the archive\n", mode=0o4777),
            ]
        )
    )
    message = refused_build(cli, ctx, "FROM scratch\nADD evil.tar /x/\n", line=2)
    assert "ADD evil.tar: member 'h' is a hardlink to" in message
    assert "which the archive does not hold" in message


@pytest.mark.parametrize("form", ["absolute", "climbing"])
def test_add_lone_hardlink_neither_copies_nor_changes_a_host_file(
    cli: Cli, ctx: Path, decoys: Decoys, form: str
) -> None:
    target = str(decoys.shadow)
    linkname = target if form == "absolute" else "../" * 40 + target.lstrip("/")
    (ctx / "evil.tar").write_bytes(
        tar_of([Member("stolen", tarfile.LNKTYPE, linkname=linkname, mode=0o777)])
    )
    message = refused_build(cli, ctx, "FROM scratch\nADD evil.tar /x/\n", line=2)
    assert "member 'stolen' is a hardlink" in message


def test_add_members_never_leave_the_destination(store: Store, ctx: Path, decoys: Decoys) -> None:
    """Names, symlinked parents and '..' land inside the destination, as in BuildKit."""
    up = "../" * 40
    (ctx / "evil.tar").write_bytes(
        tar_of(
            [
                Member(up + str(decoys.etc).lstrip("/") + "/planted", data=b"a"),
                Member("/" + str(decoys.etc).lstrip("/") + "/planted-abs", data=b"b"),
                Member("out", tarfile.SYMTYPE, linkname=str(decoys.etc)),
                Member("out/planted-through-link", data=b"c"),
                Member("up", tarfile.SYMTYPE, linkname=up),
                Member("up/planted-up", data=b"d"),
            ]
        )
    )
    files = build(store, ctx, "FROM scratch\nADD evil.tar /x/\n").files()
    inside = "x/" + str(decoys.etc).lstrip("/")
    assert files[f"{inside}/planted"][1] == b"a"
    assert files[f"{inside}/planted-abs"][1] == b"b"
    assert files[f"{inside}/planted-through-link"][1] == b"c"
    assert files["x/planted-up"][1] == b"d"


# -- 2. COPY/ADD sources that are symlinks ----------------------------------------------


def test_copy_of_a_link_to_an_absolute_host_path_reads_the_context(
    store: Store, ctx: Path, decoys: Decoys
) -> None:
    os.symlink(decoys.shadow, ctx / "shadow-link")
    _twin(ctx, decoys.shadow, b"the context's own file\n")
    built = build(store, ctx, "FROM scratch\nCOPY shadow-link /x\n")
    assert built.files()["x"][1] == b"the context's own file\n"
    assert DECOY not in _image_bytes(built)


def test_copy_of_a_link_to_an_absolute_host_path_without_a_twin_is_refused(
    cli: Cli, ctx: Path, decoys: Decoys
) -> None:
    os.symlink(decoys.shadow, ctx / "shadow-link")
    message = refused_build(cli, ctx, "FROM scratch\nCOPY shadow-link /x\n", line=2)
    assert "'shadow-link' is not in the build context" in message


def test_copy_of_a_linked_host_directory_is_refused(cli: Cli, ctx: Path, decoys: Decoys) -> None:
    os.symlink(decoys.etc, ctx / "etc-link")
    refused_build(cli, ctx, "FROM scratch\nCOPY etc-link /d\n", line=2)
    refused_build(cli, ctx, "FROM scratch\nCOPY etc-link/shadow /d\n", line=2)


def test_copy_through_a_relative_link_cannot_climb_out(cli: Cli, ctx: Path, decoys: Decoys) -> None:
    (ctx / "sub").mkdir()
    # from ctx/sub, ../../host/etc/shadow is the decoy on the host; inside it is ctx/host/...
    os.symlink("../../host/etc/shadow", ctx / "sub" / "up")
    assert (ctx / "sub" / "up").read_bytes() == decoys.shadow.read_bytes()
    refused_build(cli, ctx, "FROM scratch\nCOPY sub/up /x\n", line=2)


def test_a_glob_over_links_copies_only_what_is_in_the_context(
    store: Store, ctx: Path, decoys: Decoys
) -> None:
    os.symlink(decoys.shadow, ctx / "l-abs")
    os.symlink("../host/etc/shadow", ctx / "l-rel")
    os.symlink(decoys.etc, ctx / "l-dir")
    (ctx / "l-file").write_text("ok\n")
    built = build(store, ctx, "FROM scratch\nCOPY l-* /g/\n")
    assert {k for k in built.files() if k.startswith("g/")} == {"g/l-file"}
    assert DECOY not in _image_bytes(built)


def test_add_of_a_link_to_an_archive_outside_the_context_is_refused(
    cli: Cli, ctx: Path, decoys: Decoys
) -> None:
    os.symlink(decoys.archive, ctx / "pkg.tar")
    refused_build(cli, ctx, "FROM scratch\nADD pkg.tar /opt/\n", line=2)


def test_an_alias_link_does_not_bypass_dockerignore(cli: Cli, ctx: Path, decoys: Decoys) -> None:
    (ctx / "secret.txt").write_bytes(DECOY)
    (ctx / ".dockerignore").write_text("secret.txt\n")
    os.symlink("secret.txt", ctx / "alias")
    os.symlink("/secret.txt", ctx / "abs-alias")
    aliased = refused_build(cli, ctx, "FROM scratch\nCOPY alias /x\n", line=2)
    refused_build(cli, ctx, "FROM scratch\nCOPY abs-alias /x\n", line=2)
    # a wildcard that matches only what is ignored matches nothing, which BuildKit allows:
    # the image is built, without the file
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY ali* /x/\n")
    assert cli("build", "-q", "-t", "globbed", ctx).check().exit_code == 0
    assert cli("images").check().stdout.count("globbed") == 1
    missing = refused_build(cli, ctx, "FROM scratch\nCOPY nothing /x\n", line=2)
    # an ignored file and a missing one are reported alike
    assert aliased.replace("'alias'", "'nothing'") == missing


def test_copy_parents_and_exclude_see_only_the_context(
    cli: Cli, store: Store, ctx: Path, decoys: Decoys
) -> None:
    os.symlink(decoys.etc, ctx / "l-dir")
    os.symlink("../host/etc", ctx / "l-rel")
    (ctx / "l-own").mkdir()
    (ctx / "l-own" / "shadow").write_text("ok\n")
    (ctx / "secret.txt").write_bytes(DECOY)
    (ctx / ".dockerignore").write_text("secret.txt\n")
    built = build(
        store,
        ctx,
        "FROM scratch\nCOPY --parents l-*/shadow secret* /p/\n"
        "COPY --exclude=l-own --exclude=!l-*/shadow . /all/\n",
    )
    files = built.files()
    assert {k for k in files if k.startswith("p/")} == {"p/l-own", "p/l-own/shadow"}
    assert "all/l-own/shadow" in files  # excluded, then brought back by the ! pattern
    assert "all/secret.txt" not in files
    assert files["all/l-dir"][0].issym()  # a link is copied as a link, never followed
    assert DECOY not in _image_bytes(built)
    refused_build(cli, ctx, "FROM scratch\nCOPY --parents ./l-dir/./shadow /p/\n", line=2)
    refused_build(cli, ctx, "FROM scratch\nCOPY --parents ../host/etc/shadow /p/\n", line=2)
    refused_build(cli, ctx, "FROM scratch\nCOPY --parents secret.txt /p/\n", line=2)


def test_a_deeply_nested_context_is_a_clear_error(cli: Cli, ctx: Path) -> None:
    path = ctx
    for _ in range(1100):  # deeper than Python's recursion limit
        path = path / "d"
        path.mkdir()
    (path / "f").write_text("deep\n")
    try:
        refused_build(cli, ctx, "FROM scratch\nCOPY . /x/\n", line=2)
    finally:  # bottom up: pytest's own clean-up would recurse as deep as the tree
        (path / "f").unlink()
        while path != ctx:
            path.rmdir()
            path = path.parent


# -- 3. RUN --mount=type=bind -------------------------------------------------------------


class _SeenMounts(list[dict[str, dict[str, bytes | None]]]):
    """A step runner that records what each RUN's bind mounts showed on the host side
    (path -> bytes, None for a directory), then runs the step in the real sandbox."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def run(self, lowers: Any, step: Any, outputs: Any) -> Any:
        self.append({mount.destination: _tree(mount.source) for mount in step.mounts})
        sandbox = SandboxRunner(Runtime.find(), self.store.state_dir("build"), NullReporter())
        return sandbox.run(lowers, step, outputs)


@pytest.fixture
def seen_mounts(store: Store) -> _SeenMounts:
    return _SeenMounts(store)


def _tree(root: Path) -> dict[str, bytes | None]:
    if not root.is_dir():
        return {"": root.read_bytes()}
    out: dict[str, bytes | None] = {}
    for directory, dirs, files in os.walk(root):
        rel = os.path.relpath(directory, root)
        for name in dirs:
            out[os.path.normpath(os.path.join(rel, name))] = None
        for name in files:
            path = Path(directory) / name
            out[os.path.normpath(os.path.join(rel, name))] = (
                path.read_bytes() if stat.S_ISREG(os.lstat(path).st_mode) else None
            )
    return out


@pytest.mark.unsafe_images  # the RUN base has a shell, as a builder stage does
def test_a_bind_mount_of_a_link_to_a_host_directory_shows_the_context(
    store: Store,
    ctx: Path,
    decoys: Decoys,
    seen_mounts: _SeenMounts,
) -> None:
    busybox_image(store, "shell:latest")
    os.symlink(decoys.etc, ctx / "etclink")
    _twin(ctx, decoys.etc / "inctx", b"the context's etc\n")
    built = build(
        store,
        ctx,
        "FROM shell\n"
        "RUN --mount=type=bind,source=etclink,target=/m /bin/sh -c "
        "'find /m | sort > /seen; cat /m/* >> /seen'\n",
        runner=seen_mounts,
    )
    assert seen_mounts[0]["/m"] == {"inctx": b"the context's etc\n"}
    assert built.files()["seen"][1] == b"/m\n/m/inctx\nthe context's etc\n"
    assert DECOY not in _image_bytes(built)


@pytest.mark.unsafe_images
def test_a_bind_mount_of_the_context_hides_dockerignored_files(
    store: Store,
    ctx: Path,
    decoys: Decoys,
    seen_mounts: _SeenMounts,
) -> None:
    busybox_image(store, "shell:latest")
    (ctx / "keep.txt").write_text("kept\n")
    (ctx / "deep").mkdir()
    (ctx / "deep" / "secret.key").write_bytes(DECOY)
    (ctx / "secret.txt").write_bytes(DECOY)
    (ctx / ".dockerignore").write_text("secret.txt\n**/*.key\nDockerfile\n")
    built = build(
        store,
        ctx,
        "FROM shell\n"
        "RUN --mount=type=bind,target=/c /bin/sh -c "
        "'find /c | sort > /seen; cat /c/secret.txt /c/deep/secret.key >> /seen || true'\n"
        "RUN --mount=type=bind,target=/w,rw /bin/sh -c 'find /w | sort > /seen-rw'\n",
        runner=seen_mounts,
    )
    assert set(seen_mounts[0]["/c"]) == {".dockerignore", "deep", "keep.txt"}
    assert built.files()["seen"][1] == b"/c\n/c/.dockerignore\n/c/deep\n/c/keep.txt\n"
    assert built.files()["seen-rw"][1] == b"/w\n/w/.dockerignore\n/w/deep\n/w/keep.txt\n"
    assert DECOY not in _image_bytes(built)
    assert (ctx / "secret.txt").read_bytes() == DECOY  # the context itself is untouched


# -- 4. ENV ----------------------------------------------------------------------------------


def test_doubling_an_env_value_stops_with_a_clear_error(cli: Cli, ctx: Path) -> None:
    doublings = "ENV A=$A$A\n" * 64  # 16 characters times 2^64, if nothing stopped it
    message = refused_build(cli, ctx, "FROM scratch\nENV A=0123456789abcdef\n" + doublings, line=19)
    assert "more than 1048576 characters" in message


def test_many_big_env_values_stop_at_the_stage_limit(cli: Cli, ctx: Path) -> None:
    lines = ["FROM scratch", "ENV A=0123456789abcdef"] + ["ENV A=$A$A"] * 15  # 512 KiB
    lines += [f"ENV B{i}=$A" for i in range(64)]
    message = refused_build(cli, ctx, "\n".join(lines) + "\n", line=24)
    assert "environment and labels would exceed" in message


def _profiled_calls(store: Store, context: Path, lines: int) -> int:
    """Python calls (and generator steps) a build of ``lines`` ENV lines makes."""
    body = "".join(f"ENV V{i}=value-{i} W{i}=$V{i}\n" for i in range(lines))
    (context / "Dockerfile").write_text(f'FROM scratch\n{body}CMD ["/x"]\n')
    count = 0

    def profiler(_frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profiler)
    try:
        executor_module.build_dockerfile(store, executor_module.BuildOptions(context=context))
    finally:
        sys.setprofile(None)
    return count


def test_env_lines_cost_linear_work(tmp_path: Path, ctx: Path) -> None:
    """Twice the ENV lines, twice the work (the quadratic builder did four times as much).

    Counted in calls, not timed: the count does not depend on the machine's load.
    """
    small = _profiled_calls(Store(tmp_path / "s1"), ctx, 800)
    large = _profiled_calls(Store(tmp_path / "s2"), ctx, 1600)
    assert large < 2.5 * small, (small, large)  # measured: 2.1 (the old builder: 3.8)


def test_env_errors_are_dockerfile_errors_naming_the_line(store: Store, ctx: Path) -> None:
    with pytest.raises(DockerfileError, match=r"Dockerfile:3: "):
        # continued over lines, as no line may pass BuildKit's 64 KiB
        value = "\\\n".join(["$A" * 10_000] * 7)
        build(store, ctx, "FROM scratch\nENV A=0123456789abcdef\nLABEL x=" + value + "\n")
    with pytest.raises(BuildError):
        build(store, ctx, "FROM scratch\nCOPY missing /x\n")
